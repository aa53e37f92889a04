package courier_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/internal/testenv"
)

// sharedBreakers is a BreakerStore in memory, shared by the sessions of a
// test as a fleet's processes share one in Redis: it opens an upstream's
// breaker after the policy's ConsecutiveFailures, and stays open (the test
// never waits OpenFor).
type sharedBreakers struct {
	mu          sync.Mutex
	consecutive map[string]int
	open        map[string]bool
	policies    []courier.BreakerPolicy
	upstreams   []string
	allowErr    error
	recordErr   error
}

func newSharedBreakers() *sharedBreakers {
	return &sharedBreakers{consecutive: map[string]int{}, open: map[string]bool{}}
}

func (m *sharedBreakers) Allow(_ context.Context, upstream string, p courier.BreakerPolicy) (ok, probe bool, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.policies = append(m.policies, p)
	m.upstreams = append(m.upstreams, upstream)
	if m.allowErr != nil {
		return false, false, m.allowErr
	}
	return !m.open[upstream], false, nil
}

func (m *sharedBreakers) Record(_ context.Context, upstream string, p courier.BreakerPolicy, failed, probe bool) (courier.BreakerState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.recordErr != nil {
		return 0, m.recordErr
	}
	if !failed {
		m.consecutive[upstream] = 0
	} else if m.consecutive[upstream]++; m.consecutive[upstream] >= p.ConsecutiveFailures {
		m.open[upstream] = true
	}
	if m.open[upstream] {
		return courier.BreakerOpen, nil
	}
	return courier.BreakerClosed, nil
}

// A breaker in a BreakerStore is shared: failures that one session sees
// open it for another, whose requests then fail at once, unsent. The
// store gets the upstream and the policy with its defaults.
func TestBreakerStoreShared(t *testing.T) {
	t.Parallel()
	var served atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
	}))
	t.Cleanup(srv.Close)
	store := newSharedBreakers()
	policy := courier.WithBreaker(courier.BreakerPolicy{ConsecutiveFailures: 2, Store: store})
	noRetry := courier.WithRetry(courier.RetryPolicy{MaxAttempts: 1})
	a := testenv.NewSession(t, policy, noRetry)
	b := testenv.NewSession(t, policy, noRetry)

	for range 2 {
		if _, err := a.Get(t.Context(), srv.URL); !testenv.HasStatus(err, 500) {
			t.Fatalf("Get = %v, want the 500", err)
		}
	}
	if st := a.Stats().Breakers[strings.TrimPrefix(srv.URL, "http://")]; st != courier.BreakerOpen {
		t.Errorf("session a's Stats says the breaker is %v, want open", st)
	}
	_, err := b.Get(t.Context(), srv.URL)
	if !errors.Is(err, courier.ErrCircuitOpen) {
		t.Fatalf("the other session's Get = %v, want ErrCircuitOpen", err)
	}
	if n := served.Load(); n != 2 {
		t.Errorf("the server got %d requests, want 2: the open breaker sends nothing", n)
	}
	store.mu.Lock()
	defer store.mu.Unlock()
	for i, p := range store.policies {
		if p.ConsecutiveFailures != 2 || p.OpenFor != 30*time.Second || p.Probes != 1 {
			t.Errorf("Allow %d got the policy %+v, want the session's with its defaults", i, p)
		}
		if store.upstreams[i] != strings.TrimPrefix(srv.URL, "http://") {
			t.Errorf("Allow %d for %q, want the host:port", i, store.upstreams[i])
		}
	}
}

// A store that fails: Allow's error fails the request unsent; Record's is
// logged and the response handed back.
func TestBreakerStoreErrors(t *testing.T) {
	t.Parallel()
	var served atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { served.Add(1) }))
	t.Cleanup(srv.Close)

	down := errors.New("store unreachable")
	store := newSharedBreakers()
	store.allowErr = down
	s := testenv.NewSession(t, courier.WithBreaker(courier.BreakerPolicy{Store: store}))
	if _, err := s.Get(t.Context(), srv.URL); !errors.Is(err, down) || !errors.Is(err, courier.ErrCircuitOpen) {
		t.Fatalf("Get = %v, want Allow's error, of the kind ErrCircuitOpen", err)
	}
	if served.Load() != 0 {
		t.Error("a request whose breaker could not be asked was sent")
	}

	store = newSharedBreakers()
	store.recordErr = down
	var logs bytes.Buffer
	s = testenv.NewSession(t, courier.WithBreaker(courier.BreakerPolicy{Store: store}),
		courier.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if _, err := s.Get(t.Context(), srv.URL); err != nil {
		t.Fatalf("Get = %v, want the response: Record's error is only logged", err)
	}
	if !strings.Contains(logs.String(), "breaker store") || !strings.Contains(logs.String(), "store unreachable") {
		t.Errorf("log: %s", logs.String())
	}
}
