package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary be the server process too: StartServer
// runs os.Executable() with serverEnv set, which in tests is this binary.
func TestMain(m *testing.M) {
	if os.Getenv(serverEnv) == "1" {
		code := 0
		if err := serve(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "bench server:", err)
			code = 1
		}
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// startServer starts a server process for one test, and checks when the
// test ends that it stops cleanly and is gone.
func startServer(t *testing.T) *Server {
	t.Helper()
	srv, err := StartServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			t.Errorf("Stop() = %v, want nil", err)
		}
		if !srv.Exited() {
			t.Error("server process still running after Stop")
		}
	})
	return srv
}

func stats(t *testing.T, srv *Server) ServerStats {
	t.Helper()
	st, err := srv.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestServerStartsAndStops(t *testing.T) {
	srv, err := StartServer()
	if err != nil {
		t.Fatal(err)
	}
	if got := stats(t, srv); got != (ServerStats{}) {
		t.Errorf("Stats() of a new server = %+v, want zero", got)
	}
	resp, err := http.Get(srv.URL + pathJSON)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := stats(t, srv).Conns; got != 1 {
		t.Errorf("Conns after one GET = %d, want 1 (the control listener is not counted)", got)
	}
	http.DefaultClient.CloseIdleConnections()

	// The TLS listener: its certificate is the one StartServer passes on,
	// and it speaks HTTP/1.1 only, though the client offers h2.
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: rootPool(srv.CertPEM)}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	resp, err = (&http.Client{Transport: tr}).Get(srv.TLSURL + pathJSON)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Proto != "HTTP/1.1" || resp.TLS == nil || resp.TLS.NegotiatedProtocol != "http/1.1" {
		t.Errorf("GET over TLS: %s, TLS %v; want HTTP/1.1 agreed by ALPN", resp.Proto, resp.TLS)
	}
	h1 := ListenerStats{Conns: 1, Used: 1, Handshakes: 1, OfferedH2: 1, ALPNHTTP11: 1, H1Requests: 1}
	if got, want := stats(t, srv), (ServerStats{Conns: 2, TLSRequests: 1, TLS13: 1, ALPN: 1, OfferedH2: 1, H1: h1}); got != want {
		t.Errorf("Stats() after a GET over TLS = %+v, want %+v", got, want)
	}
	tr.CloseIdleConnections()

	// The listener of the cold bursts offers h2 too, and the same client
	// takes it; its counters are its own.
	resp, err = (&http.Client{Transport: tr}).Get(srv.H2URL + pathJSON)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Proto != "HTTP/2.0" || resp.TLS == nil || resp.TLS.NegotiatedProtocol != "h2" {
		t.Errorf("GET over TLS, h2 offered: %s, TLS %v; want HTTP/2.0 agreed by ALPN", resp.Proto, resp.TLS)
	}
	h2 := ListenerStats{Conns: 1, Used: 1, Handshakes: 1, OfferedH2: 1, ALPNH2: 1, H2Requests: 1}
	if got, want := stats(t, srv), (ServerStats{Conns: 3, TLSRequests: 1, TLS13: 1, ALPN: 1, OfferedH2: 1, H1: h1, H2: h2}); got != want {
		t.Errorf("Stats() after a GET with h2 offered = %+v, want %+v", got, want)
	}
	tr.CloseIdleConnections()
	// It announces the limit on streams it was given; reading it takes
	// a connection (and a handshake agreeing on h2) that carries no request.
	if got, err := srv.H2MaxConcurrentStreams(t.Context()); err != nil || got != h2MaxConcurrentStreams {
		t.Errorf("H2MaxConcurrentStreams() = %d, %v; want %d, nil", got, err, h2MaxConcurrentStreams)
	}
	h2 = ListenerStats{Conns: 2, Used: 1, Handshakes: 2, OfferedH2: 2, ALPNH2: 2, H2Requests: 1}
	if got := stats(t, srv).H2; got != h2 {
		t.Errorf("h2 listener's stats after H2MaxConcurrentStreams = %+v, want %+v", got, h2)
	}

	if err := srv.Stop(); err != nil {
		t.Fatalf("Stop() = %v, want nil", err)
	}
	if !srv.Exited() {
		t.Fatal("Exited() = false after Stop")
	}
	if err := srv.cmd.Process.Signal(syscall.Signal(0)); !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("signal to the stopped server = %v, want %v", err, os.ErrProcessDone)
	}
	if err := srv.Stop(); err != nil {
		t.Errorf("second Stop() = %v, want nil", err)
	}
	if _, err := srv.Stats(t.Context()); err == nil {
		t.Error("Stats() after Stop = nil error, want one")
	}
}

