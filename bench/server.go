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
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
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

// ServerStats are the server's counters, read over its control listener.
type ServerStats struct {
	// Conns counts the connections the data listeners, plain and TLS,
	// accepted (http.StateNew), since the server started. Over TLS each
	// is also a full handshake: no client here keeps TLS sessions to
	// resume (tls.Config.ClientSessionCache).
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
}

// serve runs the server process: it listens on three loopback ports, one
// for the benchmark's plain HTTP traffic, one for the same over TLS, and
// one for control (so that reading the counters opens no connection the
// counters see). It prints "DATA CONTROL TLSDATA CERT" on out, where CERT
// is the base64 of the PEM of the TLS listener's self-signed certificate,
// and serves until in reaches its end (the parent closed the pipe or died).
func serve(in io.Reader, out io.Writer) error {
	cert, certPEM, err := selfSigned()
	if err != nil {
		return err
	}
	var lns []net.Listener
	for range 3 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return err
		}
		lns = append(lns, ln)
	}
	data, control, tlsData := lns[0], lns[1], lns[2]
	var stats struct{ conns, attempts, tlsRequests, tls13, alpn, offeredH2 atomic.Int64 }
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
		})
	})}
	go srv.Serve(data)
	go tsrv.ServeTLS(tlsData, "", "")
	go ctl.Serve(control)
	if _, err := fmt.Fprintf(out, "%s %s %s %s\n", data.Addr(), control.Addr(), tlsData.Addr(),
		base64.StdEncoding.EncodeToString(certPEM)); err != nil {
		return err
	}
	io.Copy(io.Discard, in)
	ctl.Close()
	return errors.Join(tsrv.Close(), srv.Close())
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
	if err != nil || len(fields) != 4 {
		s.Stop()
		return nil, fmt.Errorf("start server: read addresses: %q, %v", line, err)
	}
	if s.CertPEM, err = base64.StdEncoding.DecodeString(fields[3]); err != nil {
		s.Stop()
		return nil, fmt.Errorf("start server: read certificate: %w", err)
	}
	s.URL = "http://" + fields[0]
	s.controlURL = "http://" + fields[1]
	s.TLSURL = "https://" + fields[2]
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
