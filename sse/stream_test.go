package sse_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/sse"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// server is a loopback event-stream server. Each request is handed to
// handle with its number, from 1; the server records what it saw.
type server struct {
	URL string

	mu       sync.Mutex
	requests int
	lastIDs  []string
	keys     []string
	bodies   []string
	times    []time.Time
	closed   chan struct{} // a request's connection closed by the client
}

func newServer(t *testing.T, handle func(n int, w http.ResponseWriter, r *http.Request)) *server {
	t.Helper()
	srv := &server{closed: make(chan struct{}, 16)}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		srv.mu.Lock()
		srv.requests++
		n := srv.requests
		srv.lastIDs = append(srv.lastIDs, r.Header.Get("Last-Event-ID"))
		srv.keys = append(srv.keys, r.Header.Get("Idempotency-Key"))
		srv.bodies = append(srv.bodies, string(body))
		srv.times = append(srv.times, time.Now())
		srv.mu.Unlock()
		if r.Header.Get("Accept") != "text/event-stream" || r.Header.Get("Cache-Control") != "no-cache" {
			http.Error(w, "bad Accept or Cache-Control", http.StatusBadRequest)
			return
		}
		handle(n, w, r)
	}))
	t.Cleanup(ts.Close)
	srv.URL = ts.URL
	return srv
}

func (s *server) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

func (s *server) seen() (lastIDs, keys, bodies []string, times []time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.lastIDs), slices.Clone(s.keys), slices.Clone(s.bodies), slices.Clone(s.times)
}

// waitClosed waits until a handler saw its connection closed by the client.
func (s *server) waitClosed(t *testing.T, r *http.Request) {
	<-r.Context().Done()
	s.closed <- struct{}{}
}

// send writes the chunks as an event stream, flushing after each.
func send(w http.ResponseWriter, chunks ...string) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	w.(http.Flusher).Flush()
	write(w, chunks...)
}

// write writes more chunks, flushing after each.
func write(w http.ResponseWriter, chunks ...string) {
	for _, c := range chunks {
		io.WriteString(w, c)
		w.(http.Flusher).Flush()
	}
}

func newSession(t *testing.T, baseURL string, opts ...courier.Option) *courier.Session {
	t.Helper()
	s, err := courier.New(append([]courier.Option{courier.WithBaseURL(baseURL)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

// collect ranges over a stream, returning its events and its error (the
// last yielded; there must be at most one).
func collect(t *testing.T, seq func(func(sse.Event, error) bool)) ([]sse.Event, error) {
	t.Helper()
	var evs []sse.Event
	var errs []error
	for ev, err := range seq {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		evs = append(evs, ev)
	}
	if len(errs) > 1 {
		t.Errorf("stream yielded %d errors, want at most 1: %v", len(errs), errs)
	}
	if len(errs) == 0 {
		return evs, nil
	}
	return evs, errs[0]
}

func data(evs []sse.Event) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Data)
	}
	return out
}

// A server that flushes in the middle of lines and between CR and LF, then
// ends the stream for good with 204 on the reconnect.
func TestStreamFlushMidLine(t *testing.T) {
	srv := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n > 1 {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		chunks := []string{"retry: 10\n", "id: 1\nev", "ent: token\nda", "ta: hel", "lo\r", "\ndata: wor", "ld\r", "\n\r", "\n", ": ping\n\n"}
		send(w)
		for _, c := range chunks {
			write(w, c)
			time.Sleep(2 * time.Millisecond) // separate reads at the client
		}
	})
	s := newSession(t, srv.URL)
	evs, err := collect(t, sse.Stream(t.Context(), s, http.MethodGet, "/events"))
	want := []sse.Event{{ID: "1", Type: "token", Data: "hello\nworld", Retry: 10 * time.Millisecond}}
	if err != nil || !slices.Equal(evs, want) {
		t.Errorf("Stream = %q, %v; want %q, nil", evs, err, want)
	}
	if lastIDs, _, _, _ := srv.seen(); !slices.Equal(lastIDs, []string{"", "1"}) {
		t.Errorf("Last-Event-ID at the server = %q, want [\"\" \"1\"]", lastIDs)
	}
}

