package courier

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"time"
)

// WithClientCertFiles makes the session present a client certificate
// (mutual TLS) read from PEM files, and read them again when they change,
// so that a certificate renewed on disk (by cert-manager, a Vault agent, a
// cron job) is used without restarting the process. The last
// WithClientCertFiles given wins.
//
// certFile holds the certificate chain, leaf first, and keyFile its private
// key; they may be the same file. caFile, when not "", holds the CAs that
// servers' certificates are verified with, in place of the RootCAs of
// [WithTLSConfig] and the system's roots, and is reloaded like the pair;
// "" keeps RootCAs, or the system's roots.
//
// New reads the files, and fails with an [*OptionError] for
// WithClientCertFiles when one cannot be read or parsed, when a PEM block
// in it is cut short, or when the key does not match the certificate. Its
// cause is an [*fs.PathError] that names the file. Errors and log lines
// name files and never quote what they hold.
//
// # Reloading
//
// At a TLS handshake (when the server asks for a certificate, and on every
// handshake when caFile is given) the session looks at the files, at most
// once a second and with os.Stat only, and reads again those whose
// modification time, size or identity changed (a file renamed into place is
// a new file). New connections use what was read; connections already open
// keep the certificate they were made with, and requests in flight are not
// disturbed. Replace a file by renaming a complete one into place, not by
// writing over it.
//
// A changed pair that cannot be used, such as a half-written file, or a new
// key beside the old certificate because the key was renamed into place
// first, is not used: the session keeps the pair it has, logs one line at
// Warn through the logger of [WithLogger] naming the file and the error, and
// tries again when a file changes next. A changed caFile that cannot be used
// is handled in the same way. A successful reload is logged at Info.
//
// # Verifying servers with caFile
//
// crypto/tls reads a configuration's RootCAs as fixed, so with caFile the
// session sets InsecureSkipVerify, which only hands verification to it, and
// verifies in VerifyConnection, against the CAs last read, what crypto/tls
// verifies: a chain from the server's certificate, through the
// intermediates it sent, to one of those CAs; every certificate's validity
// period at the configuration's Time (or now); the server-auth key usage;
// and the server's name, which is the ServerName of [WithTLSConfig] if set,
// else the host dialed. Resumed sessions are verified again. A failure is
// an [ErrTLS] whose cause is a *tls.CertificateVerificationError, as from
// crypto/tls. crypto/tls does not tell VerifyConnection an IP address it
// dialed, so a server reached by IP address is refused unless ServerName is
// set (to that address, which is then checked against the certificate's IP
// addresses): it is not accepted unchecked. A VerifyConnection of the
// configuration given to WithTLSConfig still runs, after this check; its
// VerifyPeerCertificate, if any, gets no verified chains, and the connection
// state's VerifiedChains is empty.
//
// The pair takes the place of the Certificates and GetClientCertificate of
// the configuration given to WithTLSConfig; that configuration itself is
// not changed. Like WithTLSConfig, WithClientCertFiles configures courier's
// own transport and has no effect with [WithTransport].
func WithClientCertFiles(certFile, keyFile, caFile string) Option {
	return sessionOption(func(c *config) error {
		r, err := newCertReloader(certFile, keyFile, caFile)
		if err != nil {
			return &OptionError{"WithClientCertFiles", err}
		}
		c.clientCert = r
		return nil
	})
}

// certCheckInterval is the least time between two looks at the files.
const certCheckInterval = time.Second

// nowFunc tells the time.
type nowFunc func() time.Time

// certReloader holds a session's client certificate and, when it has a CA
// file, the pool that servers are verified with, and reloads them when
// their files change. Its methods are safe for concurrent use: crypto/tls
// calls them from every handshake.
type certReloader struct {
	certFile, keyFile, caFile string
	// now is the clock that paces the looks at the files (time.Now; tests
	// set it through export_test.go).
	now nowFunc

	mu sync.Mutex
	// checked is when the files were last looked at (zero: never).
	checked time.Time
	pair    *tls.Certificate
	pool    *x509.CertPool
	// pairSeen and caSeen are the files as they were when last read,
	// whether that worked or not: a change is a difference from them.
	pairSeen [2]fileStamp
	caSeen   fileStamp
}

