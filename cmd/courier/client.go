package main

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/auth"
	"github.com/courierhttp/courier/diskcache"
	"github.com/courierhttp/courier/sessionfile"
)

// sent records the last request a session sent (the last attempt of the
// last redirect hop), as it went to the wire: courier's layers, the cookie
// jar and the authentication have all had their say.
type sent struct {
	mu  sync.Mutex
	req *http.Request
}

func (s *sent) middleware(next http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		s.mu.Lock()
		s.req = req
		s.mu.Unlock()
		return next.RoundTrip(req)
	})
}

func (s *sent) last() *http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.req
}

// offlineTransport answers every request with an empty 204 without sending
// it: --offline and --curl build a request the way a real one is built and
// stop there.
var offlineTransport = roundTripperFunc(func(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		req.Body.Close()
	}
	return &http.Response{
		StatusCode: http.StatusNoContent,
		Status:     "204 No Content",
		Proto:      "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:  http.Header{},
		Body:    http.NoBody,
		Request: req,
	}, nil
})

// sessionOptions are the courier options a command line asks for. sf holds
// the identity: a session file's, or a fresh one that is never saved.
func sessionOptions(a *args, sf *sessionfile.File, rec *sent, extra ...courier.Option) ([]courier.Option, error) {
	origin := &url.URL{Scheme: a.url.Scheme, Host: a.url.Host}
	opts := []courier.Option{courier.WithBaseURL(origin.String())}
	opts = append(opts, sf.Options()...)
	netrc := false
	if o, err := netrcAuth(a, sf); err != nil {
		return nil, err
	} else if o != nil {
		opts = append(opts, o)
		netrc = true
	}
	if a.follow && a.maxRedirects > 0 {
		opts = append(opts, courier.WithRedirects(a.maxRedirects))
	} else {
		opts = append(opts, courier.WithRedirects(courier.NoRedirects))
	}
	if a.timeout > 0 {
		opts = append(opts, courier.WithTimeout(a.timeout))
	}
	if a.retries >= 0 {
		opts = append(opts, courier.WithRetry(courier.RetryPolicy{MaxAttempts: a.retries + 1}))
	}
	tc, err := tlsConfig(a)
	if err != nil {
		return nil, err
	}
	if tc != nil {
		opts = append(opts, courier.WithTLSConfig(tc))
	}
	if len(a.proxies) > 0 {
		proxies := a.proxies
		opts = append(opts, courier.WithProxy(func(req *http.Request) (*url.URL, error) {
			for _, p := range proxies {
				if p.scheme == req.URL.Scheme {
					return p.url, nil
				}
			}
			return http.ProxyFromEnvironment(req)
		}))
	}
	if rec != nil {
		opts = append(opts, courier.WithMiddleware(rec.middleware))
	}
	if a.guard && !a.offline && !a.curl {
		// A --proxy the user gave is theirs to trust; the environment's
		// are not used under the guard.
		opts = append(opts, courier.WithGuard(courier.Guard{TrustProxy: len(a.proxies) > 0}))
	}
	if a.offline || a.curl {
		opts = append(opts, courier.WithTransport(offlineTransport))
	} else if a.cache != "" {
		store, err := diskcache.New(expandHome(a.cache), cacheBytes)
		if err != nil {
			return nil, fmt.Errorf("--cache: %w", err)
		}
		id := cacheIdentity(sf, netrc, tc)
		opts = append(opts, courier.WithCache(courier.Cache{Store: store, Identity: func(*http.Request) string { return id }}))
	}
	return append(opts, extra...), nil
}

// cacheBytes bounds the directory of --cache.
const cacheBytes = 256 << 20