// A connection cut in the middle of an event is reconnected with the last
// event ID, and the partial event is not delivered.
func TestStreamReconnect(t *testing.T) {
	srv := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		switch n {
		case 1:
			send(w, "retry: 10\nid: 1\ndata: a\n\nid: 2\ndata: part")
			panic(http.ErrAbortHandler) // cut the connection mid-event
		case 2:
			send(w, "id: 2\ndata: b\n\n") // then end the response
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	})
	s := newSession(t, srv.URL)
	evs, err := collect(t, sse.Stream(t.Context(), s, http.MethodGet, "/events"))
	if err != nil || !slices.Equal(data(evs), []string{"a", "b"}) {
		t.Errorf("Stream = %q, %v; want data [a b], nil", evs, err)
	}
	if lastIDs, _, _, _ := srv.seen(); !slices.Equal(lastIDs, []string{"", "1", "2"}) {
		t.Errorf("Last-Event-ID at the server = %q, want [\"\" \"1\" \"2\"]", lastIDs)
	}
}

// A server that accepts and drops at once, forever: the reconnects are
// bounded and each waits the retry delay.
func TestStreamDropsAtOnce(t *testing.T) {
	for _, tc := range []struct {
		name     string
		opts     []sse.Option
		requests int
	}{
		{"default", nil, 6},
		{"MaxReconnects(2)", []sse.Option{sse.MaxReconnects(2)}, 3},
		{"NoReconnects", []sse.Option{sse.MaxReconnects(sse.NoReconnects)}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
				send(w, "retry: 10\n\n")
			})
			s := newSession(t, srv.URL)
			evs, err := collect(t, sse.Stream(t.Context(), s, http.MethodGet, "/events", tc.opts...))
			var drop *sse.DropError
			if len(evs) != 0 || !errors.As(err, &drop) || !errors.Is(err, io.EOF) || drop.Reconnects != tc.requests-1 {
				t.Fatalf("Stream = %q, %v; want no events, a *DropError of io.EOF after %d reconnects", evs, err, tc.requests-1)
			}
			if got := srv.count(); got != tc.requests {
				t.Errorf("requests at the server = %d, want %d", got, tc.requests)
			}
			_, _, _, times := srv.seen()
			for i := 1; i < len(times); i++ {
				if gap := times[i].Sub(times[i-1]); gap < 8*time.Millisecond {
					t.Errorf("reconnect %d came %v after the request before, want at least the retry delay less 20%% (8ms)", i, gap)
				}
			}
		})
	}
}

func TestStreamNoContent(t *testing.T) {
	srv := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	s := newSession(t, srv.URL)
	evs, err := collect(t, sse.Stream(t.Context(), s, http.MethodGet, "/events"))
	if err != nil || len(evs) != 0 || srv.count() != 1 {
		t.Errorf("Stream = %q, %v after %d requests; want no events, nil, 1 request", evs, err, srv.count())
	}
}

func TestStreamStatusError(t *testing.T) {
	srv := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no such stream", http.StatusNotFound)
	})
	s := newSession(t, srv.URL)
	evs, err := collect(t, sse.Stream(t.Context(), s, http.MethodGet, "/events"))
	var se *courier.StatusError
	if len(evs) != 0 || !errors.As(err, &se) || se.StatusCode != http.StatusNotFound {
		t.Errorf("Stream = %q, %v; want a *courier.StatusError with 404", evs, err)
	}
}

func TestStreamContentType(t *testing.T) {
	srv := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, "data: {}\n\n")
	})
	s := newSession(t, srv.URL)
	evs, err := collect(t, sse.Stream(t.Context(), s, http.MethodGet, "/events"))
	if len(evs) != 0 || !errors.Is(err, sse.ErrNotEventStream) || !strings.Contains(fmt.Sprint(err), `"application/json"`) {
		t.Errorf("Stream = %q, %v; want ErrNotEventStream naming application/json", evs, err)
	}
}