// contender returns the client of the throughput workloads named name.
func contender(t *testing.T, name string) Contender {
	t.Helper()
	for _, c := range contenders() {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no contender %q", name)
	return Contender{}
}

// countingWriter counts what is written to it and keeps nothing.
type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}

// allContenders lists both sets of clients, by a name that tells them apart.
func allContenders() map[string]Contender {
	m := map[string]Contender{}
	for _, c := range contenders() {
		m[c.Name] = c
	}
	for _, c := range retryContenders() {
		m["retry/"+c.Name] = c
	}
	return m
}

// TestClients runs every adapter against the server: each request kind
// must work, decode what was sent, and fail on a 503.
func TestClients(t *testing.T) {
	srv := startServer(t)
	ctx := t.Context()
	for name, con := range allContenders() {
		t.Run(name, func(t *testing.T) {
			before := stats(t, srv)
			c, err := con.New(nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if c.Name() != con.Name {
				t.Errorf("Name() = %q, want %q", c.Name(), con.Name)
			}

			var got Doc
			if err := c.GetJSON(ctx, srv.URL+pathJSON, &got); err != nil {
				t.Fatalf("GetJSON: %v", err)
			}
			if !reflect.DeepEqual(got, sampleDoc) {
				t.Errorf("GetJSON decoded %+v, want %+v", got, sampleDoc)
			}
			if n, err := c.GetBytes(ctx, srv.URL+pathBytes+"?n=300000"); err != nil || n != 300000 {
				t.Errorf("GetBytes(300000) = %d, %v; want 300000, nil", n, err)
			}
			got = Doc{}
			if err := c.PostJSON(ctx, srv.URL+pathJSON, &sampleDoc, &got); err != nil {
				t.Fatalf("PostJSON: %v", err)
			}
			if !reflect.DeepEqual(got, sampleDoc) {
				t.Errorf("PostJSON decoded %+v, want %+v", got, sampleDoc)
			}
			var w countingWriter
			if n, err := c.Download(ctx, srv.URL+pathBytes+"?n=3000000", &w); err != nil || n != 3000000 || w.n != n {
				t.Errorf("Download(3000000) = %d, %v, wrote %d; want 3000000, nil", n, err, w.n)
			}
			if err := c.GetJSON(ctx, srv.URL+pathFlaky+"?fail=1", &got); err == nil {
				t.Error("GetJSON of a 503 = nil error, want one")
			}
			if c.Close() != nil {
				t.Error("Close() failed")
			}
			after := stats(t, srv)
			if after.Conns <= before.Conns {
				t.Errorf("server saw %d new connections, want at least 1", after.Conns-before.Conns)
			}
			if after.Attempts <= before.Attempts {
				t.Errorf("server saw %d attempts on %s, want at least 1", after.Attempts-before.Attempts, pathFlaky)
			}
		})
	}
}

// TestClientsTLS sends a handful of JSON GETs over TLS with each client,
// trusting the server's certificate as its documentation shows, and checks
// what the server counted: every request over TLS 1.3 and HTTP/1.1, agreed
// by ALPN, on connections where the client offered h2 too; fasthttp alone
// offers no protocol.
func TestClientsTLS(t *testing.T) {
	srv := startServer(t)
	ctx := t.Context()
	const n = 5
	for name, con := range allContenders() {
		t.Run(name, func(t *testing.T) {
			before := stats(t, srv)
			c, err := con.New(srv.CertPEM)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			for range n {
				var got Doc
				if err := c.GetJSON(ctx, srv.TLSURL+pathJSON, &got); err != nil {
					t.Fatalf("GetJSON over TLS: %v", err)
				}
				if !reflect.DeepEqual(got, sampleDoc) {
					t.Fatalf("GetJSON over TLS decoded %+v, want %+v", got, sampleDoc)
				}
			}
			if c.Close() != nil {
				t.Error("Close() failed")
			}
			after := stats(t, srv)
			// One caller at a time: the first request opens a connection
			// and the others reuse it (net/http may dial one more while
			// the first goes back to its pool).
			conns := after.Conns - before.Conns
			if conns < 1 || conns > 2 {
				t.Errorf("server accepted %d connections for %d requests in a row, want 1 or 2", conns, n)
			}
			wantALPN, wantH2 := int64(n), conns
			if con.Name == nameFasthttp {
				wantALPN, wantH2 = 0, 0
			}
			got := [4]int64{after.TLSRequests - before.TLSRequests, after.TLS13 - before.TLS13, after.ALPN - before.ALPN, after.OfferedH2 - before.OfferedH2}
			if want := [4]int64{n, n, wantALPN, wantH2}; got != want {
				t.Errorf("requests over TLS, over TLS 1.3, with ALPN http/1.1; handshakes offering h2 = %v, want %v", got, want)
			}
			if after.Attempts != before.Attempts {
				t.Errorf("server saw %d attempts on %s, want none", after.Attempts-before.Attempts, pathFlaky)
			}
		})
	}
}

// TestClientsTLSUntrusted: without the server's certificate in its roots,
// every client fails the handshake, so the TLS workload measures the trust
// that New(rootPEM) sets up.
func TestClientsTLSUntrusted(t *testing.T) {
	srv := startServer(t)
	for _, con := range contenders() {
		t.Run(con.Name, func(t *testing.T) {
			c, err := con.New(nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var got Doc
			if err := c.GetJSON(t.Context(), srv.TLSURL+pathJSON, &got); err == nil {
				t.Error("GetJSON over TLS without the certificate = nil error, want one")
			}
		})
	}
	if got := stats(t, srv).TLSRequests; got != 0 {
		t.Errorf("server served %d requests over TLS, want none", got)
	}
}

func TestMeasureThroughput(t *testing.T) {
	srv := startServer(t)
	cfg := Config{Warmup: 20 * time.Millisecond, Measure: 50 * time.Millisecond, LargeBytes: 64 << 10, LargeConcurrency: 2, PostConcurrency: 2, Concurrency: []int{4}, TLSConcurrency: 4}
	for _, con := range contenders() {
		for _, w := range workloads(cfg) {
			t.Run(con.Name+"/"+w.ID, func(t *testing.T) {
				before := stats(t, srv)
				s, err := measureThroughput(t.Context(), srv, con, w, cfg)
				if err != nil {
					t.Fatal(err)
				}
				after := stats(t, srv)
				// Every request of the TLS workload, warm-up included,
				// goes over TLS, and those of the others do not.
				if got := after.TLSRequests - before.TLSRequests; w.TLS && got < s.Requests || !w.TLS && got != 0 {
					t.Errorf("server served %d requests over TLS (TLS workload: %v), %d measured", got, w.TLS, s.Requests)
				}
				// A client that churns connections may still be dialing when
				// the measured phase ends: one per caller at most is
				// accepted after it.
				if got, want := after.Conns-before.Conns, s.WarmupConns+s.NewConns; got < want || got > want+int64(w.Concurrency) {
					t.Errorf("server accepted %d connections, want %d (warm-up) + %d (measured), plus at most %d late", got, s.WarmupConns, s.NewConns, w.Concurrency)
				}
				if s.Requests <= 0 || s.Errors != 0 {
					t.Errorf("Requests, Errors = %d, %d; want > 0, 0", s.Requests, s.Errors)
				}
				if s.RPS <= 0 || s.AllocsPerReq <= 0 || s.BytesPerReq <= 0 {
					t.Errorf("RPS, AllocsPerReq, BytesPerReq = %v, %v, %v; want all > 0", s.RPS, s.AllocsPerReq, s.BytesPerReq)
				}
				if s.P50 <= 0 || s.P99 < s.P50 {
					t.Errorf("P50, P99 = %v, %v; want 0 < P50 <= P99", s.P50, s.P99)
				}
				// A fresh client has no connection: the warm-up opens them.
				if s.WarmupConns < 1 || s.NewConns < 0 {
					t.Errorf("WarmupConns, NewConns = %d, %d; want >= 1, >= 0", s.WarmupConns, s.NewConns)
				}
			})
		}
	}
	var ids []string
	for _, w := range workloads(cfg) {
		ids = append(ids, w.ID)
	}
	if want := []string{"get-json-c4", "get-json-c4-tls", "get-64KiB-c2", "post-json-c2"}; !slices.Equal(ids, want) {
		t.Errorf("workloads = %v, want %v", ids, want)
	}
}

func TestMeasureThroughputFailing(t *testing.T) {
	srv := startServer(t)
	w := Workload{ID: "fail", Concurrency: 2, path: pathFlaky + "?fail=1",
		do: func(ctx context.Context, c Client, url string) error { var d Doc; return c.GetJSON(ctx, url, &d) }}
	cfg := Config{Warmup: 10 * time.Millisecond, Measure: 10 * time.Millisecond}
	if _, err := measureThroughput(t.Context(), srv, contender(t, nameStdTuned), w, cfg); err == nil {
		t.Error("measureThroughput of a workload that always fails = nil error, want one")
	}
}

func TestMeasureDownload(t *testing.T) {
	srv := startServer(t)
	courier := contender(t, nameCourier)
	const size = 16 << 20
	s, err := measureDownload(t.Context(), srv, courier, size, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if s.Bytes != size || s.MiBPerSec <= 0 || s.Allocated <= 0 || s.PeakHeapGrowth < 0 {
		t.Errorf("streamed download = %+v; want %d bytes, positive rate and allocations", s, size)
	}
	// The meter must see a body that is held in memory.
	var buf bytes.Buffer
	s, err = measureDownload(t.Context(), srv, courier, size, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if s.PeakHeapGrowth < size {
		t.Errorf("buffered download: PeakHeapGrowth = %d, want at least %d", s.PeakHeapGrowth, size)
	}
}

// TestMeasureResilience checks the attempts the server counts against
// what each client is documented to do.
func TestMeasureResilience(t *testing.T) {
	srv := startServer(t)
	cons := map[string]Contender{}
	for _, c := range retryContenders() {
		cons[c.Name] = c
	}
	for _, tc := range []struct {
		client   string
		fail     float64
		requests int
		want     float64 // attempts per request, overall
	}{
		{nameCourier, 0, 40, 1},
		{nameRetryable, 0, 40, 1},
		{nameRestyV3, 0, 40, 1},
		{nameFailsafe, 0, 40, 1},
		{nameStdTuned, 0, 40, 1},
		{nameCourier, 1, 20, 3},   // DefaultMaxAttempts, the budget far from empty
		{nameRetryable, 1, 20, 5}, // RetryMax 4
		{nameRestyV3, 1, 20, 4},   // SetRetryCount(3)
		{nameFailsafe, 1, 20, 3},  // 2 retries
		{nameStdTuned, 1, 20, 1},
	} {
		t.Run(fmt.Sprintf("%s/%g", tc.client, tc.fail), func(t *testing.T) {
			fds := openFiles(t)
			s, err := measureResilience(t.Context(), srv, cons[tc.client], tc.fail, tc.requests, 4)
			if err != nil {
				t.Fatal(err)
			}
			// A client that leaves connections open would exhaust the
			// process's files over a full run.
			if leaked := openFiles(t) - fds; leaked > 2 {
				t.Errorf("%d more files open after the run, want none left behind", leaked)
			}
			if s.PerRequest != tc.want || s.PerRequestLastHalf != tc.want {
				t.Errorf("attempts per request = %v, last half %v; want %v", s.PerRequest, s.PerRequestLastHalf, tc.want)
			}
			if wantOK := 1 - tc.fail; s.Succeeded != wantOK {
				t.Errorf("Succeeded = %v, want %v", s.Succeeded, wantOK)
			}
		})
	}
}

// openFiles counts this process's open files (Linux only).
func openFiles(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("cannot count open files:", err)
	}
	return len(fds)
}

// TestCourierBudgetSteadyState: once courier's retry budget has drained
// against a host that fails everything, each request is one attempt.
func TestCourierBudgetSteadyState(t *testing.T) {
	srv := startServer(t)
	s, err := measureResilience(t.Context(), srv, contender(t, nameCourier), 1, 240, 8)
	if err != nil {
		t.Fatal(err)
	}
	if s.PerRequest <= 1 || s.PerRequestLastHalf != 1 {
		t.Errorf("attempts per request = %v, last half %v; want > 1, then 1", s.PerRequest, s.PerRequestLastHalf)
	}
}

// TestColdBurst sends every cold burst, in miniature, with every client,
// and checks what the server counted: every request served, over h2 when
// it was offered (fasthttp, which has no HTTP/2, is left out of that one)
// and over HTTP/1.1 otherwise, on at least one new connection, each
// handshake agreeing on the protocol by ALPN (fasthttp offers none). It
// asserts no timing, and no connection count beyond what is sane: with
// h2 offered the clients built on net/http dial before they know the
// protocol, so they may open more connections than they need.
func TestColdBurst(t *testing.T) {
	srv := startServer(t)
	cfg := Config{ColdBurst: 50, ColdCallers: 8, ColdRequests: 200}
	bs := bursts(cfg)
	var ids []string
	for _, b := range bs {
		ids = append(ids, b.ID)
	}
	if want := []string{"h2-c50", "http11-c50", "http11-c8-n200"}; !slices.Equal(ids, want) {
		t.Fatalf("bursts = %v, want %v", ids, want)
	}
	for _, con := range contenders() {
		for _, b := range bs {
			if b.H2 && !hasHTTP2(con.Name) {
				continue
			}
			t.Run(con.Name+"/"+b.ID, func(t *testing.T) {
				s, err := measureColdBurst(t.Context(), srv, con, b)
				if err != nil {
					t.Fatal(err)
				}
				if s.Requests != int64(b.Requests) || s.Errors != 0 {
					t.Errorf("Requests, Errors = %d, %d (%s); want %d, 0", s.Requests, s.Errors, s.Error, b.Requests)
				}
				h2, h1 := s.H2Requests, s.H1Requests
				if !b.H2 {
					h2, h1 = h1, h2
				}
				if h2 != int64(b.Requests) || h1 != 0 {
					t.Errorf("server served %d requests over h2 and %d over HTTP/1.1, want all %d over the protocol offered (h2 offered: %v)",
						s.H2Requests, s.H1Requests, b.Requests, b.H2)
				}
				if s.NewConns < 1 || s.UsedConns < 1 || s.UsedConns > s.NewConns || s.UsedConns > int64(b.Requests) {
					t.Errorf("NewConns, UsedConns = %d, %d; want 1 <= used <= new, and used <= %d requests", s.NewConns, s.UsedConns, b.Requests)
				}
				// Over HTTP/1.1, each request dials once at most.
				if !b.H2 && s.NewConns > int64(b.Requests) {
					t.Errorf("NewConns = %d over HTTP/1.1 for %d requests, want at most one each", s.NewConns, b.Requests)
				}
				alpn, other := s.ALPNH2, s.ALPNHTTP11
				if !b.H2 {
					alpn, other = other, alpn
				}
				if con.Name == nameFasthttp {
					alpn = s.Handshakes - alpn // it offers no protocol, so none is agreed
				}
				if s.Handshakes < s.UsedConns || s.Handshakes > s.NewConns || alpn != s.Handshakes || other != 0 {
					t.Errorf("Handshakes, ALPN h2, ALPN http/1.1 = %d, %d, %d; want all agreeing on the protocol offered, between %d used and %d new connections",
						s.Handshakes, s.ALPNH2, s.ALPNHTTP11, s.UsedConns, s.NewConns)
				}
				if s.Elapsed <= 0 {
					t.Errorf("Elapsed = %v, want > 0", s.Elapsed)
				}
				t.Logf("%d new connections, %d used, %d handshakes; %d server errors %s", s.NewConns, s.UsedConns, s.Handshakes, s.ServerErrors, s.ServerError)
			})
		}
	}
}

func TestIdealConns(t *testing.T) {
	for _, tc := range []struct {
		b          Burst
		maxStreams uint32
		want       int64
	}{
		{Burst{H2: true, Callers: 1000, Requests: 1000}, 250, 4},
		{Burst{H2: true, Callers: 1001, Requests: 1001}, 250, 5},
		{Burst{H2: true, Callers: 50, Requests: 50}, 250, 1},
		{Burst{H2: true, Callers: 50, Requests: 50}, 0, 1}, // no limit
		{Burst{Callers: 1000, Requests: 1000}, 250, 1000},
		{Burst{Callers: 32, Requests: 4000}, 250, 32},
	} {
		if got := idealConns(tc.b, tc.maxStreams); got != tc.want {
			t.Errorf("idealConns(%+v, %d) = %d, want %d", tc.b, tc.maxStreams, got, tc.want)
		}
	}
}

func TestProtocolOf(t *testing.T) {
	for _, tc := range []struct {
		ss   []BurstSample
		want string
	}{
		{[]BurstSample{{H2Requests: 10}, {H2Requests: 10}}, "h2"},
		{[]BurstSample{{H1Requests: 10}}, "http/1.1"},
		{[]BurstSample{{H2Requests: 9, H1Requests: 1}, {H2Requests: 10}}, "h2 (95%) + http/1.1"},
		{nil, "none"},
	} {
		if got := protocolOf(tc.ss); got != tc.want {
			t.Errorf("protocolOf(%+v) = %q, want %q", tc.ss, got, tc.want)
		}
	}
}

// TestRun runs the whole benchmark in miniature and checks both outputs.
func TestRun(t *testing.T) {
	srv := startServer(t)
	cfg := Config{
		Mode: "test", Runs: 2, Warmup: 10 * time.Millisecond, Measure: 30 * time.Millisecond,
		Concurrency: []int{1, 4}, TLSConcurrency: 4, LargeBytes: 64 << 10, LargeConcurrency: 2, PostConcurrency: 2,
		DownloadBytes: 1 << 20, RetryRequests: 10, RetryConcurrency: 2, FailureRates: []float64{0, 0.5},
		ColdBurst: 20, ColdCallers: 4, ColdRequests: 40,
		Clients: []string{nameCourier, nameStdTuned, nameRestyV3, nameFasthttp},
	}
	var progress bytes.Buffer
	rep, err := Run(t.Context(), cfg, srv, nil, &progress)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(rep.Throughput), 5*4; got != want {
		t.Errorf("%d throughput results, want %d", got, want)
	}
	for _, r := range rep.Throughput {
		if len(r.Samples) != cfg.Runs || r.Median.RPS <= 0 || r.Median.AllocsPerReq <= 0 {
			t.Errorf("%s %s: %d samples, median %+v", r.Label, r.Client, len(r.Samples), r.Median)
		}
		if r.Client == nameStdTuned && r.RPSRatio != 1 {
			t.Errorf("%s: tuned net/http RPSRatio = %v, want 1", r.Label, r.RPSRatio)
		}
	}
	if got, want := len(rep.Download), 4; got != want {
		t.Errorf("%d download results, want %d", got, want)
	}
	if got, want := len(rep.Resilience), 2*3; got != want { // courier, resty-v3, nethttp-tuned
		t.Errorf("%d resilience results, want %d", got, want)
	}
	// Three bursts for each client, but fasthttp, which has no HTTP/2,
	// skips the one with h2 offered.
	if got, want := len(rep.ColdBurst), 3*4-1; got != want {
		t.Errorf("%d cold-burst results, want %d", got, want)
	}
	for _, x := range rep.ColdBurst {
		if len(x.Samples) != cfg.Runs || x.Median.NewConns <= 0 || x.Median.Errors != 0 || x.Median.Elapsed <= 0 {
			t.Errorf("cold burst %s, %s: %d samples, median %+v", x.Label, x.Client, len(x.Samples), x.Median)
		}
	}
	if rep.H2MaxConcurrentStreams != h2MaxConcurrentStreams {
		t.Errorf("H2MaxConcurrentStreams = %d, want %d", rep.H2MaxConcurrentStreams, h2MaxConcurrentStreams)
	}
	if len(rep.Targets) == 0 {
		t.Error("no targets checked")
	}
	if !strings.Contains(progress.String(), "run 2/2") {
		t.Errorf("progress does not report run 2/2:\n%s", progress.String())
	}

	var md bytes.Buffer
	if err := rep.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| GET JSON, c=4 | courier |", "| GET JSON, c=4, TLS | courier |", "### Streamed download of 1MiB", "| resty-v3 | 50% |",
		"| h2 offered, 20 at once | courier | h2 |", "| HTTP/1.1 only, 20 at once | fasthttp | http/1.1 |", "| HTTP/1.1 only, 4 callers, 40 GETs | resty-v3 | http/1.1 |", "### Targets"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md.String())
		}
	}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, *rep) {
		t.Errorf("JSON round trip changed the report:\n%s", js.String())
	}
}

