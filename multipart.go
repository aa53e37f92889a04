package courier

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
)

// Part is one part of a multipart/form-data body: a form field ([Field])
// or a file ([File], [FileFrom]). Give parts to [Multipart].
type Part struct {
	name, filename, contentType string
	value                       string
	path                        string    // File: opened when the body is sent
	reader                      io.Reader // FileFrom: read once
	err                         error     // a bad part, reported by Multipart
}

// Field is a form field of a multipart body.
func Field(name, value string) Part { return Part{name: name, value: value} }

// File is a file part read from path as the body is sent, never held in
// memory whole; its filename is path's base name and its Content-Type is
// guessed from the extension (application/octet-stream otherwise). The
// file is opened anew for each attempt, so the request can be retried and
// redirected. Its size is taken when the request is built: a file that
// changes size before it is sent fails the request.
func File(name, path string) Part {
	return Part{name: name, filename: filepath.Base(path), path: path}
}

// FileFrom is a file part read from r as the body is sent, with the given
// filename. A request with such a part can be sent once: it cannot be
// retried or follow a 307 or 308 redirect ([ErrBodyNotReplayable]).
func FileFrom(name, filename string, r io.Reader) Part {
	p := Part{name: name, filename: filename, reader: r}
	if r == nil {
		p.err = fmt.Errorf("file part %q: nil reader", name)
	}
	return p
}

// Type returns the part with its Content-Type set to contentType.
func (p Part) Type(contentType string) Part {
	p.contentType = contentType
	return p
}

// Multipart sends a multipart/form-data body of parts, in order, with its
// Content-Type and boundary. The body is built as it is sent: a file's bytes
// go from the file to the connection, never all in memory. Content-Length is
// sent when every part's size is known (fields, files), so that progress
// ([UploadProgress]) has a total. The body can be sent again (a retry, a
// 307 or 308 redirect) unless a part comes from [FileFrom].
func Multipart(parts ...Part) RequestOption {
	return requestOption(func(r *requestConfig) error {
		m, err := newMultipartBody(parts)
		if err != nil {
			return err
		}
		return r.setBody(bodySpec{contentType: m.contentType, open: m.open, length: m.length, once: !m.replayable})
	})
}

// quoteEscaper escapes a quoted parameter of Content-Disposition.
var quoteEscaper = strings.NewReplacer("\\", "\\\\", `"`, "\\\"", "\r", "%0D", "\n", "%0A")

// multipartBody is a multipart body, ready to be sent any number of times.
type multipartBody struct {
	contentType string
	// segments alternate fixed bytes (boundaries and part headers) and
	// contents; the last is the closing boundary.
	segments   []segment
	length     int64 // -1: unknown
	replayable bool
	opened     bool // a one-shot body was handed out
}

// segment is a run of the body: bytes, a file to open, or a reader.
type segment struct {
	data   []byte
	path   string
	size   int64 // of the file at path
	reader io.Reader
}

