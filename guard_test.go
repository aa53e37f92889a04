package courier_test

// The SSRF guard: every special range in both families, IPv4 inside IPv6,
// numeric host spellings, and, end to end on loopback, names that resolve
// to refused addresses, DNS rebinding, redirects and retries. No test
// sends a packet outside 127.0.0.0/8: public addresses are judged, never
// dialed.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/couriertest"
	"github.com/courierhttp/courier/internal/testenv"
)

func TestGuardJudges(t *testing.T) {
	t.Parallel()
	// want: "" for a public address that passes, else a piece of the
	// error that names the rule.
	tests := []struct{ host, want string }{
		// Public: they pass.
		{"8.8.8.8", ""},
		{"1.1.1.1", ""},
		{"93.184.215.14", ""},
		{"100.63.255.255", ""},
		{"100.128.0.0", ""},
		{"172.15.255.255", ""},
		{"172.32.0.0", ""},
		{"192.167.255.255", ""},
		{"192.169.0.0", ""},
		{"198.17.255.255", ""},
		{"198.20.0.0", ""},
		{"223.255.255.255", ""},
		{"2606:4700:4700::1111", ""},
		{"2001:4860:4860::8888", ""},
		{"2a00:1450:4001::200e", ""},
		{"2400:cb00::1", ""},
		{"9.9.9.9", ""},
		{"151.101.1.69", ""},
		{"11.0.0.1", ""},
		{"126.255.255.255", ""},
		{"128.0.0.1", ""},
		{"169.253.255.255", ""},
		{"169.255.0.1", ""},
		{"192.0.3.1", ""},
		{"2620:fe::fe", ""},
		{"2a03:2880:f003:c07:face:b00c::2", ""},
		// IPv4 special ranges.
		{"0.0.0.0", "unspecified"},
		{"0.1.2.3", "unspecified"},
		{"10.0.0.1", "private"},
		{"10.255.255.255", "private"},
		{"100.64.0.1", "CGNAT"},
		{"100.127.255.254", "CGNAT"},
		{"127.0.0.1", "loopback"},
		{"127.255.255.254", "loopback"},
		{"127.0.0.1.", "loopback"},
		{"169.254.169.254", "link-local"},
		{"169.254.170.2", "link-local"},
		{"169.254.0.1", "link-local"},
		{"172.16.0.1", "private"},
		{"172.31.255.255", "private"},
		{"192.0.0.8", "IETF protocol"},
		{"192.0.2.1", "documentation"},
		{"192.88.99.1", "6to4 relay"},
		{"192.168.0.1", "private"},
		{"192.168.255.255", "private"},
		{"198.18.0.1", "benchmarking"},
		{"198.19.255.255", "benchmarking"},
		{"198.51.100.7", "documentation"},
		{"203.0.113.9", "documentation"},
		{"224.0.0.1", "multicast"},
		{"239.255.255.250", "multicast"},
		{"240.0.0.1", "reserved"},
		{"255.255.255.255", "reserved"},
		// IPv6 special ranges.
		{"::", "unspecified"},
		{"::1", "loopback"},
		{"0:0:0:0:0:0:0:1", "loopback"},
		{"100::1", "discard-only"},
		{"2001:2::1", "benchmarking"},
		{"2001:db8::1", "documentation"},
		{"2001:DB8:FFFF::1", "documentation"},
		{"3fff::1", "documentation"},
		{"5f00::1", "segment routing"},
		{"fc00::1", "unique-local"},
		{"fd12:3456:789a::1", "unique-local"},
		{"FD00::1", "unique-local"},
		{"fe80::1", "link-local"},
		{"fe80::1%eth0", "link-local"},
		{"FE80::ABCD%25en0", "link-local"},
		{"febf::1", "link-local"},
		{"fec0::1", "site-local"},
		{"ff02::1", "multicast"},
		{"ff05::2", "multicast"},
		{"fd00:ec2::254", "unique-local"},
		{"fe80::a9fe:a9fe", "link-local"},
		{"ff0e::1", "multicast"},
		{"100.100.100.200", "CGNAT"},
		{"10.0.0.1.", "private"},
		// IPv4-mapped: judged by the IPv4 address.
		{"::ffff:127.0.0.1", "IPv4-mapped of 127.0.0.1, loopback"},
		{"::ffff:7f00:1", "IPv4-mapped of 127.0.0.1"},
		{"::ffff:10.1.2.3", "IPv4-mapped of 10.1.2.3, private"},
		{"::ffff:169.254.169.254", "link-local"},
		{"::ffff:192.168.1.1", "private"},
		{"::ffff:0.0.0.0", "unspecified"},
		{"::ffff:8.8.8.8", ""},
		{"::FFFF:1.1.1.1", ""},
		// IPv4-compatible (deprecated).
		{"::127.0.0.1", "IPv4-compatible of 127.0.0.1"},
		{"::10.0.0.1", "IPv4-compatible of 10.0.0.1"},
		{"::8.8.8.8", ""},
		// NAT64, well-known and local-use prefixes.
		{"64:ff9b::7f00:1", "NAT64 of 127.0.0.1"},
		{"64:ff9b::10.0.0.5", "NAT64 of 10.0.0.5, private"},
		{"64:ff9b::169.254.169.254", "NAT64 of 169.254.169.254"},
		{"64:ff9b::c0a8:101", "NAT64 of 192.168.1.1"},
		{"64:ff9b::8.8.8.8", ""},
		{"64:ff9b::808:808", ""},
		{"64:ff9b:1::10.0.0.1", "NAT64 of 10.0.0.1"},
		{"64:ff9b:1::1.1.1.1", ""},
		// 6to4: the IPv4 address after the prefix.
		{"2002:7f00:1::", "6to4 of 127.0.0.1"},
		{"2002:a00:1::1", "6to4 of 10.0.0.1"},
		{"2002:c0a8:101::1", "6to4 of 192.168.1.1"},
		{"2002:a9fe:a9fe::", "6to4 of 169.254.169.254"},
		{"2002:808:808::1", ""},
		{"2002:101:101::", ""},
		// Teredo: the client's address, each bit inverted.
		{"2001:0:4136:e378:8000:63bf:80ff:fffe", "Teredo of 127.0.0.1"},
		{"2001:0:4136:e378:8000:63bf:f5ff:fffe", "Teredo of 10.0.0.1"},
		{"2001:0:4136:e378:8000:63bf:3f57:fefc", "Teredo of 192.168.1.3"},
		{"2001:0:4136:e378:8000:63bf:f7f7:f7f7", ""}, // 8.8.8.8
		{"2001:0:4136:e378:8000:63bf:fefe:fefe", ""}, // 1.1.1.1
		// Numeric spellings that resolvers other than Go's read as IPv4.
		{"2130706433", "written as a number"},
		{"0x7f000001", "written as a number"},
		{"0X7F000001", "written as a number"},
		{"0177.0.0.1", "written as a number"},
		{"0177.0000.0000.0001", "written as a number"},
		{"127.1", "written as a number"},
		{"127.0.1", "written as a number"},
		{"10.1", "written as a number"},
		{"0", "written as a number"},
		{"0x0", "written as a number"},
		{"017700000001", "written as a number"},
		{"3232235777", "written as a number"},
		{"0xa9fea9fe", "written as a number"},
		{"1.2.3.0x4", "written as a number"},
		{"example.0x10", "written as a number"},
		{"127.0.0.1.5", "written as a number"},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		if seen[tt.host] {
			t.Fatalf("%s twice in the table", tt.host)
		}
		seen[tt.host] = true
	}
	if len(tests) < 120 {
		t.Fatalf("%d cases, want at least 120", len(tests))
	}
	for _, tt := range tests {
		got := courier.GuardVerdict(tt.host)
		switch {
		case tt.want == "" && got != "":
			t.Errorf("%s: refused (%s), want it allowed", tt.host, got)
		case tt.want != "" && !strings.Contains(got, tt.want):
			t.Errorf("%s: verdict %q, want it refused, naming %q", tt.host, got, tt.want)
		}
	}
}

