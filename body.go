package courier

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/courierhttp/courier/internal/redact"
)

// Response bodies: read in full within a cap, streamed under the idle
// timeout, drained so that connections go back to the pool.

// readAll reads a response's body in full for the call: decoded when
// courier decodes, within the session's size limit, and closed. An error
// means the body could not be had: the caller has seen nothing of it.
func (c *call) readAll(resp *http.Response) (pieces, error) {
	if c.decode {
		if err := decodeBody(resp); err != nil {
			c.drainClose(resp.Body)
			return nil, err
		}
	}
	return readBody(resp, c.s.cfg.maxBodySize, true, c.drainClose)
}

// pieces is a body read in full: one piece when its length was known, or
// when it was short; several when it grew as it came. Reading in pieces
// keeps memory at the body's size: a buffer that doubles as it grows holds
// one and a half times the body at its last step, and a gzip bomb gets
// there every time.
type pieces [][]byte

// size returns the body's length.
func (p pieces) size() int {
	n := 0
	for _, b := range p {
		n += len(b)
	}
	return n
}

// join returns the body as one slice, copying only when it is in several
// pieces.
func (p pieces) join() []byte {
	switch len(p) {
	case 0:
		return nil
	case 1:
		return p[0]
	}
	out := make([]byte, 0, p.size())
	for _, b := range p {
		out = append(out, b...)
	}
	return out
}

// bufferedBody is a body read in full by the retry loop, handed up to Do.
type bufferedBody struct {
	data pieces
	i    int // the piece being read
	off  int // in it
}

func (b *bufferedBody) Read(p []byte) (int, error) {
	for b.i < len(b.data) && b.off >= len(b.data[b.i]) {
		b.i, b.off = b.i+1, 0
	}
	if b.i >= len(b.data) {
		return 0, io.EOF
	}
	n := copy(p, b.data[b.i][b.off:])
	b.off += n
	return n, nil
}

func (b *bufferedBody) Close() error { return nil }

// readBody reads the body up to limit and closes it. When failOver is false
// (an error body), a longer body is cut at the limit without an error. A
// body not read to its end is closed with drain.
func readBody(resp *http.Response, limit int64, failOver bool, drain func(io.ReadCloser) error) (pieces, error) {
	if resp.ContentLength == 0 || resp.Body == nil || resp.Body == http.NoBody {
		drainClose(resp.Body)
		return nil, nil
	}
	eof := false
	defer func() {
		if eof {
			resp.Body.Close()
		} else {
			drain(resp.Body)
		}
	}()
	if failOver && resp.ContentLength > limit {
		return nil, fmt.Errorf("%w: Content-Length %d exceeds the limit of %d bytes", ErrBodyTooLarge, resp.ContentLength, limit)
	}
	body, err := readCapped(resp.Body, resp.ContentLength, limit)
	if err == errOverLimit {
		if failOver {
			return nil, fmt.Errorf("%w: body exceeds the limit of %d bytes", ErrBodyTooLarge, limit)
		}
		return pieces{body.join()[:limit]}, nil
	}
	eof = err == nil
	return body, err
}

// errOverLimit says readCapped read past its limit.
var errOverLimit = errors.New("over the limit")

// maxPiece is the size pieces grow to, doubling from 512 bytes.
const maxPiece = 1 << 20

// readCapped reads r to its end, or to one byte past limit (errOverLimit).
// A length that is known (not -1) and within the limit is read into one
// piece of that size; otherwise pieces grow from 512 bytes, doubling up to
// maxPiece, so that the memory held is the body's size plus at most one
// piece.
func readCapped(r io.Reader, length, limit int64) (pieces, error) {
	// Reading stops at limit+1 bytes: one more than allowed tells "too
	// large" from "exactly the limit".
	stop := limit + 1
	if stop <= 0 {
		stop = math.MaxInt64
	}
	next := int64(512)
	if length > 0 && length <= limit {
		next = length + 1 // +1: room to see EOF
	}
	var body pieces
	var total int64
	for {
		buf := make([]byte, min(next, stop-total))
		n, err := fill(r, buf)
		total += int64(n)
		if n > 0 {
			body = append(body, buf[:n])
		}
		switch {
		case total >= stop:
			return body, errOverLimit
		case err == io.EOF:
			return body, nil
		case err != nil:
			return nil, err
		}
		next = min(2*next, maxPiece)
	}
}

