package courier_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/cookiejar"
	"github.com/courierhttp/courier/internal/testenv"
)

// The redirect-leak CVEs of HTTP clients, each a regression test here:
// credentials and cookies kept from other origins. Real servers on loopback
// are reached through host names (a.example, b.example, example.com on ports
// 80 and 443) by a transport that dials every name to its server, so that
// host, port and scheme changes are the real ones, default ports included.

// namedServers maps "host:port" to loopback servers.
type namedServers struct {
	byAddr map[string]*redirectServer
	tls    *tls.Config
}

// newNamedServers starts one redirect server per address; addresses ending
// in :443 get TLS (the httptest certificate is valid for example.com).
func newNamedServers(t *testing.T, addrs ...string) *namedServers {
	t.Helper()
	ns := &namedServers{byAddr: map[string]*redirectServer{}}
	for _, a := range addrs {
		m := testenv.HTTP1
		if strings.HasSuffix(a, ":443") {
			m = testenv.HTTP2
		}
		rs := newRedirectServer(t, m)
		ns.byAddr[a] = rs
		if rs.TLS != nil {
			ns.tls = testenv.TLSConfig(rs.Server.Server)
		}
	}
	return ns
}

// transport dials each name to its server.
func (ns *namedServers) transport(t *testing.T) *http.Transport {
	var d net.Dialer
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			rs, ok := ns.byAddr[addr]
			if !ok {
				return nil, fmt.Errorf("no test server for %s", addr)
			}
			return d.DialContext(ctx, network, rs.Listener.Addr().String())
		},
		TLSClientConfig:   ns.tls,
		ForceAttemptHTTP2: true,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

// jarValue is the value of a jar cookie for the base URL's host. Jar cookies
// belong to a host, not an origin (RFC 6265: they ignore ports, and go over
// http unless Secure), so the rule for them differs: no other host sees
// them, and a Secure one never goes over http.
const jarValue = "jarvalue42"

// secretSession is a session on base carrying the canary in every place a
// credential can be: a default Authorization header, a marked header, an
// auth layer, an explicit cookie, proxy headers; and a jar cookie for the
// base host, Secure when the base is https.
func secretSession(t *testing.T, ns *namedServers, base string) *courier.Session {
	t.Helper()
	jar := cookiejar.New(cookiejar.Options{})
	u, _ := url.Parse(base)
	c := cookiejar.Cookie{Name: "jar", Value: jarValue, Domain: u.Hostname(), HostOnly: true, Path: "/", Secure: u.Scheme == "https"}
	if err := jar.Set(c); err != nil {
		t.Fatal(err)
	}
	return testenv.NewSession(t,
		courier.WithBaseURL(base),
		courier.WithTransport(ns.transport(t)),
		courier.WithJar(jar),
		courier.Header("Authorization", "Bearer "+canary),
		courier.Header("X-Vendor-Key", canary),
		courier.WithSensitiveHeaders("X-Vendor-Key"),
		courier.WithAuth(stamp(canary)),
		courier.Cookie("explicit", canary),
		courier.Header("Proxy-Authorization", "Basic "+canary),
		courier.Header("Proxy-Authenticate", "Basic realm="+canary),
	)
}

func TestRedirectCVEs(t *testing.T) {
	t.Parallel()
	ns := newNamedServers(t, "a.example:80", "a.example:8080", "b.example:80", "example.com:80", "example.com:443")
	tests := []struct {
		cve     string
		base    string
		chain   []string // the Locations, in order; the last is echoed
		foreign []string // addresses that must see no secret
		home    string   // the final hop is home: secrets must reach it (else none may)
	}{
		{cve: "CVE-2024-45336 (Go): a -> b/1 -> b/2",
			base: "http://a.example", chain: []string{"http://b.example/1", "/2"}, foreign: []string{"b.example:80"}},
		{cve: "requests CVE-2018-18074: https -> http on the same host",
			base: "https://example.com", chain: []string{"http://example.com/down"}, foreign: []string{"example.com:80"}},
		{cve: "HTTPie GHSA-9w4w-cpc8-h2fq (CVE-2022-24737): session cookies to another host",
			base: "http://a.example", chain: []string{"http://b.example/x"}, foreign: []string{"b.example:80"}},
		{cve: "CVE-2025-4673 (Go): Proxy-Authorization across origins",
			base: "http://a.example", chain: []string{"http://a.example:8080/p"}, foreign: []string{"a.example:8080"}},
		{cve: "sticky: a -> b -> a",
			base: "http://a.example", chain: []string{"http://b.example/x", "http://a.example/back"}, foreign: []string{"b.example:80"}},
		{cve: "upgrade http -> https on default ports keeps credentials",
			base: "http://example.com", chain: []string{"https://example.com/up"}, home: "example.com:443"},
	}
	for _, code := range []int{301, 302, 303, 307, 308} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%d %s", code, tt.cve), func(t *testing.T) {
				before := map[string]int{}
				for a, rs := range ns.byAddr {
					before[a] = len(rs.seen())
				}
				s := secretSession(t, ns, tt.base)
				path := buildChain(code, tt.chain)
				var got echoed
				if _, err := s.Post(t.Context(), path, courier.Body([]byte("b")), courier.Into(&got)); err != nil {
					t.Fatalf("Post: %v", err)
				}
				base, _ := url.Parse(tt.base)
				for _, addr := range tt.foreign {
					host, port, _ := net.SplitHostPort(addr)
					rs := ns.byAddr[addr]
					for _, h := range rs.seen()[before[addr]:] {
						for k, vs := range h.header {
							if strings.Contains(strings.Join(vs, ","), canary) {
								t.Errorf("%s saw %s at %s", addr, k, h.path)
							}
						}
						jarSent := strings.Contains(h.header.Get("Cookie"), jarValue)
						if jarSent && (host != base.Hostname() || base.Scheme == "https" && port == "80") {
							t.Errorf("%s saw the jar cookie of %s at %s", addr, base.Hostname(), h.path)
						}
					}
				}
				if tt.home == "" {
					for k, vs := range got.Header {
						if strings.Contains(strings.Join(vs, ","), canary) {
							t.Errorf("the end of the chain saw %s", k)
						}
					}
				} else {
					for _, k := range []string{"Authorization", "X-Vendor-Key", "X-Auth", "Proxy-Authorization"} {
						if !strings.Contains(got.Header.Get(k), canary) {
							t.Errorf("home %s: %s missing: %v", tt.home, k, got.Header)
						}
					}
					if c := got.Header.Get("Cookie"); !strings.Contains(c, "explicit="+canary) || !strings.Contains(c, "jar="+jarValue) {
						t.Errorf("home %s: Cookie = %q, want explicit and jar cookies", tt.home, c)
					}
				}
			})
		}
	}
}

