package courier_test

// The session's lifecycle (Close, in-flight requests, streamed bodies nobody
// closed), connection reuse counted at the server, and the standard
// semantics of Client and RoundTripper.

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/internal/testenv"
)

// closeCtx is a context for Close with a deadline.
func closeCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// gate is a handler that tells when a request arrived and holds it until
// released (or until the client goes away).
type gate struct {
	arrived chan struct{}
	release chan struct{}
}

func newGate() *gate {
	return &gate{arrived: make(chan struct{}, 16), release: make(chan struct{})}
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.arrived <- struct{}{}
	select {
	case <-g.release:
	case <-r.Context().Done():
		return
	case <-time.After(10 * time.Second):
	}
	io.WriteString(w, "released")
}

func TestClosedSession(t *testing.T) {
	t.Parallel()
	ts := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	s := ts.Session(t)
	if err := s.Close(t.Context()); err != nil {
		t.Fatalf("Close = %v", err)
	}
	start := time.Now()
	resp, err := s.Get(t.Context(), "/")
	requireWithin(t, start, slack)
	requireIs(t, err, courier.ErrClosed)
	if resp != nil {
		t.Errorf("Get on a closed session returned a response")
	}
	var ce *courier.Error
	if !errors.As(err, &ce) || ce.Method != http.MethodGet {
		t.Errorf("errors.As(%v, *courier.Error) with Method GET = false", err)
	}
	_, err = s.Client().Get(ts.URL)
	requireIs(t, err, courier.ErrClosed)
	if n := ts.Requests.Load(); n != 0 {
		t.Errorf("server saw %d requests after Close, want 0", n)
	}
	// Close again: harmless.
	if err := s.Close(t.Context()); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
}

func TestCloseWaitsForInFlight(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T, m testenv.Mode) {
		g := newGate()
		ts := testenv.NewServer(t, m, g)
		s := ts.Session(t)

		type result struct {
			resp *courier.Response
			err  error
		}
		got := make(chan result, 1)
		go func() {
			resp, err := s.Get(context.Background(), "/")
			got <- result{resp, err}
		}()
		<-g.arrived

		closed := make(chan error, 1)
		go func() { closed <- s.Close(closeCtx(t, 5*time.Second)) }()
		select {
		case err := <-closed:
			t.Fatalf("Close returned %v with a request in flight, want it to wait", err)
		case <-time.After(100 * time.Millisecond):
		}
		// New requests fail at once while Close waits.
		if _, err := s.Get(t.Context(), "/"); !errors.Is(err, courier.ErrClosed) {
			t.Errorf("Get while closing = %v, want ErrClosed", err)
		}

		close(g.release)
		r := <-got
		if r.err != nil || string(r.resp.Bytes()) != "released" {
			t.Errorf("in-flight Get = %v, %v; want it to finish", r.resp, r.err)
		}
		select {
		case err := <-closed:
			if err != nil {
				t.Errorf("Close = %v once the request finished, want nil", err)
			}
		case <-time.After(slack):
			t.Fatalf("Close did not return after the in-flight request finished")
		}
	})
}

func TestCloseTimesOutWithInFlight(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T, m testenv.Mode) {
		g := newGate()
		ts := testenv.NewServer(t, m, g)
		s := ts.Session(t)
		done := make(chan error, 1)
		go func() {
			_, err := s.Get(context.Background(), "/")
			done <- err
		}()
		<-g.arrived

		const wait = 100 * time.Millisecond
		start := time.Now()
		err := s.Close(closeCtx(t, wait))
		requireWithin(t, start, wait+slack)
		var ce *courier.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("Close = %v, want a *CloseError", err)
		}
		if ce.InFlight != 1 || ce.Unclosed != 0 {
			t.Errorf("CloseError{InFlight: %d, Unclosed: %d}, want 1, 0", ce.InFlight, ce.Unclosed)
		}
		requireIs(t, err, context.DeadlineExceeded)

		// Let the request finish, so that nothing leaks.
		close(g.release)
		if err := <-done; err != nil {
			t.Errorf("the stuck request = %v once released, want nil", err)
		}
	})
}