func newMultipartBody(parts []Part) (*multipartBody, error) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	m := &multipartBody{contentType: w.FormDataContentType(), length: 0, replayable: true}
	for _, p := range parts {
		if err := m.add(w, &buf, p); err != nil {
			return nil, err
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	m.segments = append(m.segments, segment{data: bytes.Clone(buf.Bytes())})
	if m.length >= 0 {
		m.length += int64(buf.Len())
	}
	return m, nil
}

// add appends p's header and content.
func (m *multipartBody) add(w *multipart.Writer, buf *bytes.Buffer, p Part) error {
	if p.err != nil {
		return p.err
	}
	if p.name == "" {
		return errors.New("multipart part with no name")
	}
	h := textproto.MIMEHeader{}
	// As browsers and mime/multipart's CreateFormFile write it: name
	// first, both quoted.
	disposition := `form-data; name="` + quoteEscaper.Replace(p.name) + `"`
	var content segment
	switch {
	case p.path != "":
		fi, err := os.Stat(p.path)
		if err != nil {
			return fmt.Errorf("file part %q: %w", p.name, err)
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("file part %q: %s is not a regular file", p.name, p.path)
		}
		content = segment{path: p.path, size: fi.Size()}
	case p.reader != nil:
		content = segment{reader: p.reader}
		m.replayable = false
	default:
		content = segment{data: []byte(p.value)}
	}
	if p.path != "" || p.reader != nil {
		disposition += `; filename="` + quoteEscaper.Replace(p.filename) + `"`
		ct := p.contentType
		if ct == "" {
			if ct = mime.TypeByExtension(filepath.Ext(p.filename)); ct == "" {
				ct = "application/octet-stream"
			}
		}
		h.Set("Content-Type", ct)
	} else if p.contentType != "" {
		h.Set("Content-Type", p.contentType)
	}
	h.Set("Content-Disposition", disposition)
	if _, err := w.CreatePart(h); err != nil {
		return err
	}
	m.segments = append(m.segments, segment{data: bytes.Clone(buf.Bytes())}, content)
	switch {
	case m.length < 0:
	case content.reader != nil:
		m.length = -1
	default:
		m.length += int64(buf.Len()) + content.size + int64(len(content.data))
	}
	buf.Reset()
	return nil
}

// open returns a new reader of the body; a one-shot body only once.
func (m *multipartBody) open() (io.ReadCloser, error) {
	if !m.replayable {
		if m.opened {
			return nil, ErrBodyNotReplayable
		}
		m.opened = true
	}
	return &multipartReader{segments: m.segments}, nil
}

// multipartReader reads the segments in turn, opening each file when it
// comes to it and closing it at its end.
type multipartReader struct {
	segments []segment
	cur      io.Reader
	file     *os.File
	left     int64 // of the open file, for its size check
	path     string
}

func (r *multipartReader) Read(p []byte) (int, error) {
	for {
		if r.cur == nil {
			if len(r.segments) == 0 {
				return 0, io.EOF
			}
			if err := r.next(); err != nil {
				return 0, err
			}
		}
		n, err := r.cur.Read(p)
		if r.file != nil {
			r.left -= int64(n)
		}
		if err == io.EOF {
			if cerr := r.endSegment(); cerr != nil {
				return n, cerr
			}
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

// next starts the next segment.
func (r *multipartReader) next() error {
	s := r.segments[0]
	r.segments = r.segments[1:]
	switch {
	case s.path != "":
		f, err := os.Open(s.path)
		if err != nil {
			return fmt.Errorf("multipart: %w", err)
		}
		r.file, r.left, r.path = f, s.size, s.path
		// One byte more than the size shows a file that grew.
		r.cur = io.LimitReader(f, s.size+1)
	case s.reader != nil:
		r.cur = s.reader
	default:
		r.cur = bytes.NewReader(s.data)
	}
	return nil
}

// endSegment closes a file segment, checking it had the size it had when
// the request was built.
func (r *multipartReader) endSegment() error {
	r.cur = nil
	if r.file == nil {
		return nil
	}
	f, left, path := r.file, r.left, r.path
	r.file = nil
	f.Close()
	if left != 0 {
		return fmt.Errorf("multipart: %s changed size while the request was being built and sent", path)
	}
	return nil
}

// Close closes the file being read, if any.
func (r *multipartReader) Close() error {
	if r.file != nil {
		r.file.Close()
		r.file = nil
	}
	r.segments, r.cur = nil, strings.NewReader("")
	return nil
}

// UploadProgress calls fn as the request body goes out: sent is the bytes
// of this attempt read so far (it starts again from 0 when the body is sent
// again, on a retry or a redirect), total the body's length or -1 when it
// is not known. Calls come at most every 64 KiB, and once more at the end
// of the body, from the goroutine that sends it; fn must not block.
func UploadProgress(fn func(sent, total int64)) RequestOption {
	return requestOption(func(r *requestConfig) error {
		if fn == nil {
			return errors.New("UploadProgress: nil function")
		}
		r.progress = fn
		return nil
	})
}

// progressEvery is how many bytes go out between two progress calls.
const progressEvery = 64 << 10

// watchUpload makes req's body, and each replay of it, report progress.
func watchUpload(req *http.Request, fn func(sent, total int64)) {
	if req.Body == nil || req.Body == http.NoBody {
		return
	}
	total := req.ContentLength
	if total == 0 {
		total = -1
	}
	req.Body = &progressBody{ReadCloser: req.Body, fn: fn, total: total}
	if get := req.GetBody; get != nil {
		req.GetBody = func() (io.ReadCloser, error) {
			body, err := get()
			if err != nil || body == http.NoBody {
				return body, err
			}
			return &progressBody{ReadCloser: body, fn: fn, total: total}, nil
		}
	}
}

// progressBody counts what is read of a request body.
type progressBody struct {
	io.ReadCloser
	fn             func(sent, total int64)
	total          int64
	sent, reported int64
	done           bool
}

func (b *progressBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.sent += int64(n)
	switch {
	case err == io.EOF && !b.done:
		b.done = true
		b.fn(b.sent, b.total)
	case b.sent-b.reported >= progressEvery:
		b.reported = b.sent
		b.fn(b.sent, b.total)
	}
	return n, err
}
