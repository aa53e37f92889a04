package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	cryptorand "crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// serverEnv, set to "1" in the environment, makes the bench binary (or the
// test binary) serve instead of benchmark: that is how the server gets a
// process of its own, so that the client process's allocations and CPU are
// the client's alone.
const serverEnv = "COURIER_BENCH_SERVER"

// Doc is the small JSON document the server sends and the clients decode
// (about 100 bytes, like a typical API object).
type Doc struct {
	ID     int      `json:"id"`
	Name   string   `json:"name"`
	Email  string   `json:"email"`
	Active bool     `json:"active"`
	Tags   []string `json:"tags"`
}

// sampleDoc is the document the server answers with.
var sampleDoc = Doc{ID: 42, Name: "Ada Lovelace", Email: "ada@example.com", Active: true, Tags: []string{"admin", "math"}}

// Paths served by the server process.
const (
	pathJSON   = "/json"   // GET: sampleDoc; POST: reads a JSON body, answers sampleDoc
	pathBytes  = "/bytes"  // GET ?n=N: N bytes of application/octet-stream
	pathFlaky  = "/flaky"  // GET ?fail=P: 503 with probability P, else sampleDoc
	pathStats  = "/stats"  // control listener only: ServerStats as JSON
	chunkBytes = 256 << 10 // what /bytes writes at a time
)

// h2MaxConcurrentStreams is the most streams the listener that offers
// HTTP/2 lets a client have open at once on one connection (Go's default,
// set explicitly). The benchmark reads the figure it reports from the
// server's SETTINGS frame (Server.H2MaxConcurrentStreams), not from here.
const h2MaxConcurrentStreams = 250

// ServerStats are the server's counters, read over its control listener.
type ServerStats struct {
	// Conns counts the connections the data listeners, plain and both
	// TLS ones, accepted (http.StateNew), since the server started. Over
	// TLS each is also a full handshake: no client here keeps TLS
	// sessions to resume (tls.Config.ClientSessionCache).
	Conns int64 `json:"conns"`
	// Attempts counts the requests to /flaky, each attempt of a
	// logical request included.
	Attempts int64 `json:"attempts"`
	// TLSRequests counts the requests served over TLS, all of them
	// HTTP/1.1, the only protocol the TLS listener offers. Of those,
	// TLS13 came over TLS 1.3, and ALPN over connections where the
	// client offered protocols by ALPN and "http/1.1" was agreed (the
	// others offered none, which means HTTP/1.1 too).
	TLSRequests int64 `json:"tls_requests"`
	TLS13       int64 `json:"tls13"`
	ALPN        int64 `json:"alpn"`
	// OfferedH2 counts the TLS handshakes in which the client offered
	// HTTP/2 ("h2") by ALPN, which the server declines.
	OfferedH2 int64 `json:"offered_h2"`
	// H1 counts, once more and per connection, what the HTTP/1.1-only
	// TLS listener (Server.TLSURL) saw; H2 the same for the TLS listener
	// that offers HTTP/2 as well (Server.H2URL). The cold-burst section
	// reads them.
	H1 ListenerStats `json:"tls_http11_listener"`
	H2 ListenerStats `json:"tls_h2_listener"`
}

// ListenerStats are the counters of one TLS listener.
type ListenerStats struct {
	// Conns counts the connections it accepted (http.StateNew), Used
	// those of them that carried at least one request.
	Conns int64 `json:"conns"`
	Used  int64 `json:"used"`
	// OfferedH2 counts the handshakes in which the client offered h2.
	// Handshakes counts those that reached the server's check of the
	// connection (tls.Config.VerifyConnection: ALPN settled, the client's
	// Finished not yet read; a client may still abandon it), and of
	// those, ALPN agreed on h2 in ALPNH2 and on http/1.1 in ALPNHTTP11
	// (the others agreed on nothing: HTTP/1.1).
	Handshakes int64 `json:"handshakes"`
	OfferedH2  int64 `json:"offered_h2"`
	ALPNH2     int64 `json:"alpn_h2"`
	ALPNHTTP11 int64 `json:"alpn_http11"`
	// H2Requests and H1Requests count the requests served over HTTP/2
	// and over HTTP/1.1.
	H2Requests int64 `json:"h2_requests"`
	H1Requests int64 `json:"http11_requests"`
	// Errors counts the lines the http.Server logged (its ErrorLog),
	// such as a TLS handshake the client abandoned; LastError is the
	// latest.
	Errors    int64  `json:"errors"`
	LastError string `json:"last_error,omitempty"`
}

