package courier_test

// Client certificates (WithClientCertFiles) against real TLS servers that
// require one: the pair presented, reloaded when its files change, kept
// when the new files are broken, and servers verified against a CA file
// that is reloaded too.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/internal/testenv"
)

// testCA is a certificate authority made for a test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

// issued is a certificate and its key, as PEM files hold them and as a
// TLS server uses them.
type issued struct {
	certPEM, keyPEM []byte
	tls             tls.Certificate
}

var serialCount atomic.Int64

// newTestCA makes a root CA, valid for an hour.
func newTestCA(t testing.TB, name string) *testCA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serialCount.Add(1)),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// intermediate makes a CA that ca signs.
func (ca *testCA) intermediate(t testing.TB, name string) *testCA {
	t.Helper()
	c := ca.issue(t, name, func(tmpl *x509.Certificate) {
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = nil
		tmpl.BasicConstraintsValid, tmpl.IsCA = true, true
	})
	return &testCA{cert: c.tls.Leaf, key: c.tls.PrivateKey.(*ecdsa.PrivateKey), pem: c.certPEM}
}

// issue makes a certificate that ca signs, valid for an hour, with an
// ECDSA P-256 key. It is a client certificate for name unless edit
// changes it.
func (ca *testCA) issue(t testing.TB, name string, edit ...func(*x509.Certificate)) issued {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serialCount.Add(1)),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	for _, f := range edit {
		f(tmpl)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return issued{
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		tls:     tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf},
	}
}

// serverCert makes ca's certificate for a server at localhost and
// 127.0.0.1.
func (ca *testCA) serverCert(t testing.TB, edit ...func(*x509.Certificate)) issued {
	t.Helper()
	return ca.issue(t, "server", append([]func(*x509.Certificate){func(tmpl *x509.Certificate) {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.DNSNames = []string{"localhost"}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}}, edit...)...)
}

// pool returns a pool that trusts ca.
func (ca *testCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// mtlsServer is a TLS server that requires a client certificate signed by
// its client CA, answers each request with the common name of the client
// certificate of its connection, and records that name for each handshake,
// in order.
type mtlsServer struct {
	*httptest.Server
	// cert is the server's certificate, for clients that send a server
	// name (SNI); others get the first one.
	cert atomic.Pointer[tls.Certificate]
	// closeEvery makes every n-th response close its connection (0: none),
	// so that new connections keep being made.
	closeEvery int64
	served     atomic.Int64

	mu         sync.Mutex
	handshakes []string
}

func newMTLSServer(t *testing.T, m testenv.Mode, cert tls.Certificate, clientCA *testCA, closeEvery int64) *mtlsServer {
	t.Helper()
	s := &mtlsServer{closeEvery: closeEvery}
	s.cert.Store(&cert)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	srv.Config.ErrorLog = quietLog
	srv.EnableHTTP2 = m == testenv.HTTP2
	srv.TLS = &tls.Config{
		Certificates:   []tls.Certificate{cert},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return s.cert.Load(), nil },
		ClientAuth:     tls.RequireAndVerifyClientCert,
		ClientCAs:      clientCA.pool(),
		VerifyConnection: func(cs tls.ConnectionState) error {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.handshakes = append(s.handshakes, cs.PeerCertificates[0].Subject.CommonName)
			return nil
		},
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	s.Server = srv
	return s
}

func (s *mtlsServer) serve(w http.ResponseWriter, r *http.Request) {
	if n := s.served.Add(1); s.closeEvery > 0 && n%s.closeEvery == 0 {
		w.Header().Set("Connection", "close")
	}
	io.WriteString(w, r.TLS.PeerCertificates[0].Subject.CommonName)
}

// seen returns the client certificate names of the handshakes so far.
func (s *mtlsServer) seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.handshakes)
}

// count returns how many handshakes presented name.
func (s *mtlsServer) count(name string) int {
	n := 0
	for _, h := range s.seen() {
		if h == name {
			n++
		}
	}
	return n
}