// syntheticReport has courier, tuned net/http and the retrying peers at
// concurrency 64, with courier at 90% of tuned net/http's rate, and the same
// over TLS, where courier is 80% of tuned net/http and the peers far behind.
func syntheticReport() *Report {
	tp := func(client string, rps, allocs float64, conns int64) ThroughputResult {
		return ThroughputResult{Workload: "get-json-c64", Label: "GET JSON, c=64", Concurrency: 64, JSONGet: true, Client: client,
			Median: Sample{RPS: rps, AllocsPerReq: allocs, NewConns: conns, P50: 2 * time.Millisecond, P99: 9 * time.Millisecond, CPUPerReq: 30 * time.Microsecond}}
	}
	overTLS := func(client string, rps, allocs float64, conns int64) ThroughputResult {
		t := tp(client, rps, allocs, conns)
		t.Workload, t.Label, t.TLS = "get-json-c64-tls", "GET JSON, c=64, TLS", true
		return t
	}
	r := &Report{
		Date: "2026-11-24", Config: Config{Mode: "quick", Runs: 3, DownloadBytes: 1 << 30, RetryRequests: 100},
		Machine: Machine{CPUs: 2, GoVersion: "go1.26.8", OS: "linux", Arch: "amd64"},
		Throughput: []ThroughputResult{
			tp(nameCourier, 9000, 80, 70), tp(nameStdTuned, 10000, 70, 0),
			tp(nameRestyV3, 5000, 90, 300), tp(nameRetryable, 7000, 80, 400),
			overTLS(nameCourier, 8000, 72, 0), overTLS(nameStdTuned, 10000, 70, 0),
			overTLS(nameRestyV3, 1000, 400, 300), overTLS(nameRetryable, 6000, 400, 400),
		},
		Download:   []DownloadResult{{Client: nameCourier, Median: DownloadSample{PeakHeapGrowth: 1 << 20}}},
		Resilience: []ResilienceResult{{Client: nameCourier, FailureRate: 1, Median: RetrySample{PerRequest: 1.05, PerRequestLastHalf: 1}}},
		ColdBurst: []ColdBurstResult{
			{Burst: "h2-c1000", Label: "h2 offered, 1,000 at once", H2Offered: true, Callers: 1000, Requests: 1000, Client: nameCourier,
				IdealConns: 4, Protocol: "h2", Median: BurstSample{Requests: 1000, NewConns: 271, UsedConns: 7, Elapsed: 341 * time.Millisecond}},
			{Burst: "http11-c1000", Label: "HTTP/1.1 only, 1,000 at once", Callers: 1000, Requests: 1000, Client: nameFasthttp,
				IdealConns: 1000, Protocol: "http/1.1", Median: BurstSample{Requests: 1000, NewConns: 512, UsedConns: 512, Errors: 488,
					Elapsed: 369 * time.Millisecond, Error: "no free connections", ServerErrors: 2, ServerError: "TLS handshake error"}},
		},
		H2MaxConcurrentStreams: 250,
	}
	r.addRatios()
	r.Targets = r.checkTargets()
	return r
}