// listenerCounters are a TLS listener's counters as the server keeps them.
type listenerCounters struct {
	conns, used, handshakes, offeredH2, alpnH2, alpnHTTP11, h2Requests, h1Requests, errors atomic.Int64
	lastError                                                                              atomic.Pointer[string]
}

func (l *listenerCounters) stats() ListenerStats {
	st := ListenerStats{
		Conns: l.conns.Load(), Used: l.used.Load(),
		Handshakes: l.handshakes.Load(), OfferedH2: l.offeredH2.Load(),
		ALPNH2: l.alpnH2.Load(), ALPNHTTP11: l.alpnHTTP11.Load(),
		H2Requests: l.h2Requests.Load(), H1Requests: l.h1Requests.Load(),
		Errors: l.errors.Load(),
	}
	if p := l.lastError.Load(); p != nil {
		st.LastError = *p
	}
	return st
}

// Write counts a line of the server's error log (log.Logger writes one
// line per call) instead of printing it.
func (l *listenerCounters) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(p))
	l.lastError.Store(&line)
	l.errors.Add(1)
	return len(p), nil
}

// connUsedKey is the context key under which a connection's context holds
// its *atomic.Bool, set by its first request.
type connUsedKey struct{}

// count wraps a TLS server so that l counts its connections, handshakes,
// requests and logged errors, and h serves the requests.
func (l *listenerCounters) count(srv *http.Server, h http.Handler) {
	srv.ErrorLog = log.New(l, "", 0)
	prev := srv.ConnState
	srv.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			l.conns.Add(1)
		}
		if prev != nil {
			prev(c, s)
		}
	}
	srv.ConnContext = func(ctx context.Context, _ net.Conn) context.Context {
		return context.WithValue(ctx, connUsedKey{}, new(atomic.Bool))
	}
	cfg := srv.TLSConfig
	prevHello := cfg.GetConfigForClient
	cfg.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		if slices.Contains(hello.SupportedProtos, "h2") {
			l.offeredH2.Add(1)
		}
		if prevHello != nil {
			return prevHello(hello)
		}
		return nil, nil // this config
	}
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		l.handshakes.Add(1)
		switch cs.NegotiatedProtocol {
		case "h2":
			l.alpnH2.Add(1)
		case "http/1.1":
			l.alpnHTTP11.Add(1)
		}
		return nil
	}
	srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if used, ok := r.Context().Value(connUsedKey{}).(*atomic.Bool); ok && used.CompareAndSwap(false, true) {
			l.used.Add(1)
		}
		if r.ProtoMajor == 2 {
			l.h2Requests.Add(1)
		} else {
			l.h1Requests.Add(1)
		}
		h.ServeHTTP(w, r)
	})
}