// localURL is the server's URL with the host localhost, which a client
// sends as the server name (SNI) and verifies.
func (s *mtlsServer) localURL() string {
	return strings.Replace(s.URL, "127.0.0.1", "localhost", 1)
}

// certFiles are a client's certificate, key and CA files in a test's
// directory.
type certFiles struct{ cert, key, ca string }

func newCertFiles(t *testing.T, pair issued) certFiles {
	t.Helper()
	dir := t.TempDir()
	f := certFiles{filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key"), filepath.Join(dir, "ca.pem")}
	replaceFile(t, f.cert, pair.certPEM)
	replaceFile(t, f.key, pair.keyPEM)
	return f
}

// replaceFile writes data to name as a rotation should: to a temporary
// file in the same directory, renamed into place.
func replaceFile(t *testing.T, name string, data []byte) {
	t.Helper()
	tmp, err := os.CreateTemp(filepath.Dir(name), ".tmp-*")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tmp.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := tmp.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		t.Fatal(err)
	}
}

// writeInPlace writes data over the file name, as a rotation should not:
// a reader may see it half-written.
func writeInPlace(t *testing.T, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(name, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// nextLook moves clk on by a second, so that the next handshake of s looks
// at the files, and closes the idle connections of s, so that its next
// request makes one.
func nextLook(clk *fakeClock, s *courier.Session) {
	clk.Advance(time.Second)
	courier.CloseIdleConnections(s)
}

// mtlsSession returns a session for srv, which trusts serverCA, with the
// client certificate files and the clock clk, and one attempt per request.
func mtlsSession(t *testing.T, srv *mtlsServer, serverCA *testCA, f certFiles, clk *fakeClock, opts ...courier.Option) *courier.Session {
	t.Helper()
	all := []courier.Option{
		courier.WithBaseURL(srv.URL),
		courier.WithTLSConfig(&tls.Config{RootCAs: serverCA.pool()}),
		courier.WithClientCertFiles(f.cert, f.key, ""),
		courier.WithClientCertClock(clk.Now),
		noRetry,
	}
	return testenv.NewSession(t, append(all, opts...)...)
}

// whoAmI returns the name of the client certificate the server saw on the
// connection of a GET.
func whoAmI(t *testing.T, s *courier.Session) string {
	t.Helper()
	resp, err := s.Get(t.Context(), "/")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	return string(resp.Bytes())
}

// runTLS runs f once per HTTP version over TLS, in parallel subtests.
func runTLS(t *testing.T, f func(t *testing.T, m testenv.Mode)) {
	t.Helper()
	for _, m := range []testenv.Mode{testenv.HTTP1TLS, testenv.HTTP2} {
		t.Run(string(m), func(t *testing.T) {
			t.Parallel()
			f(t, m)
		})
	}
}

func TestClientCertPresented(t *testing.T) {
	t.Parallel()
	runTLS(t, func(t *testing.T, m testenv.Mode) {
		ca := newTestCA(t, "ca")
		srv := newMTLSServer(t, m, ca.serverCert(t).tls, ca, 0)
		f := newCertFiles(t, ca.issue(t, "client-a"))
		mine := &tls.Config{RootCAs: ca.pool()}
		s := testenv.NewSession(t, courier.WithBaseURL(srv.URL), courier.WithTLSConfig(mine),
			courier.WithClientCertFiles(f.cert, f.key, ""))

		for range 3 {
			if got := whoAmI(t, s); got != "client-a" {
				t.Errorf("the server saw client certificate %q, want client-a", got)
			}
		}
		if got, want := srv.seen(), []string{"client-a"}; !slices.Equal(got, want) {
			t.Errorf("handshakes = %q, want %q", got, want)
		}
		if mine.GetClientCertificate != nil || mine.VerifyConnection != nil || mine.InsecureSkipVerify {
			t.Errorf("the caller's tls.Config was changed: %+v", mine)
		}
	})
}

// A server that refuses the client's certificate is an ErrTLS, not a lost
// connection to retry, though under TLS 1.3 its alert comes after the
// client's handshake, at the first read. (Over HTTP/2 net/http may report
// only that the connection could not be established, without the alert.)
func TestClientCertRefusedByServer(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "ca")
	srv := newMTLSServer(t, testenv.HTTP1TLS, ca.serverCert(t).tls, ca, 0)
	f := newCertFiles(t, newTestCA(t, "another ca").issue(t, "stranger"))
	s := testenv.NewSession(t, courier.WithBaseURL(srv.URL), courier.WithTLSConfig(&tls.Config{RootCAs: ca.pool()}),
		courier.WithClientCertFiles(f.cert, f.key, ""))
	resp, err := s.Get(t.Context(), "/")
	requireIs(t, err, courier.ErrTLS)
	requireNotIs(t, err, courier.ErrConnLost)
	var ce *courier.Error
	if errors.As(err, &ce) && ce.Attempts != 1 {
		t.Errorf("Get = %v after %d attempts, want 1: a refused certificate is not retried", err, ce.Attempts)
	}
	if resp != nil {
		t.Errorf("Get = %v, want no response", resp)
	}
}

// A new pair on disk is used by the next new connection once a second has
// passed since the files were last looked at; a connection already open
// keeps the certificate it was made with.
func TestClientCertRotation(t *testing.T) {
	t.Parallel()
	runTLS(t, func(t *testing.T, m testenv.Mode) {
		ca := newTestCA(t, "ca")
		srv := newMTLSServer(t, m, ca.serverCert(t).tls, ca, 0)
		f := newCertFiles(t, ca.issue(t, "client-a"))
		clk := newClock()
		s := mtlsSession(t, srv, ca, f, clk)

		steps := []struct {
			what string
			do   func()
			want string
		}{
			{"first request", func() {}, "client-a"},
			{"pair renewed on disk, same connection", func() {
				b := ca.issue(t, "client-b")
				replaceFile(t, f.key, b.keyPEM)
				replaceFile(t, f.cert, b.certPEM)
			}, "client-a"},
			{"new connection within the second", func() { courier.CloseIdleConnections(s) }, "client-a"},
			{"a second later, same connection", func() { clk.Advance(time.Second) }, "client-a"},
			{"new connection", func() { courier.CloseIdleConnections(s) }, "client-b"},
			{"next request", func() {}, "client-b"},
		}
		for _, st := range steps {
			st.do()
			if got := whoAmI(t, s); got != st.want {
				t.Errorf("%s: the server saw %q, want %q", st.what, got, st.want)
			}
		}
		if got, want := srv.seen(), []string{"client-a", "client-a", "client-b"}; !slices.Equal(got, want) {
			t.Errorf("handshakes = %q, want %q", got, want)
		}
	})
}

// Rotating the pair while requests are in flight fails none of them, and
// new connections then present the new certificate.
func TestClientCertRotationUnderLoad(t *testing.T) {
	t.Parallel()
	runTLS(t, func(t *testing.T, m testenv.Mode) {
		ca := newTestCA(t, "ca")
		// Every 5th response closes its connection: new handshakes keep
		// coming while the files change.
		srv := newMTLSServer(t, m, ca.serverCert(t).tls, ca, 5)
		f := newCertFiles(t, ca.issue(t, "client-a"))
		clk := newClock()
		s := mtlsSession(t, srv, ca, f, clk)

		var ok, failed atomic.Int64
		var firstErr atomic.Pointer[error]
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					if _, err := s.Get(t.Context(), "/"); err != nil {
						failed.Add(1)
						firstErr.CompareAndSwap(nil, &err)
						continue
					}
					ok.Add(1)
				}
			})
		}
		waitUntil(t, "10 handshakes with the first pair", func() bool { return srv.count("client-a") >= 10 })
		// The next handshake looks at the files, maybe between the two
		// renames, when the pair does not match; the one after the next
		// second sees the whole new pair.
		b := ca.issue(t, "client-b")
		clk.Advance(time.Second)
		replaceFile(t, f.cert, b.certPEM)
		replaceFile(t, f.key, b.keyPEM)
		clk.Advance(time.Second)
		waitUntil(t, "10 handshakes with the new pair", func() bool { return srv.count("client-b") >= 10 })
		close(stop)
		wg.Wait()

		if n := failed.Load(); n != 0 {
			t.Errorf("%d of %d requests failed, want none; the first: %v", n, n+ok.Load(), *firstErr.Load())
		}
		courier.CloseIdleConnections(s)
		if got := whoAmI(t, s); got != "client-b" {
			t.Errorf("after the rotation a new connection presented %q, want client-b", got)
		}
		// A handshake that presented the old pair after the server first
		// saw the new one got it before the change, while in flight with
		// that one: there are at most as many as requests in flight.
		seen := srv.seen()
		late := 0
		for _, h := range seen[slices.Index(seen, "client-b"):] {
			if h == "client-a" {
				late++
			}
		}
		if late > 8 {
			t.Errorf("handshakes = %q: %d with client-a after the first with client-b, want at most 8", seen, late)
		}
		t.Logf("%d requests, handshakes: %d with client-a, %d with client-b", ok.Load(), srv.count("client-a"), srv.count("client-b"))
	})
}