func TestTargets(t *testing.T) {
	got := map[string]bool{}
	for _, tg := range syntheticReport().Targets {
		got[tg.Name] = tg.Pass
	}
	want := map[string]bool{
		"req/s ≥ 0.95 × tuned net/http, GET JSON, c=64":                          false, // 0.90×
		"req/s ≥ 1.5 × resty-v3, GET JSON, c=64":                                 true,  // 1.80×
		"req/s ≥ 1.5 × retryablehttp, GET JSON, c=64":                            false, // 1.29×
		"new connections after warm-up ≤ concurrency, GET JSON, c=64":            false, // 70
		"allocations/request ≤ 1.1 × tuned net/http, GET JSON, c=64":             false, // 1.14×
		"streamed 1GiB download: peak heap growth < 8.0 MiB":                     true,
		"attempts per request at 100% failure ≤ 1.1 in steady state (last half)": true,
		// Over TLS the same targets but 0.95 × tuned net/http.
		"req/s ≥ 1.5 × resty-v3, GET JSON, c=64, TLS":                      true,  // 8.00×
		"req/s ≥ 1.5 × retryablehttp, GET JSON, c=64, TLS":                 false, // 1.33×
		"new connections after warm-up ≤ concurrency, GET JSON, c=64, TLS": true,
		"allocations/request ≤ 1.1 × tuned net/http, GET JSON, c=64, TLS":  true, // 1.03×
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("targets = %v\nwant %v", got, want)
	}
}