// buildChain returns the first path of a redirect chain through locs: each
// hop answers code with Location the next (absolute URLs start on their
// server's /to), and the last location is where the chain ends.
func buildChain(code int, locs []string) string {
	next := ""
	for i := len(locs) - 1; i >= 0; i-- {
		loc := locs[i]
		if next != "" {
			// loc is a URL (or a path on the previous hop's server) whose
			// server redirects again.
			u, _ := url.Parse(loc)
			u.Path, u.RawQuery = "/to", "status="+fmt.Sprint(code)+"&loc="+url.QueryEscape(next)
			loc = u.String()
			if !strings.HasPrefix(locs[i], "http") {
				loc = "/to?" + u.RawQuery
			}
		}
		next = loc
	}
	return to(code, next)
}

// connectProxy is an authenticating forward proxy: CONNECT tunnels for
// https, and absolute-form requests for http. It records the
// Proxy-Authorization it gets.
type connectProxy struct {
	*httptest.Server
	mu    sync.Mutex
	auths []string
	conns sync.WaitGroup
}

func newConnectProxy(t *testing.T) *connectProxy {
	p := &connectProxy{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.auths = append(p.auths, r.Header.Get("Proxy-Authorization"))
		p.mu.Unlock()
		if r.Header.Get("Proxy-Authorization") == "" {
			w.Header().Set("Proxy-Authenticate", `Basic realm="proxy"`)
			w.WriteHeader(http.StatusProxyAuthRequired)
			return
		}
		if r.Method != http.MethodConnect {
			out := r.Clone(r.Context())
			out.RequestURI = ""
			out.Header.Del("Proxy-Authorization") // a proxy's own header
			resp, err := http.DefaultTransport.RoundTrip(out)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			defer resp.Body.Close()
			for k, v := range resp.Header {
				w.Header()[k] = v
			}
			w.WriteHeader(resp.StatusCode)
			io.Copy(w, resp.Body)
			return
		}
		target, err := net.DialTimeout("tcp", r.Host, 5*time.Second)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		client, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			target.Close()
			return
		}
		client.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n"))
		p.conns.Add(2)
		go p.pipe(target, buf.Reader, client, target)
		go p.pipe(client, target, client, target)
	}))
	t.Cleanup(func() {
		p.Close()
		p.conns.Wait()
		http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	})
	return p
}

// pipe copies src to dst, then closes both ends of the tunnel.
func (p *connectProxy) pipe(dst io.Writer, src io.Reader, a, b net.Conn) {
	defer p.conns.Done()
	io.Copy(dst, src)
	a.Close()
	b.Close()
}

// requests CVE-2023-32681: Proxy-Authorization from the proxy URL goes to
// the proxy alone, never through the tunnel to the server, redirects
// included.
func TestProxyCredentialsStayWithTheProxy(t *testing.T) {
	t.Parallel()
	proxy := newConnectProxy(t)
	a := newRedirectServer(t, testenv.HTTP2)
	b := newRedirectServer(t, testenv.HTTP2)
	proxyURL, _ := url.Parse(proxy.URL)
	proxyURL.User = url.UserPassword("proxyuser", canary)
	s := a.Session(t, courier.WithProxy(http.ProxyURL(proxyURL)))
	var got echoed
	if _, err := s.Get(t.Context(), to(302, b.URL+"/echo"), courier.Into(&got)); err != nil {
		t.Fatal(err)
	}
	for _, rs := range []*redirectServer{a, b} {
		for _, h := range rs.seen() {
			if v := h.header.Get("Proxy-Authorization"); v != "" {
				t.Errorf("server saw Proxy-Authorization %q at %s", v, h.path)
			}
		}
	}
	proxy.mu.Lock()
	defer proxy.mu.Unlock()
	if len(proxy.auths) != 2 || proxy.auths[0] == "" || proxy.auths[1] == "" {
		t.Errorf("proxy saw Proxy-Authorization %q, want it on both CONNECTs", proxy.auths)
	}
}