// A POST without an Idempotency-Key is not sent again after a drop; with
// one it is, with the same body and key.
func TestStreamPost(t *testing.T) {
	handle := func(n int, w http.ResponseWriter, r *http.Request) {
		if n > 1 {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		send(w, "retry: 10\nid: 1\ndata: a\n\n")
	}
	body := map[string]string{"prompt": "hi"}

	t.Run("without key", func(t *testing.T) {
		srv := newServer(t, handle)
		s := newSession(t, srv.URL)
		evs, err := collect(t, sse.Stream(t.Context(), s, http.MethodPost, "/chat", sse.Request(courier.JSON(body))))
		var drop *sse.DropError
		if !slices.Equal(data(evs), []string{"a"}) || !errors.As(err, &drop) || !errors.Is(err, io.EOF) ||
			drop.Reconnects != 0 || drop.LastEventID != "1" || drop.Method != http.MethodPost {
			t.Errorf("Stream = %q, %v; want data [a], a *DropError of io.EOF, not resent, last ID 1", evs, err)
		}
		if got := srv.count(); got != 1 {
			t.Errorf("requests at the server = %d, want 1", got)
		}
	})
	t.Run("with key", func(t *testing.T) {
		srv := newServer(t, handle)
		s := newSession(t, srv.URL)
		evs, err := collect(t, sse.Stream(t.Context(), s, http.MethodPost, "/chat",
			sse.Request(courier.JSON(body), courier.Header("Idempotency-Key", "k1"))))
		if err != nil || !slices.Equal(data(evs), []string{"a"}) {
			t.Errorf("Stream = %q, %v; want data [a], nil", evs, err)
		}
		lastIDs, keys, bodies, _ := srv.seen()
		want := `{"prompt":"hi"}`
		if !slices.Equal(lastIDs, []string{"", "1"}) || !slices.Equal(keys, []string{"k1", "k1"}) ||
			len(bodies) != 2 || strings.TrimSpace(bodies[0]) != want || bodies[1] != bodies[0] {
			t.Errorf("server saw Last-Event-ID %q, keys %q, bodies %q; want [\"\" 1], [k1 k1], %s twice", lastIDs, keys, bodies, want)
		}
	})
}

// A server that goes quiet is cut by the session's Timeouts.BodyIdle, and
// the stream ends with courier.ErrTimeout once reconnecting fails too.
func TestStreamIdle(t *testing.T) {
	srv := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			send(w, "retry: 10\ndata: a\n\n")
		} else {
			send(w)
		}
		<-r.Context().Done()
	})
	s := newSession(t, srv.URL, courier.WithTimeouts(courier.Timeouts{BodyIdle: 50 * time.Millisecond}))
	evs, err := collect(t, sse.Stream(t.Context(), s, http.MethodGet, "/events", sse.MaxReconnects(1)))
	var drop *sse.DropError
	if !slices.Equal(data(evs), []string{"a"}) || !errors.Is(err, courier.ErrTimeout) || !errors.As(err, &drop) {
		t.Errorf("Stream = %q, %v; want data [a], a *DropError of courier.ErrTimeout", evs, err)
	}
	if got := srv.count(); got != 2 {
		t.Errorf("requests at the server = %d, want 2", got)
	}
}

// Canceling the context mid-stream ends the range at once and closes the
// connection.
func TestStreamCancel(t *testing.T) {
	var srv *server
	srv = newServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		send(w, "data: a\n\n")
		srv.waitClosed(t, r)
	})
	s := newSession(t, srv.URL)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var evs []sse.Event
	var errs []error
	for ev, err := range sse.Stream(ctx, s, http.MethodGet, "/events") {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		evs = append(evs, ev)
		cancel()
	}
	if !slices.Equal(data(evs), []string{"a"}) || len(errs) != 1 || !errors.Is(errs[0], context.Canceled) {
		t.Errorf("Stream = %q, %v; want data [a], one error of context.Canceled", evs, errs)
	}
	waitClosed(t, srv)
	if got := srv.count(); got != 1 {
		t.Errorf("requests at the server = %d, want 1", got)
	}
}

// Breaking out of the loop closes the connection, and nothing more is sent.
func TestStreamBreak(t *testing.T) {
	var srv *server
	srv = newServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		send(w, "data: a\n\ndata: b\n\n")
		srv.waitClosed(t, r)
	})
	s := newSession(t, srv.URL)
	var evs []sse.Event
	for ev, err := range sse.Stream(t.Context(), s, http.MethodGet, "/events") {
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
		break
	}
	if !slices.Equal(data(evs), []string{"a"}) {
		t.Errorf("Stream = %q; want data [a]", evs)
	}
	waitClosed(t, srv)
	if got := srv.count(); got != 1 {
		t.Errorf("requests at the server = %d, want 1", got)
	}
}