// TestCompare: ratios pair each run with the same run of the baseline.
func TestCompare(t *testing.T) {
	samples := func(rps ...float64) []Sample {
		var ss []Sample
		for _, x := range rps {
			ss = append(ss, Sample{RPS: x})
		}
		return ss
	}
	r := &Report{Throughput: []ThroughputResult{
		{Workload: "w", Client: nameCourier, Samples: samples(9, 22, 10)},
		{Workload: "w", Client: nameStdTuned, Samples: samples(10, 20, 5)},
	}}
	got, runs := r.compare("w", nameCourier, nameStdTuned, func(s Sample) float64 { return s.RPS })
	if want := []float64{0.9, 1.1, 2}; got != 1.1 || !slices.Equal(runs, want) {
		t.Errorf("compare = %v, %v; want 1.1, %v", got, runs, want)
	}
	if got, _ := r.compare("w", nameCourier, nameFasthttp, func(s Sample) float64 { return s.RPS }); got != 0 {
		t.Errorf("compare with an unmeasured client = %v, want 0", got)
	}
}

func TestWriteMarkdown(t *testing.T) {
	var b bytes.Buffer
	if err := syntheticReport().WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"Measured 2026-11-24, quick mode: 2 CPUs, go1.26.8 linux/amd64",
		"| GET JSON, c=64 | courier | 9,000 | 0.90× | 2ms | 9ms | 30µs | 80.0 |",
		"| GET JSON, c=64 | nethttp-tuned | 10,000 | 1.00× |",
		"| req/s ≥ 0.95 × tuned net/http, GET JSON, c=64 | 0.90× (9,000 vs 10,000 req/s) | FAIL |",
		"| allocations/request ≤ 1.1 × tuned net/http, GET JSON, c=64 | 1.14× (80.0 vs 70.0) | FAIL |",
		"| streamed 1GiB download: peak heap growth < 8.0 MiB | 1.0 MiB | pass |",
		"| GET JSON, c=64, TLS | courier | 8,000 | 0.80× |",
		"| req/s ≥ 1.5 × resty-v3, GET JSON, c=64, TLS | 8.00× (8,000 vs 1,000 req/s) | pass |",
		"6 of 11 targets met.",
		"allows 250 concurrent streams per HTTP/2 connection",
		"| h2 offered, 1,000 at once | courier | h2 | 271 | 7 | 4 | 341ms | 0 |",
		"| HTTP/1.1 only, 1,000 at once | fasthttp | http/1.1 | 512 | 512 | ≤ 1,000 | 369ms | 488 |",
		`fasthttp, HTTP/1.1 only, 1,000 at once: "no free connections"`,
		`fasthttp, HTTP/1.1 only, 1,000 at once: 2 ("TLS handshake error")`,
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

func TestWriteChart(t *testing.T) {
	file := filepath.Join(t.TempDir(), "rps.png")
	if err := syntheticReport().WriteChart(file); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")) {
		t.Errorf("%s is not a PNG (starts %q)", file, data[:min(len(data), 8)])
	}
	if err := (&Report{}).WriteChart(file); err == nil {
		t.Error("WriteChart with no results = nil error, want one")
	}
	// The chart is of plain HTTP: a report with TLS results alone has
	// nothing to draw.
	r := syntheticReport()
	r.Throughput = slices.DeleteFunc(r.Throughput, func(t ThroughputResult) bool { return !t.TLS })
	if err := r.WriteChart(file); err == nil {
		t.Error("WriteChart with TLS results only = nil error, want one")
	}
}