// serve runs the server process: it listens on four loopback ports, one
// for the benchmark's plain HTTP traffic, one for the same over TLS
// (HTTP/1.1 only), one over TLS offering HTTP/2 and HTTP/1.1, and one for
// control (so that reading the counters opens no connection the counters
// see). It prints "DATA CONTROL TLSDATA H2DATA CERT" on out, where CERT is
// the base64 of the PEM of the TLS listeners' self-signed certificate, and
// serves until in reaches its end (the parent closed the pipe or died).
func serve(in io.Reader, out io.Writer) error {
	cert, certPEM, err := selfSigned()
	if err != nil {
		return err
	}
	var lns []net.Listener
	for range 4 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return err
		}
		lns = append(lns, ln)
	}
	data, control, tlsData, h2Data := lns[0], lns[1], lns[2], lns[3]
	var stats struct {
		conns, attempts, tlsRequests, tls13, alpn, offeredH2 atomic.Int64
		h1, h2                                               listenerCounters
	}
	doc, err := json.Marshal(sampleDoc)
	if err != nil {
		return err
	}
	chunk := make([]byte, chunkBytes)
	for i := range chunk {
		chunk[i] = byte('a' + i%26)
	}

	mux := http.NewServeMux()
	writeDoc := func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(doc)))
		w.Write(doc)
	}
	mux.HandleFunc("GET "+pathJSON, func(w http.ResponseWriter, r *http.Request) { writeDoc(w) })
	mux.HandleFunc("POST "+pathJSON, func(w http.ResponseWriter, r *http.Request) {
		var in Doc
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		writeDoc(w)
	})
	mux.HandleFunc("GET "+pathBytes, func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.ParseInt(r.URL.Query().Get("n"), 10, 64)
		if err != nil || n < 0 {
			http.Error(w, "bad n", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		for n > 0 {
			m, err := w.Write(chunk[:min(n, int64(len(chunk)))])
			if err != nil {
				return
			}
			n -= int64(m)
		}
	})
	mux.HandleFunc("GET "+pathFlaky, func(w http.ResponseWriter, r *http.Request) {
		stats.attempts.Add(1)
		fail, _ := strconv.ParseFloat(r.URL.Query().Get("fail"), 64)
		if rand.Float64() < fail {
			// Retry-After: 0 lets the clients that obey the hint as their
			// wait (retryablehttp, resty, failsafe-go) retry at once rather
			// than after seconds of backoff; it changes no attempt count.
			w.Header().Set("Retry-After", "0")
			http.Error(w, "overloaded", http.StatusServiceUnavailable)
			return
		}
		writeDoc(w)
	})
	countConns := func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			stats.conns.Add(1)
		}
	}
	srv := &http.Server{Handler: mux, ConnState: countConns}
	// The TLS listener offers HTTP/1.1 alone, so that the clients that
	// would take HTTP/2 (courier, net/http, resty, retryablehttp) are
	// compared with the others on the same protocol.
	var h1 http.Protocols
	h1.SetHTTP1(true)
	tsrv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			stats.tlsRequests.Add(1)
			if r.TLS.Version == tls.VersionTLS13 {
				stats.tls13.Add(1)
			}
			if r.TLS.NegotiatedProtocol == "http/1.1" {
				stats.alpn.Add(1)
			}
			mux.ServeHTTP(w, r)
		}),
		ConnState: countConns,
		Protocols: &h1,
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{cert},
			GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
				if slices.Contains(hello.SupportedProtos, "h2") {
					stats.offeredH2.Add(1)
				}
				return nil, nil // this config
			},
		},
	}
	stats.h1.count(tsrv, tsrv.Handler)
	// The cold-burst section's other listener offers HTTP/2 and HTTP/1.1
	// by ALPN, with an explicit limit on concurrent streams.
	var both http.Protocols
	both.SetHTTP1(true)
	both.SetHTTP2(true)
	h2srv := &http.Server{
		ConnState: countConns,
		Protocols: &both,
		HTTP2:     &http.HTTP2Config{MaxConcurrentStreams: h2MaxConcurrentStreams},
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}},
	}
	stats.h2.count(h2srv, mux)
	ctl := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != pathStats {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(ServerStats{
			Conns: stats.conns.Load(), Attempts: stats.attempts.Load(),
			TLSRequests: stats.tlsRequests.Load(), TLS13: stats.tls13.Load(), ALPN: stats.alpn.Load(),
			OfferedH2: stats.offeredH2.Load(),
			H1:        stats.h1.stats(), H2: stats.h2.stats(),
		})
	})}
	go srv.Serve(data)
	go tsrv.ServeTLS(tlsData, "", "")
	go h2srv.ServeTLS(h2Data, "", "")
	go ctl.Serve(control)
	if _, err := fmt.Fprintf(out, "%s %s %s %s %s\n", data.Addr(), control.Addr(), tlsData.Addr(), h2Data.Addr(),
		base64.StdEncoding.EncodeToString(certPEM)); err != nil {
		return err
	}
	io.Copy(io.Discard, in)
	ctl.Close()
	return errors.Join(h2srv.Close(), tsrv.Close(), srv.Close())
}

// selfSigned makes the TLS listener's certificate: ECDSA P-256,
// self-signed, for 127.0.0.1, ::1 and localhost, valid for a day. It
// returns it with its PEM, which the clients add to their roots.
func selfSigned() (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), cryptorand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	serial, err := cryptorand.Int(cryptorand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "courier bench"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(cryptorand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	cert, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	return cert, certPEM, err
}

// Server is the handle on a server process started by StartServer.
type Server struct {
	// URL is the base URL of the data listener, such as
	// "http://127.0.0.1:41234".
	URL string
	// TLSURL is the base URL of the TLS data listener, such as
	// "https://127.0.0.1:41236", which serves the same paths over
	// HTTP/1.1. Its certificate, CertPEM, is self-signed: clients trust
	// it by adding it to their roots.
	TLSURL  string
	CertPEM []byte
	// H2URL is the base URL of the TLS listener that offers HTTP/2 and
	// HTTP/1.1 by ALPN (same certificate, same paths), for the cold-burst
	// section.
	H2URL string

	controlURL string
	control    *http.Client
	cmd        *exec.Cmd
	stdin      io.WriteCloser
	exited     chan struct{}
}

// StartServer starts the server process: this executable again, with
// serverEnv set. The caller must Stop it. The child also exits by itself
// when this process dies, since its standard input then closes.
func StartServer() (*Server, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), serverEnv+"=1")
	if os.Getenv("GORACE") == "" {
		// A race-enabled binary (go test -race) otherwise waits a second
		// before it exits.
		cmd.Env = append(cmd.Env, "GORACE=atexit_sleep_ms=0")
	}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start server: %w", err)
	}
	s := &Server{cmd: cmd, stdin: stdin, exited: make(chan struct{})}
	go func() {
		cmd.Wait() // the child writes nothing after its first line
		close(s.exited)
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	fields := strings.Fields(line)
	if err != nil || len(fields) != 5 {
		s.Stop()
		return nil, fmt.Errorf("start server: read addresses: %q, %v", line, err)
	}
	if s.CertPEM, err = base64.StdEncoding.DecodeString(fields[4]); err != nil {
		s.Stop()
		return nil, fmt.Errorf("start server: read certificate: %w", err)
	}
	s.URL = "http://" + fields[0]
	s.controlURL = "http://" + fields[1]
	s.TLSURL = "https://" + fields[2]
	s.H2URL = "https://" + fields[3]
	s.control = &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
	return s, nil
}