// Allow excepts prefixes and single addresses.
func TestGuardAllow(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		host  string
		allow []string
		pass  bool
	}{
		{"10.1.2.3", []string{"10.1.0.0/16"}, true},
		{"10.2.0.1", []string{"10.1.0.0/16"}, false},
		{"127.0.0.1", []string{"127.0.0.1"}, true},
		{"127.0.0.2", []string{"127.0.0.1"}, false},
		{"::ffff:10.1.2.3", []string{"::ffff:10.1.0.0/112"}, true},
		{"fd00::1", []string{"fd00::/8"}, true},
	} {
		if got := courier.GuardVerdict(tt.host, tt.allow...); (got == "") != tt.pass {
			t.Errorf("%s with Allow %v: verdict %q, want pass %v", tt.host, tt.allow, got, tt.pass)
		}
	}
}

// The Teredo rows above hold addresses whose last 32 bits are an IPv4
// address with each bit inverted: check the table's arithmetic.
func TestGuardTeredoTable(t *testing.T) {
	t.Parallel()
	for ip, want := range map[string]string{"8.8.8.8": "f7f7:f7f7", "1.1.1.1": "fefe:fefe", "127.0.0.1": "80ff:fffe",
		"10.0.0.1": "f5ff:fffe", "192.168.1.3": "3f57:fefc"} {
		a := netip.MustParseAddr(ip).As4()
		if got := fmt.Sprintf("%02x%02x:%02x%02x", ^a[0], ^a[1], ^a[2], ^a[3]); got != want {
			t.Errorf("inverted %s = %s, want %s", ip, got, want)
		}
	}
}