func TestHistogram(t *testing.T) {
	var h histogram
	for i := 1; i <= 1000; i++ {
		h.record(time.Duration(i) * time.Microsecond)
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Microsecond}, {0.99, 990 * time.Microsecond}, {1, time.Millisecond}} {
		got := h.quantile(tc.q)
		if d := float64(got-tc.want) / float64(tc.want); d < -0.03 || d > 0.03 {
			t.Errorf("quantile(%v) = %v, want %v within 3%%", tc.q, got, tc.want)
		}
	}
	for v := range uint64(100000) {
		if got := histValue(histBucket(v)); v >= 64 && (float64(got) < float64(v)*0.97 || float64(got) > float64(v)*1.03) {
			t.Fatalf("histValue(histBucket(%d)) = %d, want within 3%%", v, got)
		}
	}
	if got := (&histogram{}).quantile(0.5); got != 0 {
		t.Errorf("quantile of an empty histogram = %v, want 0", got)
	}
}

func TestOrder(t *testing.T) {
	cs := []Contender{{Name: "a"}, {Name: "b"}, {Name: "c"}, {Name: "d"}}
	names := func(r int) string {
		var s []string
		for _, c := range order(cs, r) {
			s = append(s, c.Name)
		}
		return strings.Join(s, "")
	}
	for r, want := range []string{"abcd", "dcba", "bcda", "adcb", "cdab"} {
		if got := names(r); got != want {
			t.Errorf("order(run %d) = %s, want %s", r, got, want)
		}
	}
}