// A new pair that cannot be used is logged once and not used: requests go
// on with the old certificate, until the files change again and work.
func TestClientCertBrokenPairKept(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "ca")
	srv := newMTLSServer(t, testenv.HTTP2, ca.serverCert(t).tls, ca, 0)
	f := newCertFiles(t, ca.issue(t, "client-a"))
	clk := newClock()
	logger, lines := logLines(slog.LevelInfo)
	s := mtlsSession(t, srv, ca, f, clk, courier.WithLogger(logger))
	b := ca.issue(t, "client-b")
	c := ca.issue(t, "client-c")

	steps := []struct {
		what string
		do   func()
		want string // the client certificate the server sees next
		// logs are the level and the file of each line the step logs.
		logs []string
	}{
		{"first request", func() {}, "client-a", nil},
		// The key is renamed into place first: for a moment it does not
		// match the certificate.
		{"new key beside the old certificate", func() { replaceFile(t, f.key, b.keyPEM) }, "client-a", []string{"WARN " + f.key}},
		{"no change since", func() {}, "client-a", nil},
		{"its certificate follows", func() { replaceFile(t, f.cert, b.certPEM) }, "client-b", []string{"INFO "}},
		{"certificate file half-written", func() { writeInPlace(t, f.cert, c.certPEM[:len(c.certPEM)/2]) }, "client-b", []string{"WARN " + f.cert}},
		{"certificate file replaced by garbage", func() { replaceFile(t, f.cert, []byte("not a certificate\n")) }, "client-b", []string{"WARN " + f.cert}},
		{"certificate file removed", func() {
			if err := os.Remove(f.cert); err != nil {
				t.Fatal(err)
			}
		}, "client-b", []string{"WARN " + f.cert}},
		{"still removed", func() {}, "client-b", nil},
		{"key written over in place", func() { writeInPlace(t, f.key, c.keyPEM) }, "client-b", []string{"WARN " + f.cert}},
		{"the pair complete again", func() { replaceFile(t, f.cert, c.certPEM) }, "client-c", []string{"INFO "}},
	}
	for _, st := range steps {
		before := len(lines())
		st.do()
		nextLook(clk, s)
		if got := whoAmI(t, s); got != st.want {
			t.Errorf("%s: the server saw %q, want %q", st.what, got, st.want)
		}
		var logged []string
		for _, l := range lines()[before:] {
			file, _ := l["file"].(string)
			logged = append(logged, fmt.Sprint(l["level"], " ", file))
		}
		if !slices.Equal(logged, st.logs) {
			t.Errorf("%s: logged (level, file) %q, want %q", st.what, logged, st.logs)
		}
	}
	for _, l := range lines() {
		for _, key := range [][]byte{b.keyPEM, c.keyPEM} {
			if strings.Contains(fmt.Sprint(l), pemBody(key)) {
				t.Errorf("a log line quotes a key: %v", l)
			}
		}
	}
	if got, want := srv.seen(), []string{"client-a", "client-a", "client-a", "client-b", "client-b", "client-b", "client-b",
		"client-b", "client-b", "client-c"}; !slices.Equal(got, want) {
		t.Errorf("handshakes = %q, want %q", got, want)
	}
}