// counting is a loopback listener that counts the connections it accepts
// and serves h on them.
type counting struct {
	net.Listener
	accepts atomic.Int32
}

func (c *counting) Accept() (net.Conn, error) {
	conn, err := c.Listener.Accept()
	if err == nil {
		c.accepts.Add(1)
	}
	return conn, err
}

// serve starts h on ip:0 and returns its port and the counter.
func serve(t *testing.T, ip string, h http.Handler) (string, *counting) {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Skipf("cannot listen on %s: %v", ip, err)
	}
	c := &counting{Listener: ln}
	srv := &http.Server{Handler: h}
	go srv.Serve(c)
	t.Cleanup(func() { srv.Close() })
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port, c
}

// fakeDNS answers lookups from a script: each name's answers in turn, the
// last one repeating.
type fakeDNS struct {
	mu      sync.Mutex
	answers map[string][]string
	asked   map[string]int
}

func (f *fakeDNS) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	list, ok := f.answers[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	n := min(f.asked[host], len(list)-1)
	f.asked[host]++
	return []netip.Addr{netip.MustParseAddr(list[n])}, nil
}

func TestGuardEndToEnd(t *testing.T) {
	t.Parallel()
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
	port, srv := serve(t, "127.0.0.1", ok)

	tests := []struct {
		name  string
		url   string
		guard courier.Guard
		dns   map[string][]string
		pass  bool
		want  string
	}{
		{name: "loopback address", url: "http://127.0.0.1:" + port + "/", want: "127.0.0.1 is loopback"},
		{name: "loopback IPv6 spelling of it", url: "http://[::ffff:127.0.0.1]:" + port + "/", want: "IPv4-mapped of 127.0.0.1"},
		{name: "name resolving to loopback", url: "http://public.example:" + port + "/",
			dns: map[string][]string{"public.example": {"127.0.0.1"}}, want: "public.example: 127.0.0.1 is loopback"},
		{name: "IPv6 loopback with a dot for a zone", url: "http://[::1%25.]:" + port + "/", want: "::1%. is loopback"},
		{name: "decimal spelling", url: "http://2130706433:" + port + "/", want: "written as a number"},
		{name: "short spelling", url: "http://127.1:" + port + "/", want: "written as a number"},
		{name: "allowed by prefix", url: "http://127.0.0.1:" + port + "/", guard: courier.Guard{Allow: []string{"127.0.0.0/8"}}, pass: true},
		{name: "allowed by host:port", url: "http://internal.test:" + port + "/",
			guard: courier.Guard{Allow: []string{"internal.test:" + port}}, dns: map[string][]string{"internal.test": {"127.0.0.1"}}, pass: true},
		{name: "port not allowed", url: "http://127.0.0.1:" + port + "/",
			guard: courier.Guard{Allow: []string{"127.0.0.0/8"}, Ports: []int{443}}, want: "not among the ports allowed"},
		{name: "https to loopback", url: "https://127.0.0.1:" + port + "/", want: "loopback"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := srv.accepts.Load()
			g := tt.guard
			if tt.dns != nil {
				g.Resolver = &fakeDNS{answers: tt.dns, asked: map[string]int{}}
			}
			var sent atomic.Int32
			s := testenv.NewSession(t, courier.WithGuard(g),
				courier.WithRetry(courier.RetryPolicy{Backoff: couriertest.NoBackoff}),
				courier.WithHooks(courier.Hooks{BeforeAttempt: func(courier.AttemptInfo) { sent.Add(1) }}))
			_, err := s.Get(t.Context(), tt.url)
			if tt.pass {
				if err != nil {
					t.Fatalf("Get = %v, want it allowed", err)
				}
				return
			}
			requireIs(t, err, courier.ErrBlocked)
			if err != nil && !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to say %q", err, tt.want)
			}
			if sent.Load() != 1 {
				t.Errorf("%d attempts, want 1: a blocked request is never retried", sent.Load())
			}
			if got := srv.accepts.Load() - before; got != 0 && !t.Failed() {
				t.Errorf("the server accepted %d connections for a blocked request", got)
			}
		})
	}
}