func TestMedian(t *testing.T) {
	if got := median([]float64{3, 1, 2}); got != 2 {
		t.Errorf("median(3, 1, 2) = %v, want 2", got)
	}
	if got := median([]int64{4, 1, 3, 2}); got != 2 {
		t.Errorf("median(4, 1, 3, 2) = %v, want 2 (integer mean of 2 and 3)", got)
	}
	if got := median([]time.Duration(nil)); got != 0 {
		t.Errorf("median() = %v, want 0", got)
	}
}

func TestParseSections(t *testing.T) {
	for _, tc := range []struct {
		only  string
		quick bool
		want  []string
	}{
		{"", false, nil}, // all
		{"", true, []string{sectionRequests, sectionDownload, sectionResilience}},
		{"coldburst", true, []string{sectionColdBurst}},
		{"download, coldburst", false, []string{sectionDownload, sectionColdBurst}},
	} {
		got, err := parseSections(tc.only, tc.quick)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("parseSections(%q, %v) = %q, %v; want %q, nil", tc.only, tc.quick, got, err, tc.want)
		}
	}
	if _, err := parseSections("requests,bursts", false); err == nil {
		t.Error("parseSections with an unknown section = nil error, want one")
	}
}

func TestRunFlags(t *testing.T) {
	for _, args := range [][]string{{"-nope"}, {"-only", "everything"}, {"extra"}} {
		if err := run(args, io.Discard, io.Discard); err == nil {
			t.Errorf("run(%q) = nil error, want one", args)
		}
	}
}

func TestKeep(t *testing.T) {
	var got []string
	for _, c := range keep(contenders(), []string{nameFasthttp, nameCourier, "unknown"}) {
		got = append(got, c.Name)
	}
	if want := []string{nameCourier, nameFasthttp}; !slices.Equal(got, want) {
		t.Errorf("keep = %v, want %v", got, want)
	}
	if got := len(keep(contenders(), nil)); got != len(contenders()) {
		t.Errorf("keep(nil) kept %d, want all %d", got, len(contenders()))
	}
}