// pemBody returns the first line of base64 of PEM data, to look for it
// where it must not be.
func pemBody(data []byte) string {
	return strings.Split(string(data), "\n")[1]
}

// New fails for files it cannot use, with an *OptionError for
// WithClientCertFiles whose cause names the file, and never the key.
func TestClientCertNewFails(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "ca")
	a, b := ca.issue(t, "client-a"), ca.issue(t, "client-b")
	dir := t.TempDir()
	file := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cert, key := file("a.crt", a.certPEM), file("a.key", a.keyPEM)
	missing := filepath.Join(dir, "missing.pem")
	garbage := file("garbage.pem", []byte("not PEM at all\n"))
	halfCert := file("half.crt", a.certPEM[:len(a.certPEM)-40])
	halfKey := file("half.key", a.keyPEM[:len(a.keyPEM)-40])
	otherKey := file("b.key", b.keyPEM)
	keyAsCert := file("key-as-cert.pem", a.keyPEM)
	caFile := file("ca.pem", ca.pem)
	halfCA := file("half-ca.pem", append(slices.Clone(ca.pem), newTestCA(t, "ca2").pem[:100]...))

	tests := []struct {
		name                string
		cert, key, ca, path string // path: the file the error names
	}{
		{"missing certificate", missing, key, "", missing},
		{"missing key", cert, missing, "", missing},
		{"missing CA file", cert, key, missing, missing},
		{"certificate not PEM", garbage, key, "", garbage},
		{"key not PEM", cert, garbage, "", garbage},
		{"CA file not PEM", cert, key, garbage, garbage},
		{"certificate cut short", halfCert, key, "", halfCert},
		{"key cut short", cert, halfKey, "", halfKey},
		{"CA file cut short", cert, key, halfCA, halfCA},
		{"key of another certificate", cert, otherKey, "", otherKey},
		{"key given as the certificate", keyAsCert, key, "", keyAsCert},
		{"CA file holding a key", cert, key, key, key},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := courier.New(courier.WithClientCertFiles(tt.cert, tt.key, tt.ca))
			var oe *courier.OptionError
			if !errors.As(err, &oe) || oe.Option != "WithClientCertFiles" {
				t.Fatalf("New = %v, want an *OptionError for WithClientCertFiles", err)
			}
			var pe *fs.PathError
			if !errors.As(err, &pe) || pe.Path != tt.path {
				t.Errorf("New = %v, want an *fs.PathError for %s", err, tt.path)
			}
			for _, k := range [][]byte{a.keyPEM, b.keyPEM} {
				if strings.Contains(err.Error(), pemBody(k)) {
					t.Errorf("New = %v: it quotes a key", err)
				}
			}
		})
	}

	for _, args := range [][2]string{{"", key}, {cert, ""}} {
		_, err := courier.New(courier.WithClientCertFiles(args[0], args[1], ""))
		var oe *courier.OptionError
		if !errors.As(err, &oe) || oe.Option != "WithClientCertFiles" {
			t.Errorf("New(WithClientCertFiles(%q, %q, \"\")) = %v, want an *OptionError for WithClientCertFiles", args[0], args[1], err)
		}
	}
	// The files above are usable together.
	if _, err := courier.New(courier.WithClientCertFiles(cert, key, caFile)); err != nil {
		t.Errorf("New with usable files = %v", err)
	}
}

