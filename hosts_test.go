package courier_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/internal/testenv"
)

// A session that meets many hosts keeps the state of those it used lately:
// once it knows more than a thousand, a new host makes it forget those idle
// for ten minutes, unless their breaker is not closed.
func TestIdleHostsAreForgotten(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ok := rtFunc(func(req *http.Request) (*http.Response, error) {
			code := http.StatusOK
			if req.URL.Host == "down.test" {
				code = http.StatusServiceUnavailable
			}
			return &http.Response{StatusCode: code, Status: http.StatusText(code), Header: http.Header{},
				Body: io.NopCloser(strings.NewReader("")), Request: req, ContentLength: 0}, nil
		})
		s := testenv.NewSession(t, courier.WithTransport(ok), noRetry,
			courier.WithBreaker(courier.BreakerPolicy{ConsecutiveFailures: 1, OpenFor: time.Hour}))
		s.Get(t.Context(), "http://down.test/") // opens its breaker
		const crawled = 2000
		for i := range crawled {
			if _, err := s.Get(t.Context(), fmt.Sprintf("http://h%d.test/", i)); err != nil {
				t.Fatal(err)
			}
		}
		if n := len(s.Stats().Breakers); n != crawled+1 {
			t.Fatalf("session knows %d hosts, want %d", n, crawled+1)
		}
		time.Sleep(11 * time.Minute)
		s.Get(t.Context(), "http://h0.test/") // still known: its entry stays fresh
		for i := range 1100 {
			s.Get(t.Context(), fmt.Sprintf("http://new%d.test/", i))
		}
		st := s.Stats()
		if _, ok := st.Breakers["h1.test"]; ok || len(st.Breakers) > 1200 {
			t.Errorf("after ten idle minutes the session still knows %d hosts (h1.test: %v), want the idle ones forgotten", len(st.Breakers), ok)
		}
		if st.Breakers["down.test"] != courier.BreakerOpen {
			t.Errorf("down.test's breaker is %v, want still open: a host whose breaker is open is not forgotten", st.Breakers["down.test"])
		}
		if _, ok := st.Breakers["h0.test"]; !ok {
			t.Errorf("h0.test, used a moment ago, was forgotten")
		}
	})
}
