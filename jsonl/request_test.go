package jsonl_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"runtime/metrics"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/internal/testenv"
	"github.com/courierhttp/courier/jsonl"
)

// serve returns a handler that sends body with the content type ct.
func serve(ct, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", ct)
		fmt.Fprint(w, body)
	}
}

// Get reads an NDJSON response over HTTP/1 and HTTP/2, sends the Accept
// header and the Request options, and leaves nothing in flight.
func TestGet(t *testing.T) {
	t.Parallel()
	for _, mode := range []testenv.Mode{testenv.HTTP1, testenv.HTTP2} {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			var accept, query string
			ts := testenv.NewServer(t, mode, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				accept, query = r.Header.Get("Accept"), r.URL.Query().Get("since")
				w.Header().Set("Content-Type", "application/x-ndjson")
				fmt.Fprint(w, "{\"id\":1}\n\r\n{\"id\":2}\r\n{\"id\":3}")
			}))
			s := ts.Session(t)
			got, err := collect(jsonl.Get[rec](t.Context(), s, "/export", jsonl.Request(courier.Query("since", "5"))))
			if err != nil || !slices.Equal(ids(got), []int{1, 2, 3}) {
				t.Errorf("Get = %v, %v; want [1 2 3], nil", ids(got), err)
			}
			if !strings.Contains(accept, "application/x-ndjson") || query != "5" {
				t.Errorf("server saw Accept %q and since=%q; want application/x-ndjson and 5", accept, query)
			}
			if st := s.Stats(); st.InFlight != 0 {
				t.Errorf("Stats().InFlight = %d after the stream, want 0", st.InFlight)
			}
		})
	}
}

// Do sends other methods, with a body.
func TestDoPost(t *testing.T) {
	t.Parallel()
	ts := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/jsonl")
		if r.Method != http.MethodPost {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		for i := range 3 {
			fmt.Fprintf(w, "{\"id\":%d}\n", i)
		}
	}))
	got, err := collect(jsonl.Do[rec](t.Context(), ts.Session(t), http.MethodPost, "/generate", jsonl.Request(courier.JSON(map[string]string{"q": "x"}))))
	if err != nil || !slices.Equal(ids(got), []int{0, 1, 2}) {
		t.Errorf("Do(POST) = %v, %v; want [0 1 2], nil", ids(got), err)
	}
}

// Every JSON lines type is accepted, json-seq is read as a sequence, and
// another type is ErrContentType naming it.
func TestGetContentTypes(t *testing.T) {
	t.Parallel()
	for _, ct := range []string{"application/x-ndjson", "application/jsonl; charset=utf-8", "application/x-jsonlines",
		"application/json", "application/vnd.export+json", ""} {
		ts := testenv.NewServer(t, testenv.HTTP1, serve(ct, "{\"id\":1}\n"))
		if ct == "" {
			ts = testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header()["Content-Type"] = nil // no sniffing
				fmt.Fprint(w, "{\"id\":1}\n")
			}))
		}
		got, err := collect(jsonl.Get[rec](t.Context(), ts.Session(t), "/"))
		if err != nil || !slices.Equal(ids(got), []int{1}) {
			t.Errorf("Get(Content-Type %q) = %v, %v; want [1], nil", ct, ids(got), err)
		}
	}

	ts := testenv.NewServer(t, testenv.HTTP1, serve("application/json-seq", "\x1e{\"id\":1}\n\x1e{\"id\":2}\n"))
	got, err := collect(jsonl.Get[rec](t.Context(), ts.Session(t), "/"))
	if err != nil || !slices.Equal(ids(got), []int{1, 2}) {
		t.Errorf("Get(application/json-seq) = %v, %v; want [1 2], nil", ids(got), err)
	}

	for _, ct := range []string{"text/html; charset=utf-8", "text/plain", "application/x-ndjson; =bad"} {
		s := testenv.NewServer(t, testenv.HTTP1, serve(ct, "<html>\n")).Session(t)
		got, err := collect(jsonl.Get[rec](t.Context(), s, "/"))
		if !errors.Is(err, jsonl.ErrContentType) || len(got) != 0 || !strings.Contains(err.Error(), strings.Fields(ct)[0][:9]) {
			t.Errorf("Get(Content-Type %q) = %v, %v; want ErrContentType naming it", ct, ids(got), err)
		}
		if st := s.Stats(); st.InFlight != 0 {
			t.Errorf("Stats().InFlight = %d after a wrong content type, want 0", st.InFlight)
		}
	}
}