// cacheIdentity names, for --cache, the credentials that the session adds
// below the cache, where courier cannot see them: the auth of -a or of the
// session file, the netrc file's (when used), the client certificate. Runs
// with the same ones share what they cache; the request's own sensitive
// headers and the jar's cookies for its URL count too (courier's
// Cache.Identity). It is a hash: no secret is kept.
func cacheIdentity(sf *sessionfile.File, netrc bool, tc *tls.Config) string {
	h := sha256.New()
	field := func(name string, b []byte) {
		fmt.Fprintf(h, "%s %d:", name, len(b))
		h.Write(b)
	}
	if sf.Auth != nil {
		b, _ := json.Marshal(sf.Auth)
		field("auth", b)
	}
	if netrc {
		// Read where auth.NetrcFromEnv reads it.
		path := os.Getenv("NETRC")
		if path == "" {
			name := ".netrc"
			if runtime.GOOS == "windows" {
				name = "_netrc"
			}
			home, _ := os.UserHomeDir()
			path = filepath.Join(home, name)
		}
		data, _ := os.ReadFile(path)
		field("netrc", data)
	}
	if tc != nil {
		for _, c := range tc.Certificates {
			for _, der := range c.Certificate {
				field("cert", der)
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// tlsConfig is what --verify and --cert ask for, or nil for the defaults.
func tlsConfig(a *args) (*tls.Config, error) {
	var cfg *tls.Config
	switch strings.ToLower(a.verify) {
	case "yes", "true", "":
	case "no", "false":
		cfg = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the user asked: --verify no
	default:
		pem, err := os.ReadFile(expandHome(a.verify))
		if err != nil {
			return nil, usagef("--verify %s: %v", a.verify, pathError(err))
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, usagef("--verify %s: no PEM certificate in the file", a.verify)
		}
		cfg = &tls.Config{RootCAs: pool}
	}
	if a.cert != "" {
		key := a.certKey
		if key == "" {
			key = a.cert
		}
		pair, err := tls.LoadX509KeyPair(expandHome(a.cert), expandHome(key))
		if err != nil {
			return nil, usagef("--cert %s: %v", a.cert, pathError(err))
		}
		if cfg == nil {
			cfg = &tls.Config{}
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// pathError is an os error without the operation's name.
func pathError(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		if errors.Is(err, os.ErrNotExist) {
			return "no such file"
		}
		return pe.Err.Error()
	}
	return err.Error()
}

// applyAuth puts -a/-A into sf, asking for a missing password at the
// terminal. Without -a, sf keeps the auth it has (a session's).
func applyAuth(a *args, sf *sessionfile.File, sio stdio) error {
	if a.auth == nil {
		return nil
	}
	cred := *a.auth
	switch a.authType {
	case "bearer":
		if cred == "" {
			return usagef("--auth: no token")
		}
		sf.Auth = &sessionfile.Auth{Type: sessionfile.AuthBearer, Token: cred}
		return nil
	}
	user, pass, hasPass := strings.Cut(cred, ":")
	if user == "" {
		return usagef("--auth: no user name (use -a USER:PASSWORD)")
	}
	if !hasPass {
		if sio.ReadPassword == nil {
			return usagef("--auth %s: no password, and no terminal to ask for one (use -a USER:PASSWORD)", user)
		}
		p, err := sio.ReadPassword(fmt.Sprintf("courier: password for %s@%s: ", user, a.url.Host))
		if err != nil {
			return fmt.Errorf("reading the password: %w", err)
		}
		pass = p
	}
	typ := sessionfile.AuthBasic
	if a.authType == "digest" {
		typ = sessionfile.AuthDigest
	}
	sf.Auth = &sessionfile.Auth{Type: typ, Username: user, Password: pass}
	return nil
}

// netrcAuth is the auth of the netrc file ($NETRC, or else ~/.netrc) for a
// request that has none of its own: no -a and no auth in the session, as
// HTTPie leaves it to requests. Only basic auth comes from the file: the
// login and password of the first machine entry named as the URL's host
// (the port aside), or else the default entry. It goes to the URL's origin
// alone, as -a does: not to another host, port or scheme a redirect leads
// to, whatever the file has for it, nor past a downgrade from https to
// http. A request with its own Authorization header item is left as it is.
// The credentials are not stored in the session.
//
// A missing ~/.netrc is no error; a missing $NETRC file, one that does not
// parse or one that group or others may read is, so that a request does
// not go out without credentials the user meant it to have.
func netrcAuth(a *args, sf *sessionfile.File) (courier.Option, error) {
	if a.auth != nil || sf.Auth != nil || a.netrcIgnored() {
		return nil, nil
	}
	m, err := auth.NetrcFromEnv()
	if err != nil {
		return nil, fmt.Errorf("%w (fix the file, or pass --ignore-netrc)", err)
	}
	return courier.WithAuth(m), nil
}

// netrcIgnored reports --ignore-netrc.
func (a *args) netrcIgnored() bool { return a.ignoreNetrc }

// roundTripperFunc adapts a function to http.RoundTripper.
type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }
