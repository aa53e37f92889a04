package courier_test

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/couriertest"
	"github.com/courierhttp/courier/internal/testenv"
)

// nginx over HTTP/2 closes a connection after keepalive_requests with a
// GOAWAY, and net/http sends again, on a new connection, the requests whose
// streams the server never processed. Those resends are not retries: under
// that churn every GET succeeds, each is one attempt, and the retry budget
// stays full, so a real failure afterwards is still retried.
func TestHTTP2GoAwayChurnIsNoRetry(t *testing.T) {
	t.Parallel()
	ng := testenv.StartNginx(t, "", `
		keepalive_requests 100;
		location / { return 200 "ok"; }
		location /fail { return 503 "down"; }
	`)
	s := testenv.NewSession(t, courier.WithBaseURL(ng.URL), courier.WithTLSConfig(ng.TLS),
		courier.WithRetry(courier.RetryPolicy{Backoff: couriertest.NoBackoff}))
	const requests, workers = 3000, 64
	var wg sync.WaitGroup
	work := make(chan struct{})
	var failed sync.Map
	for range workers {
		wg.Go(func() {
			for range work {
				resp, err := s.Get(t.Context(), "/")
				if err != nil || resp.Proto != "HTTP/2.0" {
					failed.Store(err, resp)
				}
			}
		})
	}
	for range requests {
		work <- struct{}{}
	}
	close(work)
	wg.Wait()
	failed.Range(func(err, resp any) bool {
		t.Errorf("GET under GOAWAY churn = %v (response %v), want an HTTP/2 success", err, resp)
		return false
	})
	host := strings.TrimPrefix(ng.URL, "https://")
	st := s.Stats()
	if st.ConnsOpened < requests/100 {
		t.Errorf("%d connections for %d GETs, want at least %d: nginx closes each after 100 requests", st.ConnsOpened, requests, requests/100)
	}
	if st.Attempts != requests || len(st.RetriesByKind)+len(st.RetriesByStatus) != 0 || st.BudgetLeft[host] != 500 {
		t.Errorf("after %d GETs: %d attempts, retries %v %v, budget %d; want %d attempts, no retry, a full budget of 500",
			requests, st.Attempts, st.RetriesByStatus, st.RetriesByKind, st.BudgetLeft[host], requests)
	}
	_, err := s.Get(t.Context(), "/fail")
	var se *courier.StatusError
	if !errors.As(err, &se) || se.Attempts != 3 || se.Stop != 0 {
		t.Errorf("GET /fail = %v, want a 503 after 3 attempts, not stopped by the budget", err)
	}
}

// nginx answers a request whose headers do not fit its buffers, over
// HTTP/2, with GOAWAY(ENHANCE_YOUR_CALM): the server refusing this request,
// not a connection that broke. It is ErrRefused, its error names the code,
// and it is not retried.
func TestHTTP2GoAwayWithAnErrorIsRefused(t *testing.T) {
	t.Parallel()
	ng := testenv.StartNginx(t, "large_client_header_buffers 2 1k;", `location / { return 200 "ok"; }`)
	s := testenv.NewSession(t, courier.WithBaseURL(ng.URL), courier.WithTLSConfig(ng.TLS),
		courier.WithRetry(courier.RetryPolicy{Backoff: couriertest.NoBackoff}))
	_, err := s.Get(t.Context(), "/", courier.Cookie("big", strings.Repeat("x", 2048)))
	requireIs(t, err, courier.ErrRefused)
	var e *courier.Error
	if !errors.As(err, &e) || e.Attempts != 1 || !strings.Contains(err.Error(), "ENHANCE_YOUR_CALM") {
		t.Errorf("Get with a 2 KiB cookie = %v, want one attempt, refused, naming ENHANCE_YOUR_CALM", err)
	}
	if st := s.Stats(); st.Failures[courier.ErrRefused] != 1 || st.Attempts != 1 {
		t.Errorf("Stats: failures %v, attempts %d; want refused: 1 after one attempt", st.Failures, st.Attempts)
	}
	if resp, err := s.Get(t.Context(), "/"); err != nil || string(resp.Bytes()) != "ok" {
		t.Errorf("a request that fits = %v, want ok", err)
	}
}