// With a CA file the session verifies servers against the CAs it holds
// now: a server whose certificate a new CA signed is refused with the old
// file, and accepted once the file is renewed.
func TestClientCertCARotation(t *testing.T) {
	t.Parallel()
	runTLS(t, func(t *testing.T, m testenv.Mode) {
		clientCA, oldCA, newCA := newTestCA(t, "client ca"), newTestCA(t, "old ca"), newTestCA(t, "new ca")
		srv := newMTLSServer(t, m, oldCA.serverCert(t).tls, clientCA, 0)
		f := newCertFiles(t, clientCA.issue(t, "client-a"))
		replaceFile(t, f.ca, oldCA.pem)
		clk := newClock()
		var callerChecks atomic.Int64
		s := testenv.NewSession(t, courier.WithBaseURL(srv.localURL()),
			courier.WithTLSConfig(&tls.Config{VerifyConnection: func(tls.ConnectionState) error {
				callerChecks.Add(1)
				return nil
			}}),
			courier.WithClientCertFiles(f.cert, f.key, f.ca), courier.WithClientCertClock(clk.Now), noRetry)

		get := func(what string, wantErr bool) {
			t.Helper()
			_, err := s.Get(t.Context(), "/")
			if !wantErr {
				if err != nil {
					t.Errorf("%s: Get = %v, want success", what, err)
				}
				return
			}
			requireIs(t, err, courier.ErrTLS)
			var uae x509.UnknownAuthorityError
			if !errors.As(err, &uae) {
				t.Errorf("%s: errors.As(%v, x509.UnknownAuthorityError) = false", what, err)
			}
		}
		get("server certificate of the CA in the file", false)
		renewed := newCA.serverCert(t).tls
		srv.cert.Store(&renewed)
		nextLook(clk, s)
		get("server certificate of a new CA, old file", true)
		replaceFile(t, f.ca, append(slices.Clone(oldCA.pem), newCA.pem...))
		courier.CloseIdleConnections(s)
		get("file renewed, within the second", true)
		nextLook(clk, s)
		get("file renewed, a second later", false)
		replaceFile(t, f.ca, oldCA.pem)
		nextLook(clk, s)
		get("new CA taken out of the file", true)

		if n := callerChecks.Load(); n != 2 {
			t.Errorf("the caller's VerifyConnection ran %d times, want 2 (once per accepted handshake)", n)
		}
	})
}

