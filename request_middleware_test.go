package courier_test

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/courierhttp/courier"
)

// Request middleware sees a request once, whatever its redirects and
// retries; attempt middleware sees each attempt.
func TestRequestMiddlewareSeesTheWholeRequest(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	ts := newServer(t, http1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/start" {
			http.Redirect(w, r, "/next", http.StatusFound)
			return
		}
		if hits.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	var requests, attempts atomic.Int32
	var finalStatus atomic.Int32
	count := func(n *atomic.Int32, status *atomic.Int32) courier.Middleware {
		return func(next http.RoundTripper) http.RoundTripper {
			return courier.RoundTripperFunc(func(req *http.Request) (*http.Response, error) {
				n.Add(1)
				resp, err := next.RoundTrip(req)
				if status != nil && resp != nil {
					status.Store(int32(resp.StatusCode))
				}
				return resp, err
			})
		}
	}
	s := newSession(t, ts, fast, courier.WithRequestMiddleware(count(&requests, &finalStatus)), courier.WithMiddleware(count(&attempts, nil)))
	if _, err := s.Get(t.Context(), "/start"); err != nil {
		t.Fatal(err)
	}
	if requests.Load() != 1 || attempts.Load() != 3 || finalStatus.Load() != 200 {
		t.Errorf("request middleware ran %d times (final status %d), attempt middleware %d; want 1 (200) and 3 (redirect, 503, 200)",
			requests.Load(), finalStatus.Load(), attempts.Load())
	}
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	req, _ := http.NewRequest("GET", "https://user:pw@api.test/x?access_token=CANARY&page=2", nil)
	if got := courier.RedactURL(req.URL); strings.Contains(got, "CANARY") || strings.Contains(got, "pw") || !strings.Contains(got, "page=2") {
		t.Errorf("RedactURL = %q", got)
	}
}
