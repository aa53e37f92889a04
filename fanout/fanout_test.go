package fanout_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/couriertest"
	"github.com/courierhttp/courier/fanout"
	"github.com/courierhttp/courier/internal/testenv"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// gauge counts requests in progress and the most at once.
type gauge struct {
	now, peak atomic.Int32
}

func (g *gauge) in() {
	n := g.now.Add(1)
	for {
		p := g.peak.Load()
		if n <= p || g.peak.CompareAndSwap(p, n) {
			return
		}
	}
}

func (g *gauge) out() { g.now.Add(-1) }

// hosts starts n servers (n hosts: one port each) whose handler is h, each
// counting its requests in progress, and all of them together in total.
func hosts(t *testing.T, n int, h http.HandlerFunc) (urls []string, each []*gauge, total *gauge) {
	total = &gauge{}
	for range n {
		g := &gauge{}
		ts := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			g.in()
			total.in()
			defer total.out()
			defer g.out()
			h(w, r)
		}))
		urls = append(urls, ts.URL)
		each = append(each, g)
	}
	return urls, each, total
}

// get is an item function: GET the URL, return its status.
func get(s *courier.Session) func(context.Context, string) (int, error) {
	return func(ctx context.Context, u string) (int, error) {
		resp, err := s.Get(ctx, u)
		if resp != nil {
			return resp.StatusCode, err
		}
		return 0, err
	}
}

// newSession returns a session without a base URL, closed when t ends.
func newSession(t *testing.T, opts ...courier.Option) *courier.Session {
	t.Helper()
	s, err := courier.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

// 1,000 requests over 5 hosts with limits 50 overall and 10 per host: the
// servers never see more, and every item has one result.
func TestLimits(t *testing.T) {
	t.Parallel()
	urls, each, total := hosts(t, 5, func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Millisecond) // so that requests overlap
	})
	var items []string
	for i := range 1000 {
		items = append(items, fmt.Sprintf("%s/item/%d", urls[i%5], i))
	}
	s := newSession(t, courier.WithPool(courier.Pool{MaxIdleConnsPerHost: 64}))
	seen := make([]bool, len(items))
	for r := range fanout.Run(t.Context(), slices.Values(items), get(s), fanout.Limit(50), fanout.PerHost(10)) {
		if r.Err != nil || r.Value != 200 {
			t.Fatalf("item %d: %d, %v", r.Index, r.Value, r.Err)
		}
		if seen[r.Index] || r.Item != items[r.Index] {
			t.Fatalf("item %d yielded twice, or with the wrong item %q", r.Index, r.Item)
		}
		seen[r.Index] = true
	}
	if i := slices.Index(seen, false); i >= 0 {
		t.Errorf("item %d has no result", i)
	}
	t.Logf("peak requests at once: %d overall; per host %d %d %d %d %d", total.peak.Load(),
		each[0].peak.Load(), each[1].peak.Load(), each[2].peak.Load(), each[3].peak.Load(), each[4].peak.Load())
	for i, g := range each {
		if p := g.peak.Load(); p > 10 || p < 2 {
			t.Errorf("host %d saw %d requests at once, want at most 10 (and some concurrency)", i, p)
		}
	}
	if p := total.peak.Load(); p > 50 {
		t.Errorf("the servers saw %d requests at once, want at most 50", p)
	}
}

// Results come as they finish: a slow first item comes after the others.
func TestResultsAsTheyFinish(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	urls, _, _ := hosts(t, 1, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-release
		}
	})
	s := newSession(t)
	items := []string{urls[0] + "/slow", urls[0] + "/a", urls[0] + "/b", urls[0] + "/c"}
	var order []int
	for r := range fanout.Run(t.Context(), slices.Values(items), get(s), fanout.Limit(4)) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		order = append(order, r.Index)
		if len(order) == 3 {
			close(release)
		}
	}
	if len(order) != 4 || order[3] != 0 {
		t.Errorf("order = %v, want the slow item 0 last", order)
	}
}

// Every error is kept, each with its item.
func TestKeepsEveryError(t *testing.T) {
	t.Parallel()
	urls, _, _ := hosts(t, 1, func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/odd") {
			http.NotFound(w, r)
		}
	})
	s := newSession(t)
	var items []string
	for i := range 100 {
		items = append(items, fmt.Sprintf("%s/%d/%s", urls[0], i, map[bool]string{true: "odd", false: "even"}[i%2 == 1]))
	}
	failed := 0
	for r := range fanout.Run(t.Context(), slices.Values(items), get(s), fanout.Limit(8)) {
		var se *courier.StatusError
		switch {
		case r.Index%2 == 1 && errors.As(r.Err, &se) && se.StatusCode == 404:
			failed++
		case r.Index%2 == 0 && r.Err == nil:
		default:
			t.Errorf("item %d: %v", r.Index, r.Err)
		}
	}
	if failed != 50 {
		t.Errorf("%d errors kept, want 50", failed)
	}
}

// Breaking out of the loop stops the fan-out: no request after the ones
// running, and no goroutine left (goleak checks at the end).
func TestBreak(t *testing.T) {
	t.Parallel()
	urls, _, _ := hosts(t, 1, func(w http.ResponseWriter, r *http.Request) {})
	// Counted as the client sends them: a request sent just before the
	// break may reach the server's handler after it.
	var sent atomic.Int32
	s := newSession(t, courier.WithHooks(courier.Hooks{BeforeAttempt: func(courier.AttemptInfo) { sent.Add(1) }}))
	items := func(yield func(string) bool) { // endless
		for i := 0; ; i++ {
			if !yield(fmt.Sprintf("%s/%d", urls[0], i)) {
				return
			}
		}
	}
	n := 0
	for r := range fanout.Run(t.Context(), items, get(s), fanout.Limit(4)) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		if n++; n == 10 {
			break
		}
	}
	after := sent.Load()
	if _, err := s.Get(t.Context(), urls[0]+"/probe"); err != nil {
		t.Fatal(err)
	}
	if got := sent.Load(); got != after+1 || after > 10+4 {
		t.Errorf("sent %d before the break returned (want at most 14) and %d after (want just the probe)", after, got-after)
	}
	if st := s.Stats(); st.InFlight != 0 {
		t.Errorf("%d requests in flight after the break", st.InFlight)
	}
}

// Canceling the context stops what runs; the items not started are
// yielded with ErrNoSlot, so every item has one result.
func TestCancel(t *testing.T) {
	t.Parallel()
	started := make(chan struct{}, 100)
	urls, _, _ := hosts(t, 1, func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-r.Context().Done() // hold until the client gives up
	})
	s := newSession(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() {
		for range 3 {
			<-started
		}
		cancel()
	}()
	var items []string
	for i := range 20 {
		items = append(items, fmt.Sprintf("%s/%d", urls[0], i))
	}
	var canceled, noSlot int
	for r := range fanout.Run(ctx, slices.Values(items), get(s), fanout.Limit(3)) {
		switch {
		case errors.Is(r.Err, courier.ErrNoSlot) && errors.Is(r.Err, context.Canceled):
			noSlot++
		case errors.Is(r.Err, courier.ErrCanceled):
			canceled++
		default:
			t.Errorf("item %d: %v, want canceled or ErrNoSlot", r.Index, r.Err)
		}
	}
	if canceled != 3 || noSlot != 17 {
		t.Errorf("%d canceled and %d never ran; want 3 and 17", canceled, noSlot)
	}
}

// FailFast stops at the first failure.
func TestFailFast(t *testing.T) {
	t.Parallel()
	var served atomic.Int32
	urls, _, _ := hosts(t, 1, func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		if r.URL.Path == "/0" {
			w.WriteHeader(http.StatusBadRequest)
		}
	})
	s := newSession(t)
	var items []string
	for i := range 50 {
		items = append(items, fmt.Sprintf("%s/%d", urls[0], i))
	}
	var failed, stopped int
	for r := range fanout.Run(t.Context(), slices.Values(items), get(s), fanout.Limit(1), fanout.FailFast()) {
		switch {
		case r.Index == 0 && r.Value == 400:
			failed++
		case errors.Is(r.Err, courier.ErrNoSlot) && errors.Is(r.Err, fanout.ErrFailedFast):
			stopped++
		default:
			t.Errorf("item %d: %v", r.Index, r.Err)
		}
	}
	if failed != 1 || stopped != 49 || served.Load() != 1 {
		t.Errorf("%d failed, %d stopped, %d served; want 1, 49 and 1", failed, stopped, served.Load())
	}
}

// A panic in an item's function is raised again in the caller's loop.
func TestPanic(t *testing.T) {
	t.Parallel()
	fn := func(ctx context.Context, i int) (int, error) {
		if i == 3 {
			panic("boom")
		}
		<-ctx.Done() // the others wait until the fan-out stops them
		return 0, ctx.Err()
	}
	defer func() {
		p := recover()
		pe, ok := p.(*fanout.PanicError)
		if !ok || pe.Value != "boom" || !strings.Contains(string(pe.Stack), "fanout_test.TestPanic") {
			t.Errorf("recovered %v, want a *PanicError of boom with the stack", p)
		}
	}()
	for range fanout.Run(t.Context(), slices.Values([]int{0, 1, 2, 3}), fn, fanout.Limit(4)) {
		t.Error("a result before the panic")
	}
	t.Error("the loop ended without the panic")
}