// Stats reads the server's counters over the control listener.
func (s *Server) Stats(ctx context.Context) (ServerStats, error) {
	var st ServerStats
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.controlURL+pathStats, nil)
	if err != nil {
		return st, err
	}
	resp, err := s.control.Do(req)
	if err != nil {
		return st, fmt.Errorf("server stats: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("server stats: %s", resp.Status)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// H2MaxConcurrentStreams reads the most streams the listener at H2URL lets
// a client have open at once on one connection, from the wire: it opens a
// connection, agrees on h2, sends the client preface and reads the
// SETTINGS frame the server sends first (RFC 9113, section 3.4), for its
// SETTINGS_MAX_CONCURRENT_STREAMS. It returns 0 when the server sets no
// limit. The connection counts in the listener's Conns, not in its Used.
func (s *Server) H2MaxConcurrentStreams(ctx context.Context) (uint32, error) {
	d := tls.Dialer{Config: &tls.Config{RootCAs: rootPool(s.CertPEM), NextProtos: []string{"h2"}}}
	conn, err := d.DialContext(ctx, "tcp", strings.TrimPrefix(s.H2URL, "https://"))
	if err != nil {
		return 0, fmt.Errorf("h2 settings: %w", err)
	}
	defer conn.Close()
	if p := conn.(*tls.Conn).ConnectionState().NegotiatedProtocol; p != "h2" {
		return 0, fmt.Errorf("h2 settings: ALPN agreed on %q, want h2", p)
	}
	if err := conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return 0, err
	}
	const (
		frameSettings     = 0x4
		flagAck           = 0x1
		settingMaxStreams = 0x3
		maxPayload        = 1 << 14 // SETTINGS_MAX_FRAME_SIZE's initial value
	)
	// The preface, then an empty SETTINGS frame: length 0, type 4, no
	// flags, stream 0.
	if _, err := io.WriteString(conn, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00"); err != nil {
		return 0, fmt.Errorf("h2 settings: %w", err)
	}
	r := bufio.NewReader(conn)
	for {
		var hdr [9]byte // length (3 bytes), type, flags, stream (4 bytes)
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return 0, fmt.Errorf("h2 settings: %w", err)
		}
		n := int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2])
		if n > maxPayload {
			return 0, fmt.Errorf("h2 settings: a frame of %d bytes", n)
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(r, payload); err != nil {
			return 0, fmt.Errorf("h2 settings: %w", err)
		}
		if hdr[3] != frameSettings || hdr[4]&flagAck != 0 {
			continue
		}
		for p := payload; len(p) >= 6; p = p[6:] { // identifier (2 bytes), value (4 bytes)
			if binary.BigEndian.Uint16(p) == settingMaxStreams {
				return binary.BigEndian.Uint32(p[2:]), nil
			}
		}
		return 0, nil
	}
}

// Stop ends the server process: it closes the child's standard input and
// waits for it to exit, killing it if it has not after five seconds.
// It is safe to call more than once.
func (s *Server) Stop() error {
	if s.control != nil {
		s.control.CloseIdleConnections()
	}
	s.stdin.Close()
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
		return errors.New("server did not exit; killed")
	}
	if st := s.cmd.ProcessState; st != nil && !st.Success() {
		return fmt.Errorf("server: %s", st)
	}
	return nil
}

// Exited reports whether the server process has exited.
func (s *Server) Exited() bool {
	select {
	case <-s.exited:
		return true
	default:
		return false
	}
}
