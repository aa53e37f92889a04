package courier_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/couriertest"
	"github.com/courierhttp/courier/internal/testenv"
)

// An interceptor sees a request once, whatever its redirects and retries;
// attempt middleware sees each attempt.
func TestInterceptorSeesTheWholeRequest(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	ts := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/start" {
			http.Redirect(w, r, "/next", http.StatusFound)
			return
		}
		if hits.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	var requests, attempts, finalStatus atomic.Int32
	intercept := func(req *http.Request, next http.RoundTripper) (*http.Response, error) {
		requests.Add(1)
		resp, err := next.RoundTrip(req)
		if resp != nil {
			finalStatus.Store(int32(resp.StatusCode))
		}
		return resp, err
	}
	count := func(next http.RoundTripper) http.RoundTripper {
		return rtFunc(func(req *http.Request) (*http.Response, error) {
			attempts.Add(1)
			return next.RoundTrip(req)
		})
	}
	s := ts.Session(t, fast, courier.WithInterceptors(intercept), courier.WithMiddleware(count))
	if _, err := s.Get(t.Context(), "/start"); err != nil {
		t.Fatal(err)
	}
	if requests.Load() != 1 || attempts.Load() != 3 || finalStatus.Load() != 200 {
		t.Errorf("interceptor ran %d times (final status %d), attempt middleware %d; want 1 (200) and 3 (redirect, 503, 200)",
			requests.Load(), finalStatus.Load(), attempts.Load())
	}
}

// An interceptor may answer without sending, and may replace the response:
// Do reads the body it gets, not the one the retry loop read.
func TestInterceptorReplacesTheResponse(t *testing.T) {
	t.Parallel()
	ts := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "from the server") }))
	cached := func(req *http.Request, next http.RoundTripper) (*http.Response, error) {
		if req.URL.Path == "/cached" {
			return &http.Response{StatusCode: 200, Status: "200 OK", Header: http.Header{}, Body: http.NoBody, Request: req,
				ContentLength: -1, Proto: "HTTP/1.1"}, nil
		}
		resp, err := next.RoundTrip(req)
		if err == nil && req.URL.Path == "/replaced" {
			resp.Body.Close()
			resp.Body = readCloser("replaced")
		}
		return resp, err
	}
	s := ts.Session(t, courier.WithInterceptors(cached))
	for path, want := range map[string]string{"/cached": "", "/replaced": "replaced", "/plain": "from the server"} {
		resp, err := s.Get(t.Context(), path)
		if err != nil || string(resp.Bytes()) != want {
			t.Errorf("Get(%s) = %q, %v; want %q", path, string(resp.Bytes()), err, want)
		}
	}
	if n := ts.Requests.Load(); n != 2 {
		t.Errorf("server saw %d requests, want 2 (the cached one was answered by the interceptor)", n)
	}
}

// A user interceptor that wraps the request's context with a value and a
// deadline of its own changes nothing courier reports: every error kind,
// stat, hook call and timing is the same as without it.
func TestInterceptorContextChangesNothing(t *testing.T) {
	t.Parallel()
	type ctxKey struct{}
	wrap := func(req *http.Request, next http.RoundTripper) (*http.Response, error) {
		ctx, cancel := context.WithTimeout(context.WithValue(req.Context(), ctxKey{}, "mine"), time.Hour)
		defer cancel()
		resp, err := next.RoundTrip(req.WithContext(ctx))
		if err == nil && resp.Body != http.NoBody {
			// The body outlives this function: read it before cancel.
			resp.Body = readCloser(mustRead(t, resp))
		}
		return resp, err
	}
	plain := runScenarios(t)
	wrapped := runScenarios(t, courier.WithInterceptors(wrap))
	if !slices.Equal(plain, wrapped) {
		t.Errorf("with a context-wrapping interceptor, courier reported:\n%s\nwithout:\n%s",
			strings.Join(wrapped, "\n"), strings.Join(plain, "\n"))
	}
}