// newCertReloader reads the files, which must be usable.
func newCertReloader(certFile, keyFile, caFile string) (*certReloader, error) {
	if certFile == "" || keyFile == "" {
		return nil, errors.New("a certificate file and a key file are required")
	}
	r := &certReloader{certFile: certFile, keyFile: keyFile, caFile: caFile, now: time.Now}
	r.pairSeen = [2]fileStamp{stat(certFile), stat(keyFile)}
	pair, _, err := loadPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	r.pair = pair
	if caFile != "" {
		r.caSeen = stat(caFile)
		if r.pool, _, err = loadPool(caFile); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// apply sets cfg, the session's own configuration, to take the client
// certificate from r and, with a CA file, to verify servers with r's pool,
// and returns it. Changes and failures are logged to log (nil: nowhere).
func (r *certReloader) apply(cfg *tls.Config, log *slog.Logger) *tls.Config {
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		pair, _ := r.current(log)
		return pair, nil
	}
	if r.caFile != "" {
		v := &serverVerifier{r: r, log: log, serverName: cfg.ServerName, time: cfg.Time, next: cfg.VerifyConnection}
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = v.verify
	}
	return cfg
}

// current returns the pair and the pool to use, after looking at the
// files if the last look was at least certCheckInterval ago.
func (r *certReloader) current(log *slog.Logger) (*tls.Certificate, *x509.CertPool) {
	r.mu.Lock()
	var notes []reloadNote
	if now := r.now(); r.checked.IsZero() || now.Sub(r.checked) >= certCheckInterval {
		r.checked = now
		notes = r.refresh()
	}
	pair, pool := r.pair, r.pool
	r.mu.Unlock()
	// Logged without the lock: a handler may be slow, or may itself make a
	// request through the session.
	for _, n := range notes {
		n.log(log)
	}
	return pair, pool
}

// refresh reads again the files that changed since they were last read,
// and says what happened. r.mu is held.
func (r *certReloader) refresh() []reloadNote {
	var notes []reloadNote
	seen := [2]fileStamp{stat(r.certFile), stat(r.keyFile)}
	if !seen[0].same(r.pairSeen[0]) || !seen[1].same(r.pairSeen[1]) {
		r.pairSeen = seen
		pair, leaf, err := loadPair(r.certFile, r.keyFile)
		if err == nil {
			r.pair = pair
		}
		notes = append(notes, reloadNote{what: "client certificate", err: err, attrs: []slog.Attr{
			slog.String("cert_file", r.certFile), slog.String("key_file", r.keyFile)}, leaf: leaf})
	}
	if r.caFile == "" {
		return notes
	}
	if seen := stat(r.caFile); !seen.same(r.caSeen) {
		r.caSeen = seen
		pool, n, err := loadPool(r.caFile)
		if err == nil {
			r.pool = pool
		}
		notes = append(notes, reloadNote{what: "CA file", err: err, attrs: []slog.Attr{
			slog.String("ca_file", r.caFile), slog.Int("certificates", n)}})
	}
	return notes
}

// reloadNote is what a reload did, to be logged.
type reloadNote struct {
	what  string
	err   error
	attrs []slog.Attr
	leaf  *x509.Certificate // the new client certificate
}

// log writes n to l (nil: nowhere): a failure at Warn with the file and
// the error, a reload at Info.
func (n reloadNote) log(l *slog.Logger) {
	ctx := context.Background()
	level := slog.LevelInfo
	if n.err != nil {
		level = slog.LevelWarn
	}
	if l == nil || !l.Enabled(ctx, level) {
		return
	}
	if n.err != nil {
		attrs := []slog.Attr{slog.String("error", n.err.Error())}
		var pe *fs.PathError
		if errors.As(n.err, &pe) {
			attrs = append(attrs, slog.String("file", pe.Path))
		}
		l.LogAttrs(ctx, level, "courier: "+n.what+" not reloaded, keeping the current one", attrs...)
		return
	}
	attrs := n.attrs
	if n.leaf != nil {
		attrs = append(attrs, slog.String("serial", n.leaf.SerialNumber.Text(16)),
			slog.Time("not_after", n.leaf.NotAfter))
	}
	l.LogAttrs(ctx, level, "courier: "+n.what+" reloaded", attrs...)
}

// serverVerifier verifies a server's certificate against the pool of a
// certReloader, as crypto/tls verifies it against RootCAs.
type serverVerifier struct {
	r   *certReloader
	log *slog.Logger
	// serverName is the configuration's ServerName, which crypto/tls
	// checks the certificate against; "" means the host dialed.
	serverName string
	time       func() time.Time
	// next is the caller's own VerifyConnection.
	next func(tls.ConnectionState) error
}

// errNoServerName refuses a connection whose server name is unknown.
var errNoServerName = errors.New("courier: no server name to verify the certificate against " +
	"(a server dialed by IP address needs tls.Config.ServerName with WithClientCertFiles' caFile)")

// verify is tls.Config.VerifyConnection.
func (v *serverVerifier) verify(cs tls.ConnectionState) error {
	_, pool := v.r.current(v.log)
	certs := cs.PeerCertificates
	if len(certs) == 0 {
		return &tls.CertificateVerificationError{Err: errors.New("courier: the server sent no certificate")}
	}
	// The configuration's ServerName is what crypto/tls verifies against.
	// When it is empty, courier's dialer (or net/http's, through a proxy)
	// set it to the host on a copy of the configuration, which cs reports
	// as ServerName unless the host is an IP address.
	name := v.serverName
	if name == "" {
		name = cs.ServerName
	}
	if name == "" {
		return &tls.CertificateVerificationError{UnverifiedCertificates: certs, Err: errNoServerName}
	}
	opts := x509.VerifyOptions{
		DNSName:       name,
		Roots:         pool,
		Intermediates: x509.NewCertPool(),
	}
	if v.time != nil {
		opts.CurrentTime = v.time()
	}
	for _, c := range certs[1:] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := certs[0].Verify(opts); err != nil {
		return &tls.CertificateVerificationError{UnverifiedCertificates: certs, Err: err}
	}
	if v.next != nil {
		return v.next(cs)
	}
	return nil
}

// fileStamp is what os.Stat said of a file: enough to see that it changed.
type fileStamp struct {
	info os.FileInfo // nil: Stat failed
}

func stat(name string) fileStamp {
	fi, err := os.Stat(name)
	if err != nil {
		return fileStamp{}
	}
	return fileStamp{fi}
}

// same reports whether s and t are the same file, unchanged. A file that
// is still missing, or unreadable, is unchanged.
func (s fileStamp) same(t fileStamp) bool {
	if s.info == nil || t.info == nil {
		return s.info == nil && t.info == nil
	}
	return os.SameFile(s.info, t.info) && s.info.Size() == t.info.Size() &&
		s.info.ModTime().Equal(t.info.ModTime())
}

// loadPair reads a certificate chain and its key, and returns them with
// the leaf. Its errors are *fs.PathError naming the file at fault.
func loadPair(certFile, keyFile string) (*tls.Certificate, *x509.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, nil, err
	}
	certs, err := parseCerts(certPEM)
	if err != nil {
		return nil, nil, &fs.PathError{Op: "load certificate", Path: certFile, Err: err}
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, nil, err
	}
	// crypto/tls's errors name PEM block types and never quote the key.
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, nil, &fs.PathError{Op: "load key", Path: keyFile, Err: err}
	}
	return &pair, certs[0], nil
}

// loadPool reads a CA bundle, and returns a pool of its certificates and
// how many there are.
func loadPool(file string) (*x509.CertPool, int, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, 0, err
	}
	certs, err := parseCerts(data)
	if err != nil {
		return nil, 0, &fs.PathError{Op: "load CA", Path: file, Err: err}
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, len(certs), nil
}

// pemBegin starts every PEM block.
var pemBegin = []byte("-----BEGIN ")

// parseCerts returns the certificates of PEM data, skipping blocks of
// other types (a key in the same file). It fails when there are none, when
// one does not parse, and when a block is cut short or malformed, as in a
// file still being written: encoding/pem and crypto/x509 would skip that
// block, and a CA bundle or chain would silently lose it.
func parseCerts(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	blocks := 0
	for rest := data; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		blocks++
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	switch {
	case blocks < bytes.Count(data, pemBegin):
		return nil, errors.New("a PEM block is cut short or malformed")
	case len(certs) == 0:
		return nil, errors.New("no CERTIFICATE PEM block")
	}
	return certs, nil
}
