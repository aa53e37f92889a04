package courier

import (
	"bufio"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
)

// acceptEncoding is what courier asks for when the caller did not.
const acceptEncoding = "gzip, deflate"

// maxEncodings caps a Content-Encoding chain. Real servers send one; a longer
// chain is a decompression bomb in layers.
const maxEncodings = 3

var errTooManyEncodings = fmt.Errorf("%w: more than %d content encodings", ErrBodyTooLarge, maxEncodings)

// decodeBody replaces resp.Body with a decoding reader when every coding in
// Content-Encoding is one courier knows, and removes the header as
// net/http's transparent gzip does. An unknown coding leaves the body as it
// came, with its header.
func decodeBody(resp *http.Response) error {
	ce := resp.Header["Content-Encoding"]
	if len(ce) == 0 || resp.Body == nil || resp.Body == http.NoBody {
		return nil
	}
	var codings []string
	for _, line := range ce {
		for c := range strings.SplitSeq(line, ",") {
			c = strings.ToLower(strings.TrimSpace(c))
			if c == "" || c == "identity" {
				continue
			}
			if c != "gzip" && c != "x-gzip" && c != "deflate" {
				return nil
			}
			codings = append(codings, c)
		}
	}
	if len(codings) > maxEncodings {
		return errTooManyEncodings
	}
	if len(codings) == 0 {
		return nil
	}
	src := &sourceReader{r: resp.Body}
	var r io.Reader = src
	var closers []io.Closer
	for i := len(codings) - 1; i >= 0; i-- {
		d := &lazyDecoder{src: r, coding: codings[i]}
		closers = append(closers, d)
		r = d
	}
	resp.Body = &decodedBody{r: r, src: src, body: resp.Body, closers: closers}
	resp.Header.Del("Content-Encoding")
	resp.Header.Del("Content-Length")
	resp.ContentLength = -1
	resp.Uncompressed = true
	return nil
}

// sourceReader remembers whether an error came from the connection, so that
// a decoder's failure can be told apart from the connection's.
type sourceReader struct {
	r   io.Reader
	err error
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}

type decodedBody struct {
	r       io.Reader
	src     *sourceReader
	body    io.ReadCloser
	closers []io.Closer
	srcDone bool
}

// maxTrailing bounds what is read after the end of a compressed stream to
// reach the end of the body.
const maxTrailing = 4 << 10

func (d *decodedBody) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	if err == io.EOF && !d.srcDone {
		// The compressed stream ended, but the body may not have: a zlib
		// or raw deflate reader stops at its checksum, before the last
		// chunk of a chunked body. Read the body to its end so that the
		// connection goes back to the pool before the request's context
		// is released (which would close a connection still mid-body).
		d.srcDone = true
		io.CopyN(io.Discard, d.src, maxTrailing)
	}
	if err != nil && err != io.EOF {
		if d.src.err != nil {
			return n, d.src.err // the connection failed, not the decoder
		}
		var de *decodeError
		if !errors.As(err, &de) {
			err = &decodeError{err}
		}
	}
	return n, err
}

// Close releases the decoders and closes the body after draining a bounded
// amount of what is left of it, still compressed: cheaper than decoding it,
// and the connection can be reused.
func (d *decodedBody) Close() error {
	for _, c := range d.closers {
		c.Close()
	}
	if !d.srcDone {
		d.srcDone = true
		io.CopyN(io.Discard, d.body, maxDrain)
	}
	return d.body.Close()
}

var gzipPool sync.Pool // *gzip.Reader

// lazyDecoder starts its decompressor on the first Read, since gzip.NewReader
// reads the stream header at once and the caller may never read.
type lazyDecoder struct {
	src    io.Reader
	coding string
	r      io.Reader
	gz     *gzip.Reader
	err    error
}

func (d *lazyDecoder) Read(p []byte) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	if d.r == nil {
		if err := d.start(); err != nil {
			d.err = err
			return 0, err
		}
	}
	n, err := d.r.Read(p)
	if err != nil {
		d.err = err
	}
	return n, err
}

func (d *lazyDecoder) start() error {
	switch d.coding {
	case "gzip", "x-gzip":
		gz, _ := gzipPool.Get().(*gzip.Reader)
		var err error
		if gz == nil {
			gz, err = gzip.NewReader(d.src)
		} else {
			err = gz.Reset(d.src)
		}
		if err == io.EOF {
			// An empty body: nothing to decode (net/http's transparent
			// gzip reads it as empty too; some servers label empty
			// bodies gzip).
			if gz != nil {
				gzipPool.Put(gz)
			}
			d.r = eofReader{}
			return nil
		}
		if err != nil {
			return &decodeError{fmt.Errorf("gzip: %w", err)}
		}
		d.gz, d.r = gz, gz
	case "deflate":
		// HTTP's "deflate" is zlib (RFC 1950), but some servers send raw
		// deflate (RFC 1951); the zlib header tells them apart.
		br := bufio.NewReaderSize(d.src, 512)
		hdr, err := br.Peek(2)
		if err == io.EOF && len(hdr) == 0 {
			d.r = eofReader{} // an empty body
			return nil
		}
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return &decodeError{fmt.Errorf("deflate: %w", err)}
		}
		if hdr[0]&0x0f == 8 && (uint16(hdr[0])<<8|uint16(hdr[1]))%31 == 0 {
			zr, err := zlib.NewReader(br)
			if err != nil {
				return &decodeError{fmt.Errorf("deflate: %w", err)}
			}
			d.r = zr
		} else {
			d.r = flate.NewReader(br)
		}
	}
	return nil
}

func (d *lazyDecoder) Close() error {
	if d.gz != nil {
		gz := d.gz
		d.gz, d.r = nil, nil
		if d.err == nil {
			d.err = errors.New("read after close")
		}
		gzipPool.Put(gz)
	}
	return nil
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }
