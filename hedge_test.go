package courier_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/couriertest"
)

// slowThenFast is a transport whose first call takes a second (unless
// canceled) and whose later calls answer at once. It records whether the
// slow call was canceled.
type slowThenFast struct {
	calls        atomic.Int32
	slowCanceled atomic.Bool
}

func (s *slowThenFast) RoundTrip(req *http.Request) (*http.Response, error) {
	if s.calls.Add(1) == 1 {
		select {
		case <-time.After(time.Second):
		case <-req.Context().Done():
			s.slowCanceled.Store(true)
			return nil, req.Context().Err()
		}
	}
	resp, _ := status(200)()
	resp.Request = req
	return resp, nil
}

func TestHedgingCutsTheTail(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		tr := &slowThenFast{}
		s, _ := courier.New(courier.WithBaseURL("http://api.test"), courier.WithTransport(tr),
			courier.WithRetry(courier.RetryPolicy{HedgeAfter: 100 * time.Millisecond}))
		defer s.Close(context.Background())
		start := time.Now()
		resp, err := s.Get(t.Context(), "/")
		if err != nil {
			t.Fatal(err)
		}
		if got := time.Since(start); got != 100*time.Millisecond {
			t.Errorf("hedged GET took %v, want 100ms (the hedge's delay)", got)
		}
		if !tr.slowCanceled.Load() || tr.calls.Load() != 2 || resp.Attempts != 2 {
			t.Errorf("slow copy canceled %v, %d calls, Attempts %d; want true, 2, 2", tr.slowCanceled.Load(), tr.calls.Load(), resp.Attempts)
		}
		if left := s.Stats().BudgetLeft["api.test"]; left != 500-5 {
			t.Errorf("BudgetLeft = %d, want 495: the hedge costs a retry, and a hedged win is no first-try success", left)
		}
	})
}

func TestHedgingNeverCopiesNonIdempotent(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		tr := &slowThenFast{}
		s, _ := courier.New(courier.WithBaseURL("http://api.test"), courier.WithTransport(tr),
			courier.WithRetry(courier.RetryPolicy{HedgeAfter: 100 * time.Millisecond}))
		defer s.Close(context.Background())
		start := time.Now()
		if _, err := s.Post(t.Context(), "/", courier.JSON(1), courier.Header("Idempotency-Key", "k")); err != nil {
			t.Fatal(err)
		}
		if got := time.Since(start); got != time.Second || tr.calls.Load() != 1 {
			t.Errorf("POST took %v over %d calls, want 1s and 1: never hedged", got, tr.calls.Load())
		}
	})
}

// With the budget too low for another copy, the request just waits.
func TestHedgingDrawsFromTheBudget(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		tr := &slowThenFast{}
		s, _ := courier.New(courier.WithBaseURL("http://api.test"), courier.WithTransport(tr),
			courier.WithRetry(courier.RetryPolicy{Budget: courier.RetryBudget{Capacity: 4, RetryCost: 4}, HedgeAfter: 100 * time.Millisecond}))
		defer s.Close(context.Background())
		s.Get(t.Context(), "/") // hedged: the budget goes to 0
		tr.calls.Store(0)       // the next call is slow again
		start := time.Now()
		if _, err := s.Get(t.Context(), "/"); err != nil {
			t.Fatal(err)
		}
		if got := time.Since(start); got != time.Second || tr.calls.Load() != 1 {
			t.Errorf("with an empty budget: %v over %d calls, want 1s and 1 (no hedge)", got, tr.calls.Load())
		}
	})
}

// When every copy fails, the retry loop carries on as without hedging.
func TestHedgingFailuresAreRetried(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		n := 0
		tr := rtFunc(func(req *http.Request) (*http.Response, error) {
			mu.Lock()
			n++
			k := n
			mu.Unlock()
			if k <= 2 {
				return status(503)()
			}
			return status(200)()
		})
		s, _ := courier.New(courier.WithBaseURL("http://api.test"), courier.WithTransport(tr),
			courier.WithRetry(courier.RetryPolicy{Backoff: couriertest.NoBackoff, HedgeAfter: 100 * time.Millisecond}))
		defer s.Close(context.Background())
		resp, err := s.Get(t.Context(), "/")
		if err != nil || resp.Attempts != 3 {
			t.Errorf("Get = %v after %v attempts, want success on the third", err, resp)
		}
	})
}

func TestHedgingValidation(t *testing.T) {
	t.Parallel()
	for _, p := range []courier.RetryPolicy{{HedgeAfter: -1}, {HedgeAfter: time.Second, MaxHedges: -1}} {
		_, err := courier.New(courier.WithRetry(p))
		var oe *courier.OptionError
		if !errors.As(err, &oe) {
			t.Errorf("New(WithRetry(%+v)) = %v, want an *OptionError", p, err)
		}
	}
}