// A request that never gets its host's slot before its deadline fails
// with ErrNoSlot, without being sent; Waited and Ran say where the time
// went.
func TestNoSlotBeforeTheDeadline(t *testing.T) {
	t.Parallel()
	hold, arrived := make(chan struct{}), make(chan struct{})
	var served atomic.Int32
	urls, _, _ := hosts(t, 1, func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		if r.URL.Path == "/hold" {
			close(arrived)
			<-hold
		}
	})
	s := newSession(t)
	fn := func(ctx context.Context, path string) (int, error) {
		if path == "/late" {
			<-arrived // /hold has the host's one slot
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, 50*time.Millisecond)
			defer cancel()
			defer close(hold)
		}
		return get(s)(ctx, urls[0]+path)
	}
	results := map[string]fanout.Result[string, int]{}
	for r := range fanout.Run(t.Context(), slices.Values([]string{"/late", "/hold"}), fn, fanout.Limit(2), fanout.PerHost(1)) {
		results[r.Item] = r
	}
	late, held := results["/late"], results["/hold"]
	if !errors.Is(late.Err, courier.ErrNoSlot) || !errors.Is(late.Err, context.DeadlineExceeded) {
		t.Errorf("late: %v, want ErrNoSlot and the deadline", late.Err)
	}
	if held.Err != nil || served.Load() != 1 {
		t.Errorf("hold: %v, served %d; want nil and only /hold served", held.Err, served.Load())
	}
	if late.Waited <= 0 || late.Ran < 0 || held.Ran <= 0 {
		t.Errorf("late waited %v and ran %v, hold ran %v; want time spent waiting, and running", late.Waited, late.Ran, held.Ran)
	}
}

// PerRoute limits the requests under a path prefix, and not the others.
func TestPerRoute(t *testing.T) {
	t.Parallel()
	var search, other gauge
	ts := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g := &other
		if strings.HasPrefix(r.URL.Path, "/search") {
			g = &search
		}
		g.in()
		defer g.out()
		time.Sleep(2 * time.Millisecond)
	}))
	host := strings.TrimPrefix(ts.URL, "http://")
	s := newSession(t)
	var items []string
	for i := range 200 {
		items = append(items, fmt.Sprintf("%s/%s/%d", ts.URL, map[bool]string{true: "search", false: "list"}[i%2 == 0], i))
	}
	for r := range fanout.Run(t.Context(), slices.Values(items), get(s), fanout.Limit(20), fanout.PerRoute(host+"/search", 2)) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	if p := search.peak.Load(); p > 2 {
		t.Errorf("/search saw %d at once, want at most 2", p)
	}
	if p := other.peak.Load(); p <= 2 {
		t.Errorf("/list saw at most %d at once, want more than the route's limit of 2", p)
	}
}

// At 100% 503 the fan-out shares the session's retry budget: once the
// budget is spent, about one attempt per request.
func TestOutageWithinTheRetryBudget(t *testing.T) {
	t.Parallel()
	var served atomic.Int64
	urls, _, _ := hosts(t, 5, func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	s := newSession(t, courier.WithRetry(courier.RetryPolicy{Backoff: couriertest.NoBackoff}))
	burst := func() int64 {
		before := served.Load()
		var items []string
		for i := range 1000 {
			items = append(items, urls[i%5])
		}
		for r := range fanout.Run(t.Context(), slices.Values(items), get(s), fanout.Limit(50), fanout.PerHost(10)) {
			if r.Value != 503 {
				t.Fatalf("item %d: %d %v, want a 503", r.Index, r.Value, r.Err)
			}
		}
		return served.Load() - before
	}
	first := burst() // spends the budget of each host
	steady := burst()
	t.Logf("1000 requests at 100%% 503 over 5 hosts: %d attempts, then %d once the budget was spent", first, steady)
	if ratio := float64(steady) / 1000; ratio > 1.1 {
		t.Errorf("steady state: %.2f attempts per request (first burst %d attempts), want at most 1.1", ratio, first)
	}
}

func TestBadOptions(t *testing.T) {
	t.Parallel()
	fn := func(context.Context, int) (int, error) { return 0, nil }
	for _, tt := range []struct {
		opt  fanout.Option
		want string
	}{
		{fanout.Limit(0), "Limit(0)"},
		{fanout.PerHost(-1), "PerHost(-1)"},
		{fanout.PerRoute("https://x/y", 1), "want a host and a path prefix"},
		{fanout.PerRoute("x/y", 0), "need at least 1"},
		{nil, "nil Option"},
	} {
		var got []error
		for r := range fanout.Run(t.Context(), slices.Values([]int{1, 2}), fn, tt.opt) {
			got = append(got, r.Err)
		}
		if len(got) != 1 || got[0] == nil || !strings.Contains(got[0].Error(), tt.want) {
			t.Errorf("option %v: results %v, want one error with %q", tt.opt, got, tt.want)
		}
	}
}