// Verification with a CA file is as strict as crypto/tls's own: chain,
// server name, validity and key usage.
func TestClientCertCAVerification(t *testing.T) {
	t.Parallel()
	clientCA, ca, other := newTestCA(t, "client ca"), newTestCA(t, "ca"), newTestCA(t, "other ca")
	inter := ca.intermediate(t, "intermediate")
	viaInter := inter.serverCert(t)
	viaInter.tls.Certificate = append(viaInter.tls.Certificate, inter.cert.Raw)
	onlyNamed := func(name string) func(*x509.Certificate) {
		return func(c *x509.Certificate) { c.DNSNames, c.IPAddresses = []string{name}, nil }
	}

	tests := []struct {
		name       string
		cert       tls.Certificate
		host       string // the host dialed: localhost, or 127.0.0.1
		serverName string // tls.Config.ServerName
		check      func(t *testing.T, err error)
	}{
		{"trusted", ca.serverCert(t).tls, "localhost", "", accepted},
		{"through an intermediate the server sends", viaInter.tls, "localhost", "", accepted},
		{"CA not in the file", other.serverCert(t).tls, "localhost", "", refusedAs[x509.UnknownAuthorityError]},
		{"intermediate not sent", inter.serverCert(t).tls, "localhost", "", refusedAs[x509.UnknownAuthorityError]},
		{"certificate for another name", ca.serverCert(t, onlyNamed("other.test")).tls, "localhost", "", refusedAs[x509.HostnameError]},
		{"ServerName another name", ca.serverCert(t).tls, "localhost", "other.test", refusedAs[x509.HostnameError]},
		{"ServerName the certificate's", ca.serverCert(t, onlyNamed("api.test")).tls, "127.0.0.1", "api.test", accepted},
		{"expired", ca.serverCert(t, func(c *x509.Certificate) {
			c.NotBefore, c.NotAfter = time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour)
		}).tls, "localhost", "", invalidBecause(x509.Expired)},
		{"not for servers", ca.serverCert(t, func(c *x509.Certificate) {
			c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		}).tls, "localhost", "", invalidBecause(x509.IncompatibleUsage)},
		// crypto/tls does not tell VerifyConnection an IP address dialed.
		{"IP address, no ServerName", ca.serverCert(t).tls, "127.0.0.1", "", refusedAs[*tls.CertificateVerificationError]},
		{"IP address as ServerName", ca.serverCert(t).tls, "127.0.0.1", "127.0.0.1", accepted},
		{"IP address not the certificate's", ca.serverCert(t, onlyNamed("localhost")).tls, "127.0.0.1", "127.0.0.1", refusedAs[x509.HostnameError]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newMTLSServer(t, testenv.HTTP2, tt.cert, clientCA, 0)
			f := newCertFiles(t, clientCA.issue(t, "client"))
			replaceFile(t, f.ca, ca.pem)
			base := strings.Replace(srv.URL, "127.0.0.1", tt.host, 1)
			s := testenv.NewSession(t, courier.WithBaseURL(base), courier.WithTLSConfig(&tls.Config{ServerName: tt.serverName}),
				courier.WithClientCertFiles(f.cert, f.key, f.ca), noRetry)
			_, err := s.Get(t.Context(), "/")
			tt.check(t, err)
		})
	}
}

