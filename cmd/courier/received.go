package main

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/courierhttp/courier"
)

// maxKeptBody is how much of an intermediary response's body --all keeps
// to print.
const maxKeptBody = 64 << 10

// received records what each attempt sent and got back, as it went over
// the wire: below courier's retry and redirect loops and its auth layers,
// so it sees every hop, retry and auth challenge, and above the transport,
// so it sees the response headers as they came. courier decodes a body
// after that and drops Content-Encoding and Content-Length, as net/http
// does; the CLI prints what the server sent, as HTTPie does.
//
// It keeps the last attempt only, or every attempt with --all (the
// intermediary exchanges). It is safe for concurrent use.
type received struct {
	keepAll bool // every attempt, not only the last
	// keepBodies keeps the start of every body that may be an
	// intermediary one (any but a 2xx), for --history-print b.
	keepBodies bool

	mu        sync.Mutex
	exchanges []wireExchange
}

// wireExchange is one attempt: the request as sent, and what came back.
type wireExchange struct {
	req *http.Request
	// statusCode is 0 when the attempt got no response.
	statusCode    int
	status, proto string
	// header is the response header as received, Transfer-Encoding
	// included.
	header http.Header
	// body is the start of the body (kept only with keepBodies), and
	// truncated says there was more.
	body      []byte
	truncated bool
	// elapsed is the time from sending to the response's headers (and
	// the kept body).
	elapsed time.Duration
}

// newReceived sets the recorder up for what a prints: every attempt with
// --all, and the bodies when its intermediary bodies are printed. --repeat
// prints no exchange, and keeps none.
func newReceived(a *args) *received {
	all := a.all && a.repeat == 0
	return &received{keepAll: all, keepBodies: all && strings.Contains(a.historyParts(), "b")}
}

// historyParts is what --history-print asks to print of the intermediary
// exchanges: by default what --print asks of the final one.
func (a *args) historyParts() string {
	if a.history != "" {
		return a.history
	}
	return a.print
}

// option is the session option that installs the recorder.
func (r *received) option() courier.Option {
	return courier.WithMiddleware(r.middleware)
}

func (r *received) middleware(next http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		start := time.Now()
		resp, err := next.RoundTrip(req)
		x := wireExchange{req: req}
		if err == nil {
			x.statusCode, x.status, x.proto = resp.StatusCode, resp.Status, resp.Proto
			x.header = receivedHeader(resp)
			if r.keepBodies && (resp.StatusCode < 200 || resp.StatusCode > 299) {
				x.body, x.truncated, resp.Body = keepStart(resp.Body)
			}
		}
		x.elapsed = time.Since(start)
		r.add(x)
		return resp, err
	})
}

func (r *received) add(x wireExchange) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.keepAll {
		r.exchanges = r.exchanges[:0]
	}
	r.exchanges = append(r.exchanges, x)
}

// final is the last attempt, the one whose response the request returned,
// or nil when it got none.
func (r *received) final() *wireExchange {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.exchanges) == 0 || r.exchanges[len(r.exchanges)-1].statusCode == 0 {
		return nil
	}
	x := r.exchanges[len(r.exchanges)-1]
	return &x
}

// history is every attempt before the last one that got a response: the
// redirects followed, the auth challenges answered and the responses
// retried. It is empty without --all.
func (r *received) history() []wireExchange {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var h []wireExchange
	for i, x := range r.exchanges {
		if i < len(r.exchanges)-1 && x.statusCode != 0 {
			h = append(h, x)
		}
	}
	return h
}

// receivedHeader is resp's header as it came: net/http moves
// Transfer-Encoding out of it, into resp.TransferEncoding.
func receivedHeader(resp *http.Response) http.Header {
	h := resp.Header.Clone()
	if h == nil {
		h = http.Header{}
	}
	if len(resp.TransferEncoding) > 0 && h.Get("Transfer-Encoding") == "" {
		h.Set("Transfer-Encoding", strings.Join(resp.TransferEncoding, ", "))
	}
	return h
}

// keepStart reads up to maxKeptBody bytes of body and returns them, whether
// there was more, and a body that reads the same bytes as body would have,
// its error included.
func keepStart(body io.ReadCloser) (start []byte, truncated bool, same io.ReadCloser) {
	data, err := io.ReadAll(io.LimitReader(body, maxKeptBody+1))
	rest := []io.Reader{bytes.NewReader(data)}
	if err != nil {
		rest = append(rest, errReader{err})
	}
	same = readCloser{io.MultiReader(append(rest, body)...), body}
	if len(data) > maxKeptBody {
		return data[:maxKeptBody], true, same
	}
	return data, false, same
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

type readCloser struct {
	io.Reader
	io.Closer
}

// shownBody is the kept body of x decoded from the content codings
// courier asks for (gzip, deflate), as it would print a final response's.
// A body that does not decode is shown as it came.
func (x *wireExchange) shownBody() []byte {
	coding := strings.ToLower(strings.TrimSpace(x.header.Get("Content-Encoding")))
	var r io.Reader
	var err error
	switch coding {
	case "gzip", "x-gzip":
		r, err = gzip.NewReader(bytes.NewReader(x.body))
	case "deflate":
		if r, err = zlib.NewReader(bytes.NewReader(x.body)); err != nil {
			r, err = flate.NewReader(bytes.NewReader(x.body)), nil
		}
	default:
		return x.body
	}
	if err != nil {
		return x.body
	}
	// A truncated body decodes as far as it goes.
	decoded, err := io.ReadAll(io.LimitReader(r, maxKeptBody))
	if len(decoded) == 0 && err != nil {
		return x.body
	}
	return decoded
}