// fill reads into buf until it is full or r fails; io.EOF means r ended
// (unlike io.ReadFull, it tells a body that ends from one cut short).
func fill(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		k, err := r.Read(buf[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// trackedBody is a streamed body: it restarts the idle timer on each read
// and finishes the call on EOF or Close.
type trackedBody struct {
	rc     io.ReadCloser
	c      *call
	req    *http.Request // for errors: method and URL
	status int
	// counted: the call's outcome is in the session's stats, its status
	// once the body ended well, or its failure when a read failed.
	counted atomic.Bool
	// mu is held by Read, so that Close, which drains and closes rc,
	// never does so under a Read in progress (decoders are not safe for
	// that).
	mu     sync.Mutex
	closed atomic.Bool
}

// errBodyClosed is returned by a Read after Close, or by one that Close
// ended, as net/http does.
var errBodyClosed = errors.New("courier: read on closed response body")

func (s *Session) track(c *call, req *http.Request, resp *http.Response) io.ReadCloser {
	b := &trackedBody{rc: resp.Body, c: c, req: req, status: resp.StatusCode}
	s.open.Add(1)
	if s.cfg.leakTracking {
		s.sites.Store(b, callerSite())
	}
	return b
}

func (b *trackedBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed.Load() {
		return 0, errBodyClosed
	}
	n, err := b.rc.Read(p)
	if err != nil && err != io.EOF && b.closed.Load() {
		return n, errBodyClosed // Close ended this Read
	}
	switch {
	case err == nil:
		b.c.progress()
	case err == io.EOF:
		// Like net/http, a body read to its end releases its request; it
		// still counts as unclosed until Close.
		b.count(0)
		b.c.finish()
	default:
		err = b.readError(err)
	}
	return n, err
}

// count puts the call's outcome in the session's stats, once: the failure
// of a read, or else the status.
func (b *trackedBody) count(failed Kind) {
	if !b.counted.CompareAndSwap(false, true) {
		return
	}
	if failed != 0 {
		b.c.s.stats.failure(failed)
		return
	}
	b.c.s.stats.status(b.status)
}

// readError gives a failed read of the body its kind and says what was
// being read.
func (b *trackedBody) readError(err error) error {
	err = b.c.wrapErr(err)
	kind := classify(err, b.c.failure(), true)
	if !b.closed.Load() {
		b.count(kind)
	}
	if errors.Is(err, kind) {
		return err // already of its kind
	}
	return &Error{Op: "read", Method: b.req.Method, URL: redact.URL(b.req.URL),
		Attempts: max(b.c.out.attempts, 1), Redirects: b.c.out.redirects, Kind: kind, Err: err}
}

// Close closes the body after draining a bounded amount of what is left, so
// that the connection can be reused. Closing a body from another goroutine
// to end a Read in progress works, as with net/http.
func (b *trackedBody) Close() error {
	if !b.closed.CompareAndSwap(false, true) {
		return nil
	}
	if !b.mu.TryLock() {
		// A Read is in progress. End the call's context, which ends the
		// Read (and gives up the connection), then close once it has
		// returned.
		b.c.cancel(errCallDone)
		b.mu.Lock()
	}
	defer b.mu.Unlock()
	err := b.c.drainClose(b.rc)
	b.count(0) // the caller was done with it
	b.c.s.open.Add(-1)
	if b.c.s.cfg.leakTracking {
		b.c.s.sites.Delete(b)
	}
	b.c.finish()
	return err
}

// maxDrain bounds what is read from an unwanted body so its connection can
// be reused; beyond it, closing the connection is cheaper.
const maxDrain = 256 << 10

// maxDrainWait bounds how long draining waits for the rest of a body to
// arrive. A server that stalls would otherwise hold the caller (closing a
// streamed body, or a request whose body passed its cap) until a timeout;
// past it, closing the connection is cheaper.
const maxDrainWait = 100 * time.Millisecond

// drainClose drains and closes a body of this call within maxDrainWait:
// then the call's context ends, as if it had finished, which aborts the
// read and closes the connection.
func (c *call) drainClose(rc io.ReadCloser) error {
	if c.finished.Load() || rc == nil || rc == http.NoBody {
		return drainClose(rc)
	}
	t := time.AfterFunc(maxDrainWait, func() { c.cancel(errCallDone) })
	defer t.Stop()
	return drainClose(rc)
}

// maxDiscard is what is read of a response the caller never sees (a
// redirect, a retried failure) so that its connection can be reused, and
// maxDiscardWait how long the next hop or attempt waits for that.
const (
	maxDiscard     = 2 << 10
	maxDiscardWait = 20 * time.Millisecond
)

// discardResponse reads a small body of known length to its end, so that an
// HTTP/1 connection goes back to the pool, and closes it. Any other body is
// closed unread. A stalled server must not hold up the next hop or attempt:
// the small body is read on a goroutine of its own, waited for at most
// maxDiscardWait; past that the caller moves on, and the goroutine ends
// when the body does or when the request's context is released. (net/http's
// redirect loop also reads 2 KiB, but of bodies of unknown length too, and
// waits for them.)
func discardResponse(resp *http.Response) {
	if resp.ContentLength < 0 || resp.ContentLength > maxDiscard {
		resp.Body.Close()
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		io.CopyN(io.Discard, resp.Body, maxDiscard)
		resp.Body.Close()
	}()
	t := time.NewTimer(maxDiscardWait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}

func drainClose(rc io.ReadCloser) error {
	if rc == nil {
		return nil
	}
	if d, ok := rc.(*decodedBody); ok {
		// Its Close drains the compressed bytes: cheaper than decoding
		// what nobody will read.
		return d.Close()
	}
	io.CopyN(io.Discard, rc, maxDrain)
	return rc.Close()
}

func closeRequestBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}
