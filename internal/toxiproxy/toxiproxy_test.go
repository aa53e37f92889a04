package toxiproxy_test

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/courierhttp/courier/internal/toxiproxy"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func get(t *testing.T, c *http.Client, url string) (string, error) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// The harness end to end: a proxy forwards, a toxic acts and goes, a
// disabled proxy refuses connections and an enabled one forwards again.
func TestProxyToxicsAndDown(t *testing.T) {
	srv := toxiproxy.Start(t)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello")
	}))
	t.Cleanup(up.Close)
	p := srv.Proxy(t, "harness", up.Listener.Addr().String())
	tr := &http.Transport{DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr, Timeout: 5 * time.Second}

	if body, err := get(t, c, p.URL()); err != nil || body != "hello" {
		t.Fatalf("through the proxy: %q, %v; want hello", body, err)
	}

	name := p.AddToxic(t, "latency", toxiproxy.Downstream, 1, map[string]any{"latency": 300})
	if got := p.Toxics(t); len(got) != 1 || got[0].Name != name || got[0].Type != "latency" {
		t.Fatalf("Toxics = %+v, want the one latency toxic %s", got, name)
	}
	start := time.Now()
	if _, err := get(t, c, p.URL()); err != nil {
		t.Fatalf("with latency: %v", err)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("with 300ms latency the request took %v", d)
	}
	p.RemoveToxic(t, name)
	if got := p.Toxics(t); len(got) != 0 {
		t.Fatalf("Toxics after removal = %+v", got)
	}

	p.Disable(t)
	_, err := get(t, c, p.URL())
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("disabled proxy: err = %v, want connection refused", err)
	}
	p.Enable(t)
	if body, err := get(t, c, p.URL()); err != nil || body != "hello" {
		t.Fatalf("re-enabled proxy: %q, %v; want hello", body, err)
	}
}

// Two servers in one test get different ports, and a server stops with its
// test: its API port is closed afterwards.
func TestStartStops(t *testing.T) {
	var api string
	t.Run("inner", func(t *testing.T) {
		a, b := toxiproxy.Start(t), toxiproxy.Start(t)
		if a.API == b.API {
			t.Fatalf("two servers share %s", a.API)
		}
		api = a.API
	})
	if api == "" {
		t.Skip("inner test skipped")
	}
	conn, err := net.DialTimeout("tcp", api[len("http://"):], time.Second)
	if err == nil {
		conn.Close()
		t.Fatalf("server at %s still answers after its test ended", api)
	}
}