// runScenarios runs one request of each kind of outcome through a session
// with opts, and describes what courier reported: errors (kinds, stops,
// attempts), responses, hook calls, stats, and which timings were set.
func runScenarios(t *testing.T, opts ...courier.Option) []string {
	var flaky atomic.Int32
	ts := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/flaky":
			if flaky.Add(1) == 1 {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
		case "/missing":
			http.NotFound(w, r)
			return
		case "/moved":
			http.Redirect(w, r, "/ok", http.StatusFound)
			return
		case "/slow":
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
			return
		case "/always503":
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, `{"ok":true}`)
	}))
	var mu sync.Mutex
	var out []string
	note := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		out = append(out, fmt.Sprintf(format, args...))
	}
	hooks := courier.WithHooks(courier.Hooks{
		BeforeAttempt: func(i courier.AttemptInfo) { note("before %s %d", i.Request.URL.Path, i.Attempt) },
		AfterAttempt: func(i courier.AttemptInfo) {
			note("after %s %d kind=%v stop=%v status=%v", i.Request.URL.Path, i.Attempt, i.Kind, i.Stop, i.Response != nil)
		},
		OnRetry:    func(i courier.AttemptInfo) { note("retry %s %d", i.Request.URL.Path, i.Attempt) },
		OnRedirect: func(i courier.RedirectInfo) { note("redirect %s hop %d", i.To.Path, i.Hop) },
		OnError:    func(i courier.AttemptInfo) { note("error kind=%v stop=%v attempts=%d", i.Kind, i.Stop, i.Attempt) },
	})
	s := ts.Session(t, append([]courier.Option{fast, hooks,
		courier.WithRetry(courier.RetryPolicy{Backoff: couriertest.NoBackoff, Budget: courier.RetryBudget{Capacity: 10, RetryCost: 5}})}, opts...)...)
	for _, path := range []string{"/ok", "/flaky", "/missing", "/moved", "/always503", "/always503"} {
		resp, err := s.Get(t.Context(), path)
		note("%s: %s", path, describe(resp, err))
	}
	_, err := s.Get(t.Context(), "/slow", courier.Timeout(50*time.Millisecond))
	note("/slow: %s", describe(nil, err))
	dead := testenv.NewSession(t, append([]courier.Option{courier.WithBaseURL("http://" + testenv.ClosedPort(t)), fast}, opts...)...)
	_, err = dead.Get(t.Context(), "/")
	note("refused: %s", describe(nil, err))
	st := s.Stats()
	note("stats: requests=%d attempts=%d retries=%v/%v failures=%v statuses=%v budget=%v", st.Requests, st.Attempts,
		st.RetriesByStatus, st.RetriesByKind, st.Failures, st.Statuses, st.BudgetLeft[strings.TrimPrefix(ts.URL, "http://")])
	note("dead stats: failures=%v attempts=%d", dead.Stats().Failures, dead.Stats().Attempts)
	return out
}

// describe says what a request returned, without what varies between runs.
func describe(resp *courier.Response, err error) string {
	var e *courier.Error
	var se *courier.StatusError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("status %d attempts=%d stop=%v", se.StatusCode, se.Attempts, se.Stop)
	case errors.As(err, &e):
		return fmt.Sprintf("error kind=%v stop=%v attempts=%d redirects=%d", e.Kind, e.Stop, e.Attempts, len(e.Redirects))
	case err != nil:
		return fmt.Sprintf("untyped error %T", err)
	}
	tm := resp.Timings
	return fmt.Sprintf("%d %q attempts=%d redirects=%d timings: firstByte %v total %v", resp.StatusCode, string(resp.Bytes()),
		resp.Attempts, len(resp.Redirects), tm.FirstByte > 0, tm.Total >= tm.FirstByte)
}

func readCloser(s string) io.ReadCloser { return io.NopCloser(strings.NewReader(s)) }

func mustRead(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return string(b)
}