func TestCloseReportsUnclosedStream(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T, m testenv.Mode) {
		ts := testenv.NewServer(t, m, sized(10<<10, false))
		s := ts.Session(t, courier.WithLeakTracking(true))
		resp, err := s.Get(t.Context(), "/", courier.Stream())
		if err != nil {
			t.Fatalf("Get(Stream) = %v", err)
		}
		// Never read, never closed.
		const wait = 100 * time.Millisecond
		start := time.Now()
		err = s.Close(closeCtx(t, wait))
		requireWithin(t, start, wait+slack)
		var ce *courier.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("Close = %v, want a *CloseError", err)
		}
		if ce.Unclosed != 1 || ce.InFlight != 1 {
			t.Errorf("CloseError{InFlight: %d, Unclosed: %d}, want 1, 1", ce.InFlight, ce.Unclosed)
		}
		if len(ce.Sites) != 1 || !strings.Contains(ce.Sites[0], "TestCloseReportsUnclosedStream") {
			t.Errorf("CloseError.Sites = %q, want one naming TestCloseReportsUnclosedStream", ce.Sites)
		}
		resp.Close() // now the session's cleanup Close finds nothing
	})
}

// A streamed body read to its end but never closed no longer holds a request
// in flight, so Close does not wait for it; it is still reported.
func TestCloseReportsStreamReadButNotClosed(t *testing.T) {
	t.Parallel()
	ts := testenv.NewServer(t, testenv.HTTP1, sized(100, false))
	s := ts.Session(t)
	resp, err := s.Get(t.Context(), "/", courier.Stream())
	if err != nil {
		t.Fatalf("Get(Stream) = %v", err)
	}
	if _, err := io.ReadAll(resp.Body()); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = s.Close(closeCtx(t, 5*time.Second))
	requireWithin(t, start, slack)
	var ce *courier.CloseError
	if !errors.As(err, &ce) {
		t.Fatalf("Close = %v, want a *CloseError", err)
	}
	if ce.Unclosed != 1 || ce.InFlight != 0 || ce.Err != nil || len(ce.Sites) != 0 {
		t.Errorf("CloseError = %+v, want Unclosed 1, InFlight 0, no Err, no Sites (tracking off)", ce)
	}
	resp.Close()
}

// Through Client, a response without a body releases its request at once:
// an SDK that skips Close on a 204 does not hold Close up.
func TestClientNoBodyResponseIsReleased(t *testing.T) {
	t.Parallel()
	ts := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	s, _ := courier.New(courier.WithBaseURL(ts.URL))
	resp, err := s.Client().Get(ts.URL + "/")
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("Get = %v, %v", resp, err)
	}
	// resp.Body is never closed, as many SDKs do for a 204.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Errorf("Close = %v, want nil: nothing was left to read", err)
	}
}

func TestCloseTwice(t *testing.T) {
	t.Parallel()
	ts := testenv.NewServer(t, testenv.HTTP2, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	s := ts.Session(t)
	if _, err := s.Get(t.Context(), "/"); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := s.Close(t.Context()); err != nil {
			t.Errorf("Close #%d = %v, want nil", i+1, err)
		}
	}
}

// TestCloseConcurrent races Close against requests: each request either
// completes or fails with ErrClosed, and Close returns nil.
func TestCloseConcurrent(t *testing.T) {
	t.Parallel()
	ts := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	s := ts.Session(t)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 20 {
				_, err := s.Get(context.Background(), "/")
				if err != nil && !errors.Is(err, courier.ErrClosed) {
					t.Errorf("Get during Close = %v, want nil or ErrClosed", err)
					return
				}
			}
		})
	}
	time.Sleep(5 * time.Millisecond)
	if err := s.Close(closeCtx(t, 5*time.Second)); err != nil {
		t.Errorf("Close = %v", err)
	}
	wg.Wait()
}