// A name that resolved to an allowed address resolves, on the next
// connection, to a refused one: the guard judges every dial.
func TestGuardDNSRebinding(t *testing.T) {
	t.Parallel()
	port, srv := serve(t, "127.0.0.1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close") // the next request dials again
	}))
	dns := &fakeDNS{answers: map[string][]string{"rebind.test": {"127.0.0.1", "127.0.0.3"}}, asked: map[string]int{}}
	s := testenv.NewSession(t, courier.WithGuard(courier.Guard{Allow: []string{"127.0.0.1/32"}, Resolver: dns}))
	u := "http://rebind.test:" + port + "/"
	if _, err := s.Get(t.Context(), u); err != nil {
		t.Fatalf("first Get = %v, want it allowed", err)
	}
	_, err := s.Get(t.Context(), u)
	requireIs(t, err, courier.ErrBlocked)
	if srv.accepts.Load() != 1 {
		t.Errorf("server accepted %d connections, want 1", srv.accepts.Load())
	}
}

// A redirect from an allowed host to a refused one is blocked at its dial,
// whatever the status.
func TestGuardRedirect(t *testing.T) {
	t.Parallel()
	blockedPort, target := serve(t, "127.0.0.2", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for _, code := range []int{301, 302, 307, 308} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			t.Parallel()
			port, _ := serve(t, "127.0.0.1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "http://127.0.0.2:"+blockedPort+"/", code)
			}))
			s := testenv.NewSession(t, courier.WithGuard(courier.Guard{Allow: []string{"127.0.0.1/32"}}))
			_, err := s.Get(t.Context(), "http://127.0.0.1:"+port+"/")
			requireIs(t, err, courier.ErrBlocked)
		})
	}
	t.Cleanup(func() {
		if n := target.accepts.Load(); n != 0 {
			t.Errorf("the refused host accepted %d connections", n)
		}
	})
}