func accepted(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Errorf("Get = %v, want success", err)
	}
}

// refusedAs checks that err is an ErrTLS whose cause is a
// *tls.CertificateVerificationError holding a T.
func refusedAs[T error](t *testing.T, err error) {
	t.Helper()
	requireIs(t, err, courier.ErrTLS)
	var cve *tls.CertificateVerificationError
	if !errors.As(err, &cve) {
		t.Errorf("errors.As(%v, *tls.CertificateVerificationError) = false", err)
	}
	var target T
	if !errors.As(err, &target) {
		t.Errorf("errors.As(%v, %T) = false", err, target)
	}
}

// invalidBecause checks that err is an ErrTLS for a certificate invalid
// for reason.
func invalidBecause(reason x509.InvalidReason) func(t *testing.T, err error) {
	return func(t *testing.T, err error) {
		t.Helper()
		refusedAs[x509.CertificateInvalidError](t, err)
		var cie x509.CertificateInvalidError
		if errors.As(err, &cie) && cie.Reason != reason {
			t.Errorf("Get = %v: reason %d, want %d", err, cie.Reason, reason)
		}
	}
}

// mtlsExampleAPI starts, for ExampleWithClientCertFiles, an API at
// localhost that requires a client certificate and answers with its name,
// and writes a client's files: its certificate, its key, and the CA of the
// API's certificate. done stops the API and removes the files.
func mtlsExampleAPI() (url, certFile, keyFile, caFile string, done func()) {
	var t exampleTB
	ca := newTestCA(t, "example ca")
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello, "+r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	srv.Config.ErrorLog = quietLog
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{ca.serverCert(t).tls},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    ca.pool(),
	}
	srv.StartTLS()
	dir, err := os.MkdirTemp("", "courier-example-")
	if err != nil {
		panic(err)
	}
	client := ca.issue(t, "client-1")
	certFile, keyFile, caFile = filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key"), filepath.Join(dir, "ca.pem")
	for name, data := range map[string][]byte{certFile: client.certPEM, keyFile: client.keyPEM, caFile: ca.pem} {
		if err := os.WriteFile(name, data, 0o600); err != nil {
			panic(err)
		}
	}
	url = strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	return url, certFile, keyFile, caFile, func() {
		srv.Close()
		os.RemoveAll(dir)
	}
}

// exampleTB lets an example use the certificate helpers, which call only
// Helper and Fatal.
type exampleTB struct{ testing.TB }

func (exampleTB) Helper()           {}
func (exampleTB) Fatal(args ...any) { panic(fmt.Sprint(args...)) }