func TestConnectionReuseSequential(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		handler http.Handler
		get     func(*courier.Session, context.Context) error
	}{
		{"buffered, body ignored", sized(4<<10, false), func(s *courier.Session, ctx context.Context) error {
			_, err := s.Get(ctx, "/")
			return err
		}},
		{"buffered chunked", sized(4<<10, true), func(s *courier.Session, ctx context.Context) error {
			_, err := s.Get(ctx, "/")
			return err
		}},
		{"stream closed after a partial read", sized(4<<10, false), func(s *courier.Session, ctx context.Context) error {
			resp, err := s.Get(ctx, "/", courier.Stream())
			if err != nil {
				return err
			}
			io.ReadFull(resp.Body(), make([]byte, 10))
			return resp.Close()
		}},
		{"stream closed unread, chunked", sized(4<<10, true), func(s *courier.Session, ctx context.Context) error {
			resp, err := s.Get(ctx, "/", courier.Stream())
			if err != nil {
				return err
			}
			return resp.Close()
		}},
		{"status error", failing(http.StatusNotFound, "", bytes.Repeat([]byte("n"), 4<<10)), func(s *courier.Session, ctx context.Context) error {
			_, err := s.Get(ctx, "/")
			if !testenv.HasStatus(err, 404) {
				return err
			}
			return nil
		}},
		{"status error, stream", failing(http.StatusInternalServerError, "", bytes.Repeat([]byte("n"), 4<<10)), func(s *courier.Session, ctx context.Context) error {
			_, err := s.Get(ctx, "/", courier.Stream())
			if !testenv.HasStatus(err, 500) {
				return err
			}
			return nil
		}},
		{"HEAD", sized(4<<10, false), func(s *courier.Session, ctx context.Context) error {
			_, err := s.Do(ctx, http.MethodHead, "/")
			return err
		}},
		{"Client, body closed unread", sized(4<<10, false), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, testenv.HTTP1, tt.handler)
			s := ts.Session(t, courier.WithMiddleware(servedInFull(ts)))
			get := tt.get
			if get == nil {
				client := s.Client()
				get = func(_ *courier.Session, ctx context.Context) error {
					req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL, nil)
					resp, err := client.Do(req)
					if err != nil {
						return err
					}
					return resp.Body.Close()
				}
			}
			const n = 200
			for i := range n {
				if err := get(s, t.Context()); err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
			}
			if got := ts.NewConns.Load(); got != 1 {
				t.Errorf("%d sequential requests opened %d connections, want 1", n, got)
			}
			if got := ts.Requests.Load(); got != n {
				t.Errorf("server saw %d requests, want %d", got, n)
			}
		})
	}
}

// TestConnectionReuseConcurrent makes 10,000 GETs from 64 workers and counts
// the connections at the server.
//
// From a warm pool (64 connections, made by 64 requests the server holds
// until all have arrived) no connection is added: the idle pool keeps one
// per worker (Go's default of 2 idle connections per host would open
// thousands). From a cold start net/http may dial a few more than the
// concurrency: a request that started a dial takes a connection another
// request just released, and the dial's connection still joins the pool.
// That figure is logged and only loosely bounded.
func TestConnectionReuseConcurrent(t *testing.T) {
	t.Parallel()
	const (
		requests = 10_000
		workers  = 64
	)
	if testing.Short() {
		t.Skip("10,000 requests; skipped with -short")
	}
	hammer := func(t *testing.T, s *courier.Session, requests int) {
		work := make(chan struct{})
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for range work {
					if _, err := s.Get(context.Background(), "/"); err != nil {
						t.Errorf("Get = %v", err)
					}
				}
			})
		}
		for range requests {
			work <- struct{}{}
		}
		close(work)
		wg.Wait()
	}
	run(t, func(t *testing.T, m testenv.Mode) {
		t.Run("warm", func(t *testing.T) {
			var arrived sync.WaitGroup
			arrived.Add(workers)
			ts := testenv.NewServer(t, m, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("X-Warm-Up") != "" {
					arrived.Done()
					arrived.Wait() // hold each until all have their connection
				}
				w.Write(make([]byte, 64))
			}))
			s := ts.Session(t)
			var wg sync.WaitGroup
			for range workers {
				wg.Go(func() {
					if _, err := s.Get(t.Context(), "/", courier.Header("X-Warm-Up", "1")); err != nil {
						t.Errorf("warm-up Get = %v", err)
					}
				})
			}
			wg.Wait()
			warm := ts.NewConns.Load()
			hammer(t, s, requests)
			if got := ts.Requests.Load(); got != requests+workers {
				t.Errorf("server saw %d requests, want %d", got, requests+workers)
			}
			if got := ts.NewConns.Load(); got > workers || got != warm {
				t.Errorf("%d GETs at concurrency %d from a pool of %d connections: %d connections, want no new one (at most %d)",
					requests, workers, warm, got, workers)
			}
		})
		t.Run("cold", func(t *testing.T) {
			// The extra dials happen while the pool fills: a tenth of the
			// requests shows them.
			ts := testenv.NewServer(t, m, sized(64, false))
			s := ts.Session(t)
			hammer(t, s, requests/10)
			got := ts.NewConns.Load()
			t.Logf("%s: %d connections for %d GETs at concurrency %d from a cold start", m, got, requests/10, workers)
			if got > 2*workers {
				t.Errorf("%d GETs at concurrency %d opened %d connections, want about %d", requests/10, workers, got, workers)
			}
		})
	})
}