// A retry that resolves again to a refused address is blocked.
func TestGuardRetryResolvesAgain(t *testing.T) {
	t.Parallel()
	port, srv := serve(t, "127.0.0.1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	dns := &fakeDNS{answers: map[string][]string{"flaky.test": {"127.0.0.1", "10.0.0.5"}}, asked: map[string]int{}}
	s := testenv.NewSession(t, courier.WithGuard(courier.Guard{Allow: []string{"127.0.0.1/32"}, Resolver: dns}),
		courier.WithRetry(courier.RetryPolicy{Backoff: couriertest.NoBackoff}))
	_, err := s.Get(t.Context(), "http://flaky.test:"+port+"/")
	requireIs(t, err, courier.ErrBlocked)
	if err != nil && !strings.Contains(err.Error(), "10.0.0.5 is private") {
		t.Errorf("err = %v, want it to name 10.0.0.5", err)
	}
	if srv.accepts.Load() != 1 {
		t.Errorf("server accepted %d connections, want the first attempt's only", srv.accepts.Load())
	}
}

// The caller's dialer dials what the guard allowed: its Control sees only
// allowed addresses, on the plain and the TLS paths.
func TestGuardComposesWithADialer(t *testing.T) {
	t.Parallel()
	ts := testenv.NewServer(t, testenv.HTTP2, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	var mu sync.Mutex
	var dialed []string
	d := &net.Dialer{Control: func(network, address string, c syscall.RawConn) error {
		mu.Lock()
		dialed = append(dialed, address)
		mu.Unlock()
		return nil
	}}
	s := ts.Session(t, courier.WithGuard(courier.Guard{Allow: []string{"127.0.0.1/32"}, Dialer: d}))
	if _, err := s.Get(t.Context(), "/"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(t.Context(), "https://127.0.0.9:1/"); !errors.Is(err, courier.ErrBlocked) {
		t.Errorf("Get to 127.0.0.9 = %v, want ErrBlocked", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(dialed) != 1 || !strings.HasPrefix(dialed[0], "127.0.0.1:") {
		t.Errorf("the dialer's Control saw %v, want the allowed address once", dialed)
	}
}

// The proxy rule: a guard refuses an explicit proxy unless told to trust
// it, and cannot guard a transport it does not own.
func TestGuardRefusesWhatItCannotGuard(t *testing.T) {
	t.Parallel()
	proxy := http.ProxyURL(mustURL(t, "http://proxy.internal:3128"))
	for _, tt := range []struct {
		name string
		opts []courier.Option
		want string
	}{
		{"proxy", []courier.Option{courier.WithGuard(courier.Guard{}), courier.WithProxy(proxy)}, "TrustProxy"},
		{"proxy first", []courier.Option{courier.WithProxy(proxy), courier.WithGuard(courier.Guard{})}, "TrustProxy"},
		{"transport", []courier.Option{courier.WithGuard(courier.Guard{}), courier.WithTransport(http.DefaultTransport)}, "WithTransport"},
		{"bad allow", []courier.Option{courier.WithGuard(courier.Guard{Allow: []string{"not an address"}})}, "WithGuard.Allow"},
		{"bad port", []courier.Option{courier.WithGuard(courier.Guard{Ports: []int{70000}})}, "WithGuard.Ports"},
	} {
		_, err := courier.New(tt.opts...)
		var oe *courier.OptionError
		if !errors.As(err, &oe) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: New = %v, want an *OptionError naming %q", tt.name, err, tt.want)
		}
	}
	s, err := courier.New(courier.WithGuard(courier.Guard{TrustProxy: true}), courier.WithProxy(proxy))
	if err != nil {
		t.Fatalf("New with a trusted proxy = %v", err)
	}
	s.Close(context.Background())
}

// FuzzGuardHost: any host is judged without a panic, and an address the
// standard library calls loopback, private, link-local, multicast or
// unspecified (or the IPv4-mapped form of one) is never allowed.
func FuzzGuardHost(f *testing.F) {
	for _, s := range []string{"127.0.0.1", "::1", "::ffff:10.0.0.1", "64:ff9b::a00:1", "2002:a00:1::", "2001:0:4136:e378:8000:63bf:f5ff:fffe",
		"2130706433", "0x7f000001", "127.1", "example.com", "fe80::1%eth0", "::01%.", "127.0.0.1%.", "", ".", "..", "0.0.0.0", "8.8.8.8"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		verdict := courier.GuardVerdict(host)
		ip, err := netip.ParseAddr(host)
		if err != nil {
			return
		}
		v4 := ip.Unmap()
		if (v4.IsLoopback() || v4.IsPrivate() || v4.IsLinkLocalUnicast() || v4.IsLinkLocalMulticast() ||
			v4.IsMulticast() || v4.IsUnspecified()) && verdict == "" {
			t.Errorf("%s passes the guard", host)
		}
	})
}
