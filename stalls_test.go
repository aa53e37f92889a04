package courier_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/internal/testenv"
)

// trickleChunks sends the headers at once, then n chunks of 20 bytes, one every
// gap: a body that is slow but never stalls.
func trickleChunks(n int, gap time.Duration) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		for range n {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(gap):
			}
			io.WriteString(w, strings.Repeat("x", 20))
			w.(http.Flusher).Flush()
		}
	}
}

// An attempt timeout bounds an attempt up to its response headers: a body
// that takes longer than it, but keeps coming, is read in full, once,
// buffered or streamed.
func TestAttemptTimeoutBoundsOnlyTheHeaders(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T, m testenv.Mode) {
		ts := testenv.NewServer(t, m, trickleChunks(12, 100*time.Millisecond))
		s := ts.Session(t, courier.WithRetry(courier.RetryPolicy{AttemptTimeout: 300 * time.Millisecond}))
		resp, err := s.Get(t.Context(), "/buffered")
		if err != nil || len(resp.Bytes()) != 240 {
			t.Fatalf("buffered Get = %d bytes, %v; want 240 bytes", len(resp.Bytes()), err)
		}
		resp, err = s.Get(t.Context(), "/streamed", courier.Stream())
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(resp.Body())
		resp.Close()
		if err != nil || len(data) != 240 {
			t.Errorf("streamed body = %d bytes, %v; want 240 bytes", len(data), err)
		}
		if n := ts.Requests.Load(); n != 2 {
			t.Errorf("server saw %d requests, want 2: no body fetched twice", n)
		}
	})
}

// stallSmallBody answers with status code and a Content-Length of 100,
// sends 10 bytes of it, and stalls until the client goes away.
func stallSmallBody(w http.ResponseWriter, r *http.Request, code int) {
	w.Header().Set("Content-Length", "100")
	w.WriteHeader(code)
	io.WriteString(w, "0123456789")
	w.(http.Flusher).Flush()
	stallUntilGone(r)
}

// A response courier throws away (a retried 503, a redirect, a hedged copy
// that lost) is drained only for a moment: a server that stalls in its small
// body does not hold up the next attempt, hop or winner until the request
// times out.
func TestStalledDiscardedBodyHoldsNothingUp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts []courier.Option
		path string
	}{
		{"retry after a 503", []courier.Option{fast}, "/flaky"},
		{"redirect", nil, "/moved"},
		{"hedged copy", []courier.Option{courier.WithRetry(courier.RetryPolicy{MaxAttempts: 1, HedgeAfter: 50 * time.Millisecond})}, "/hedged"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			run(t, func(t *testing.T, m testenv.Mode) {
				var calls atomic.Int32
				ts := testenv.NewServer(t, m, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					switch {
					case r.URL.Path == "/ok":
						fmt.Fprint(w, "ok")
					case r.URL.Path == "/moved":
						w.Header().Set("Location", "/ok")
						stallSmallBody(w, r, http.StatusFound)
					case r.URL.Path == "/hedged" && calls.Add(1) == 1:
						// The first copy is slow but good; the hedge
						// loses with a 503 whose body stalls.
						time.Sleep(200 * time.Millisecond)
						fmt.Fprint(w, "ok")
					case r.URL.Path == "/hedged":
						stallSmallBody(w, r, http.StatusServiceUnavailable)
					case calls.Add(1) == 1:
						stallSmallBody(w, r, http.StatusServiceUnavailable)
					default:
						fmt.Fprint(w, "ok")
					}
				}))
				s := ts.Session(t, append(tt.opts, courier.WithTimeout(2*time.Second))...)
				resp, err := s.Get(t.Context(), tt.path)
				if err != nil || string(resp.Bytes()) != "ok" {
					t.Errorf("Get(%s) = %v; want ok from the next attempt or hop, not a timeout", tt.path, err)
				}
			})
		})
	}
}

// When courier decodes a streamed body itself (Stream with Into), the
// request timeout still bounds it: a server that trickles a byte now and
// then cannot keep the call alive past it.
func TestStreamIntoHonoursTheRequestTimeout(t *testing.T) {
	t.Parallel()
	ts := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, "[")
		for {
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
			io.WriteString(w, " ")
		}
	}))
	s := ts.Session(t)
	var v []int
	start := time.Now()
	_, err := s.Get(t.Context(), "/", courier.Stream(), courier.Into(&v), courier.Timeout(300*time.Millisecond))
	requireIs(t, err, courier.ErrTimeout)
	requireWithin(t, start, 300*time.Millisecond+slack)
}