func TestClientStandardSemantics(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T, m testenv.Mode) {
		ts := testenv.NewServer(t, m, failing(http.StatusNotFound, "", []byte(`{"error":"none"}`)))
		s := ts.Session(t)
		resp, err := s.Client().Get(ts.URL + "/missing")
		if err != nil {
			t.Fatalf("Client().Get of a 404 = %v, want a response and no error", err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 404 || string(body) != `{"error":"none"}` || err != nil {
			t.Errorf("Client().Get = %d %q %v, want 404 with its body", resp.StatusCode, body, err)
		}

		// RoundTripper: the same, and the caller's request is untouched.
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, ts.URL, nil)
		req.Header.Set("X-Caller", "1")
		before := req.Header.Clone()
		resp, err = s.Client().Transport.RoundTrip(req)
		if err != nil {
			t.Fatalf("RoundTrip of a 404 = %v, want a response and no error", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Errorf("RoundTrip StatusCode = %d, want 404", resp.StatusCode)
		}
		if len(req.Header) != len(before) || req.Header.Get("X-Caller") != "1" || req.Header.Get("Accept-Encoding") != "" {
			t.Errorf("RoundTrip changed the caller's header: %v, was %v", req.Header, before)
		}
	})
}

func TestClientErrorsCarryKinds(t *testing.T) {
	t.Parallel()
	t.Run("timeout", func(t *testing.T) {
		run(t, func(t *testing.T, m testenv.Mode) {
			ts := testenv.NewServer(t, m, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { stallUntilGone(r) }))
			s := ts.Session(t, courier.WithTimeouts(courier.Timeouts{ResponseHeader: 100 * time.Millisecond}))
			start := time.Now()
			_, err := s.Client().Get(ts.URL)
			requireWithin(t, start, 100*time.Millisecond+slack)
			requireIs(t, err, courier.ErrTimeout, context.DeadlineExceeded)
			var ue *url.Error
			if !errors.As(err, &ue) || !ue.Timeout() {
				t.Errorf("errors.As(%v, *url.Error) with Timeout() = false", err)
			}
		})
	})
	t.Run("canceled", func(t *testing.T) {
		t.Parallel()
		ts := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { stallUntilGone(r) }))
		s := ts.Session(t)
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(50*time.Millisecond, cancel)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL, nil)
		_, err := s.Client().Do(req)
		requireIs(t, err, courier.ErrCanceled, context.Canceled)
	})
	t.Run("connect", func(t *testing.T) {
		t.Parallel()
		ts := testenv.NewServer(t, testenv.HTTP1, http.NotFoundHandler())
		u := ts.URL
		ts.Close()
		s := testenv.NewSession(t)
		_, err := s.Client().Get(u)
		requireIs(t, err, courier.ErrConnect)
	})
}

// The caller's header map is not changed, in any of the cases where courier
// must change the request's header.
func TestRoundTripperDoesNotMutateRequest(t *testing.T) {
	t.Parallel()
	ts := testenv.NewServer(t, testenv.HTTP1, encoded("gzip", gzipBytes(t, sample), false))
	s := ts.Session(t)
	tests := []struct {
		name   string
		header http.Header
	}{
		{"nil header", nil},
		{"empty", http.Header{}},
		{"some", http.Header{"X-A": {"1", "2"}}},
		{"Accept-Encoding removed", http.Header{"Accept-Encoding": {""}}},
		{"Accept-Encoding set", http.Header{"Accept-Encoding": {"gzip"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, ts.URL, nil)
			req.Header = tt.header
			var before http.Header
			if tt.header != nil {
				before = tt.header.Clone()
			}
			resp, err := s.Client().Transport.RoundTrip(req)
			if err != nil {
				t.Fatalf("RoundTrip = %v", err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if len(req.Header) != len(before) {
				t.Errorf("caller's header = %v after RoundTrip, want %v", req.Header, before)
			}
			for k, v := range before {
				if strings.Join(req.Header[k], ",") != strings.Join(v, ",") {
					t.Errorf("caller's header %s = %q after RoundTrip, want %q", k, req.Header[k], v)
				}
			}
		})
	}
}

// A request still in flight when Close gives up finishes later; its
// connection must not then sit in the pool until the idle timeout (net/http
// sees to that for HTTP/1, not for HTTP/2).
func TestCloseClosesConnectionOfLateRequest(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T, m testenv.Mode) {
		testCloseClosesConnectionOfLateRequest(t, m)
	})
}