func waitClosed(t *testing.T, srv *server) {
	t.Helper()
	select {
	case <-srv.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the server did not see its connection closed within 5s")
	}
}

// A 2 MiB event is over the default limit, and fine under a larger one.
func TestStreamLargeEvent(t *testing.T) {
	big := strings.Repeat("x", 2<<20)
	handle := func(n int, w http.ResponseWriter, r *http.Request) {
		if n > 1 {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		send(w, "retry: 10\ndata: ", big[:1<<20], big[1<<20:], "\n\n")
	}
	t.Run("default limit", func(t *testing.T) {
		srv := newServer(t, handle)
		s := newSession(t, srv.URL)
		evs, err := collect(t, sse.Stream(t.Context(), s, http.MethodGet, "/events"))
		if len(evs) != 0 || !errors.Is(err, sse.ErrEventTooLarge) || srv.count() != 1 {
			t.Errorf("Stream = %d events, %v after %d requests; want none, ErrEventTooLarge, 1 request", len(evs), err, srv.count())
		}
	})
	t.Run("MaxEventSize(4<<20)", func(t *testing.T) {
		srv := newServer(t, handle)
		s := newSession(t, srv.URL)
		evs, err := collect(t, sse.Stream(t.Context(), s, http.MethodGet, "/events", sse.MaxEventSize(4<<20)))
		if err != nil || len(evs) != 1 || evs[0].Data != big {
			t.Errorf("Stream = %d events, %v; want one of 2 MiB, nil", len(evs), err)
		}
	})
}

// LastEventID resumes: the first request already sends it.
func TestStreamLastEventID(t *testing.T) {
	srv := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	s := newSession(t, srv.URL)
	if _, err := collect(t, sse.Stream(t.Context(), s, http.MethodGet, "/events", sse.LastEventID("41"))); err != nil {
		t.Fatal(err)
	}
	if lastIDs, _, _, _ := srv.seen(); !slices.Equal(lastIDs, []string{"41"}) {
		t.Errorf("Last-Event-ID at the server = %q, want [41]", lastIDs)
	}
}

// A bad option is yielded as the only error, and nothing is sent.
func TestStreamBadOptions(t *testing.T) {
	srv := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) {})
	s := newSession(t, srv.URL)
	for _, tc := range []struct {
		name string
		s    *courier.Session
		opts []sse.Option
	}{
		{"MaxEventSize(-1)", s, []sse.Option{sse.MaxEventSize(-1)}},
		{"MaxReconnects(-2)", s, []sse.Option{sse.MaxReconnects(-2)}},
		{"Request(nil)", s, []sse.Option{sse.Request(nil)}},
		{"LastEventID with LF", s, []sse.Option{sse.LastEventID("a\nb")}},
		{"nil option", s, []sse.Option{nil}},
		{"nil session", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := collect(t, sse.Stream(t.Context(), tc.s, http.MethodGet, "/events", tc.opts...))
			if err == nil || len(evs) != 0 {
				t.Errorf("Stream = %q, %v; want an error", evs, err)
			}
		})
	}
	if got := srv.count(); got != 0 {
		t.Errorf("requests at the server = %d, want 0", got)
	}
}

// A key the session makes up (courier.WithIdempotencyKeys) makes a POST
// resendable, and a reconnect sends the same key again, not a new one.
func TestStreamPostSessionKey(t *testing.T) {
	srv := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n > 1 {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		send(w, "retry: 10\nid: 1\ndata: a\n\n")
	})
	s := newSession(t, srv.URL, courier.WithIdempotencyKeys(true))
	evs, err := collect(t, sse.Stream(t.Context(), s, http.MethodPost, "/chat", sse.Request(courier.JSON("hi"))))
	if err != nil || !slices.Equal(data(evs), []string{"a"}) {
		t.Errorf("Stream = %q, %v; want data [a], nil", evs, err)
	}
	if _, keys, _, _ := srv.seen(); len(keys) != 2 || keys[0] == "" || keys[1] != keys[0] {
		t.Errorf("Idempotency-Key at the server = %q, want the same key twice", keys)
	}
}