// A non-2xx status is the session's *courier.StatusError.
func TestGetStatusError(t *testing.T) {
	t.Parallel()
	ts := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"error":"no such export"}`)
	}))
	s := ts.Session(t)
	got, err := collect(jsonl.Get[rec](t.Context(), s, "/missing"))
	var se *courier.StatusError
	if !errors.As(err, &se) || se.StatusCode != http.StatusNotFound || len(got) != 0 {
		t.Errorf("Get(404) = %v, %v; want a *courier.StatusError with 404", ids(got), err)
	}
	if st := s.Stats(); st.InFlight != 0 {
		t.Errorf("Stats().InFlight = %d, want 0", st.InFlight)
	}
}

// A bad line in a response names its line, and closes the body.
func TestGetBadLine(t *testing.T) {
	t.Parallel()
	s := testenv.NewServer(t, testenv.HTTP1, serve("application/x-ndjson", "{\"id\":1}\n{\"id\":2}\n{\"id\":3} x\n{\"id\":4}\n")).Session(t)
	got, err := collect(jsonl.Get[rec](t.Context(), s, "/"))
	var le *jsonl.LineError
	if !errors.As(err, &le) || le.Line != 3 || !slices.Equal(ids(got), []int{1, 2}) {
		t.Errorf("Get = %v, %v; want [1 2] then a *LineError at line 3", ids(got), err)
	}
	if st := s.Stats(); st.InFlight != 0 {
		t.Errorf("Stats().InFlight = %d, want 0", st.InFlight)
	}
}

// endlessHandler streams values until a write fails, then reports that
// error on done.
func endlessHandler(done chan<- error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		rc := http.NewResponseController(w)
		line := fmt.Sprintf("{\"id\":1,\"name\":%q}\n", strings.Repeat("x", 1000))
		for {
			if _, err := fmt.Fprint(w, line); err != nil {
				done <- err
				return
			}
			if err := rc.Flush(); err != nil {
				done <- err
				return
			}
		}
	}
}

// Breaking out of the loop closes the body: the server's writes fail, and
// the request is no longer in flight.
func TestGetEarlyBreak(t *testing.T) {
	t.Parallel()
	for _, mode := range []testenv.Mode{testenv.HTTP1, testenv.HTTP2} {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			done := make(chan error, 1)
			s := testenv.NewServer(t, mode, endlessHandler(done)).Session(t)
			n := 0
			for _, err := range jsonl.Get[rec](t.Context(), s, "/feed") {
				if err != nil {
					t.Fatalf("Get: %v", err)
				}
				if n++; n == 10 {
					break
				}
			}
			if st := s.Stats(); st.InFlight != 0 {
				t.Errorf("Stats().InFlight = %d after break, want 0", st.InFlight)
			}
			select {
			case err := <-done:
				if err == nil {
					t.Errorf("handler ended without a write error")
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the server kept writing 10s after the break: the body was not closed")
			}
		})
	}
}

// Canceling the context ends the sequence with the context's error and
// closes the body.
func TestGetContextCancel(t *testing.T) {
	t.Parallel()
	done := make(chan error, 1)
	s := testenv.NewServer(t, testenv.HTTP1, endlessHandler(done)).Session(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	n := 0
	var err error
	for _, e := range jsonl.Get[rec](ctx, s, "/feed") {
		if e != nil {
			err = e
			break
		}
		if n++; n == 5 {
			cancel()
		}
	}
	if !errors.Is(err, context.Canceled) || n != 5 {
		t.Errorf("Get canceled after 5 values = %d values, %v; want 5, context.Canceled", n, err)
	}
	if st := s.Stats(); st.InFlight != 0 {
		t.Errorf("Stats().InFlight = %d after cancel, want 0", st.InFlight)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the server kept writing 10s after the cancel")
	}
}

// A body that stalls mid-stream ends with the session's body idle timeout,
// an error matching courier.ErrTimeout.
func TestGetStall(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	defer close(release)
	ts := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		fmt.Fprint(w, "{\"id\":1}\n")
		http.NewResponseController(w).Flush()
		<-release
	}))
	s := ts.Session(t, courier.WithTimeouts(courier.Timeouts{BodyIdle: 200 * time.Millisecond}))
	got, err := collect(jsonl.Get[rec](t.Context(), s, "/"))
	if !errors.Is(err, courier.ErrTimeout) || !slices.Equal(ids(got), []int{1}) {
		t.Errorf("Get(stalled body) = %v, %v; want [1], an error matching courier.ErrTimeout", ids(got), err)
	}
}

// Bad options and a nil session are yielded as the only error, before any
// request.
func TestGetBadOptions(t *testing.T) {
	t.Parallel()
	ts := testenv.NewServer(t, testenv.HTTP1, serve("application/x-ndjson", "{}\n"))
	s := ts.Session(t)
	for name, seq := range map[string]func(func(rec, error) bool){
		"nil request option": jsonl.Get[rec](t.Context(), s, "/", jsonl.Request(nil)),
		"negative size":      jsonl.Get[rec](t.Context(), s, "/", jsonl.MaxLineSize(-5)),
		"nil session":        jsonl.Get[rec](t.Context(), nil, "/"),
	} {
		if got, err := collect(seq); err == nil || len(got) != 0 {
			t.Errorf("%s: Get = %v, %v; want only an error", name, got, err)
		}
	}
	if n := ts.Requests.Load(); n != 0 {
		t.Errorf("server got %d requests, want none", n)
	}
}

// 100,000 values (about 11 MB) streamed from a server grow the live heap
// by a buffer and a line, not by the stream.
//
// Not parallel: it measures the process's heap.
func TestGetHeapBounded(t *testing.T) {
	const total = 100_000
	line := fmt.Sprintf(",\"name\":%q}\n", strings.Repeat("n", 100))
	ts := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		for i := range total {
			fmt.Fprintf(w, "{\"id\":%d%s", i, line)
		}
	}))
	s := ts.Session(t)
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	heap := func() int64 {
		metrics.Read(sample)
		return int64(sample[0].Value.Uint64())
	}
	runtime.GC()
	base := heap()
	var peak int64
	n := 0
	for v, err := range jsonl.Get[rec](t.Context(), s, "/export") {
		if err != nil {
			t.Fatalf("Get after %d values: %v", n, err)
		}
		if v.ID != n {
			t.Fatalf("value %d has id %d", n, v.ID)
		}
		n++
		if n%5000 == 0 {
			runtime.GC()
			peak = max(peak, heap()-base)
		}
	}
	t.Logf("%d values (%d MB): the live heap grew by at most %d KiB", n, n*(len(line)+12)>>20, peak>>10)
	if n != total || peak > 1<<20 {
		t.Errorf("read %d values with the live heap up to %d KiB, want %d within 1 MiB", n, peak>>10, total)
	}
}