func testCloseClosesConnectionOfLateRequest(t *testing.T, m testenv.Mode) {
	g := newGate()
	connClosed := make(chan struct{}, 1)
	ts := testenv.NewServer(t, m, g, func(srv *http.Server) {
		srv.ConnState = func(_ net.Conn, st http.ConnState) {
			if st == http.StateClosed {
				connClosed <- struct{}{}
			}
		}
	})
	opts := []courier.Option{courier.WithBaseURL(ts.URL)}
	if ts.TLS != nil {
		opts = append(opts, courier.WithTLSConfig(testenv.TLSConfig(ts.Server)))
	}
	s := openSessionNoCheck(t, opts...)
	done := make(chan error, 1)
	go func() {
		_, err := s.Get(context.Background(), "/")
		done <- err
	}()
	<-g.arrived
	var ce *courier.CloseError
	if err := s.Close(closeCtx(t, 50*time.Millisecond)); !errors.As(err, &ce) || ce.InFlight != 1 {
		t.Fatalf("Close = %v, want a *CloseError with InFlight 1", err)
	}
	close(g.release)
	if err := <-done; err != nil {
		t.Fatalf("the late request = %v, want nil", err)
	}
	select {
	case <-connClosed:
	case <-time.After(slack):
		t.Errorf("the late request's connection was still open %v after it finished on a closed session", slack)
	}
}

// openSessionNoCheck creates a session that the test closes itself; cleanup
// only makes sure it is closed.
func openSessionNoCheck(t *testing.T, opts ...courier.Option) *courier.Session {
	t.Helper()
	s, err := courier.New(opts...)
	if err != nil {
		t.Fatalf("courier.New: %v", err)
	}
	t.Cleanup(func() { s.Close(closeCtx(t, 5*time.Second)) })
	return s
}

// Closing a body from another goroutine to abort a Read in progress is a
// common way to stop a stream (watchers, long polls): Close must end the
// Read and return, without racing with it.
func TestStreamCloseDuringRead(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		handler http.HandlerFunc
		client  bool
	}{
		{"plain", stallBody, false},
		{"gzip", stallGzip, false},
		{"Client plain", stallBody, true},
		{"Client gzip", stallGzip, true},
	}
	run(t, func(t *testing.T, m testenv.Mode) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				ts := testenv.NewServer(t, m, tt.handler)
				s := ts.Session(t)
				var body io.ReadCloser
				if tt.client {
					resp, err := s.Client().Get(ts.URL)
					if err != nil {
						t.Fatalf("Client().Get = %v", err)
					}
					body = resp.Body
				} else {
					resp, err := s.Get(t.Context(), "/", courier.Stream())
					if err != nil {
						t.Fatalf("Get(Stream) = %v", err)
					}
					body = resp.Body()
				}
				readErr := make(chan error, 1)
				go func() {
					_, err := io.ReadAll(body)
					readErr <- err
				}()
				time.Sleep(50 * time.Millisecond) // let the Read block
				start := time.Now()
				body.Close()
				requireWithin(t, start, slack)
				select {
				case err := <-readErr:
					if err == nil {
						t.Errorf("a Read aborted by Close returned no error")
					}
				case <-time.After(slack):
					t.Fatalf("Close did not end the Read in progress")
				}
			})
		}
	})
}

// stallGzip sends the start of a gzip stream, then stalls.
func stallGzip(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Encoding", "gzip")
	gz := gzip.NewWriter(w)
	gz.Write([]byte("first chunk;"))
	gz.Flush()
	w.(http.Flusher).Flush()
	stallUntilGone(r)
}
