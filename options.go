package courier

import (
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/courierhttp/courier/cookiejar"
	"golang.org/x/net/http/httpguts"
)

// An Option configures a [Session]. [New] applies options in order; for a
// setting with one value the last option wins, and options that add (Header,
// Query, WithMiddleware) accumulate. Only courier defines options.
type Option interface {
	applySession(*config) error
}

// A RequestOption configures one request made through [Session.Do] and the
// methods named after HTTP methods.
type RequestOption interface {
	applyRequest(*requestConfig) error
}

// A SharedOption works both as an [Option] (a session default) and as a
// [RequestOption] (for one request).
type SharedOption interface {
	Option
	RequestOption
}

// Zero means "default" everywhere in courier's options: a zero field of
// Timeouts, Pool, RetryPolicy, BreakerPolicy or Hedging, and a zero given to
// WithTimeout, Timeout, WithMaxBodySize or WithRedirects, all take the
// default documented beside them. "None" is spelled with a constant:
// NoTimeout, NoRedirects, RetryPolicy{MaxAttempts: 1}.

// NoTimeout disables a timeout where it is given: a session built with it
// can wait forever, which courier never does unless asked.
const NoTimeout time.Duration = -1

// NoRedirects, given to WithRedirects, turns following redirects off.
const NoRedirects = -1

// The defaults of the session's settings.
const (
	defaultDialTimeout           = 10 * time.Second
	defaultTLSHandshakeTimeout   = 10 * time.Second
	defaultResponseHeaderTimeout = 30 * time.Second
	defaultRequestTimeout        = 30 * time.Second
	defaultBodyIdleTimeout       = 30 * time.Second
	defaultIdleConnTimeout       = 90 * time.Second
	defaultMaxBodySize           = 10 << 20
	defaultMaxRedirects          = 10
	defaultMaxIdleConnsPerHost   = 256
	defaultMaxIdleConns          = 1024
)

// Timeouts are the session's time limits for each phase of a request; the
// whole request is bounded by [WithTimeout]. A zero field means the default
// given beside it; [NoTimeout] disables one. Every other value must be
// positive.
type Timeouts struct {
	// Dial bounds making a TCP connection, DNS included (default 10s).
	Dial time.Duration
	// TLSHandshake bounds the TLS handshake (default 10s).
	TLSHandshake time.Duration
	// ResponseHeader bounds the wait for the response's headers after the
	// request has been written (default 30s).
	ResponseHeader time.Duration
	// BodyIdle bounds the time between two reads of a streamed body that
	// make progress (default 30s). It counts the reader's own time between
	// reads as well as the wait for data: a consumer that pauses longer
	// must raise it.
	BodyIdle time.Duration
}

// timeouts are the session's time limits, the whole request's included.
type timeouts struct {
	Timeouts
	// Request bounds a whole request (WithTimeout).
	Request time.Duration
}

// timeoutField names a duration for errors, with where it goes and its
// default.
type timeoutField struct {
	name string
	v    *time.Duration
	def  time.Duration
}

// checkTimeouts fills in the defaults of zero fields and refuses negative
// ones other than NoTimeout.
func checkTimeouts(option string, fields []timeoutField) error {
	for _, f := range fields {
		switch {
		case *f.v == 0:
			*f.v = f.def
		case *f.v == NoTimeout:
		case *f.v < 0:
			return &OptionError{option + f.name, fmt.Errorf("negative duration %v (use courier.NoTimeout to disable it)", *f.v)}
		}
	}
	return nil
}

func (t *Timeouts) fields() []timeoutField {
	return []timeoutField{
		{"Dial", &t.Dial, defaultDialTimeout},
		{"TLSHandshake", &t.TLSHandshake, defaultTLSHandshakeTimeout},
		{"ResponseHeader", &t.ResponseHeader, defaultResponseHeaderTimeout},
		{"BodyIdle", &t.BodyIdle, defaultBodyIdleTimeout},
	}
}

// off turns NoTimeout into the 0 that net/http reads as "no limit".
func off(d time.Duration) time.Duration {
	if d == NoTimeout {
		return 0
	}
	return d
}

// Pool sizes the session's connection pool. A zero field means the default.
type Pool struct {
	// MaxIdleConnsPerHost is how many idle connections are kept per host
	// (default 256). Go's own default of 2 makes a busy client open a new
	// connection for most requests above a concurrency of 2.
	MaxIdleConnsPerHost int
	// MaxIdleConns is how many idle connections are kept in all
	// (default 1024).
	MaxIdleConns int
	// MaxConnsPerHost caps connections per host, idle or busy; requests
	// beyond it wait for one. Default 0: no cap.
	MaxConnsPerHost int
	// IdleTimeout is how long an idle connection is kept (default 90s).
	IdleTimeout time.Duration
}

// Middleware wraps the round tripper below it: it runs on every attempt,
// below the retry loop, so a retried request goes through it again. It is
// called once, by New. It must clone a request before changing it and must
// not treat a response as an error: a 503 is a response, as for any
// http.RoundTripper.
//
// Each redirect hop is a new request, to a host that may differ from the
// first one's. A middleware that adds credentials belongs in [WithAuth], and
// must add nothing where [CredentialsAllowed] is false, as courier's auth
// layers do.
type Middleware func(next http.RoundTripper) http.RoundTripper

// An Interceptor wraps each whole logical request: it sees the request once,
// before redirects and retries, calls next to send it, and sees the final
// response or error after them, where a [Middleware] sees every attempt. It
// suits a span or a metric per logical request, or answering a request
// without sending it.
//
// It is called on the request's goroutine, once per request. It may change
// the request (clone it first) and its context, for example to add a value
// or a shorter deadline, and pass that to next. Like a Middleware it keeps
// the RoundTripper contract: a 503 is a response, not an error.
type Interceptor func(req *http.Request, next http.RoundTripper) (*http.Response, error)

type config struct {
	baseURL         *url.URL
	header          http.Header
	query           []queryParam
	timeouts        timeouts
	maxBodySize     int64
	maxRedirects    int
	pool            Pool
	tlsConfig       *tls.Config
	proxy           func(*http.Request) (*url.URL, error)
	proxySet        bool
	transport       http.RoundTripper
	middleware      []Middleware
	interceptors    []Interceptor
	leakTracking    bool
	retry           RetryPolicy
	breaker         *BreakerPolicy
	hooks           hookList
	logger          *slog.Logger
	detailedTimings bool
	rateLimit       *RateLimit
	pacer           Pacer
	cache           *Cache
	// autoIdempotencyKey gives POST and PATCH a fresh Idempotency-Key.
	autoIdempotencyKey bool
	sensitive          []string
	disableHTTP2       bool
	removedHeader      map[string]bool
	auth               []Middleware
	// credentialOrigins get credentials besides the base URL's origin.
	credentialOrigins []*url.URL
	jar               http.CookieJar
	noJar             bool // WithJar(nil): no cookies at all
	errorBody         errorBodyOption
	// guard, when set, checks every address the session dials (WithGuard).
	guard *Guard
	// clientCert, when set, gives the TLS client certificate, reloaded
	// when its files change (WithClientCertFiles).
	clientCert *certReloader
}

type queryParam struct{ key, value string }

// newConfig applies the options in order over the defaults.
func newConfig(opts []Option) (config, error) {
	c := config{
		header:        http.Header{"User-Agent": {"courier/" + version}},
		removedHeader: map[string]bool{},
		maxBodySize:   defaultMaxBodySize,
		maxRedirects:  defaultMaxRedirects,
	}
	c.timeouts.Request = defaultRequestTimeout
	checkTimeouts("", c.timeouts.fields())
	// The zero values of the option structs are the defaults.
	for _, o := range []Option{WithPool(Pool{}), WithRetry(RetryPolicy{})} {
		if err := o.applySession(&c); err != nil {
			return c, err
		}
	}
	for _, o := range opts {
		if o == nil {
			return c, &OptionError{"New", errors.New("nil option")}
		}
		if err := o.applySession(&c); err != nil {
			return c, err
		}
	}
	if c.jar == nil && !c.noJar {
		c.jar = cookiejar.New(cookiejar.Options{})
	}
	c.moveBaseUserinfo()
	if err := checkPacer(&c); err != nil {
		return c, err
	}
	return c, checkGuard(&c)
}

// moveBaseUserinfo makes userinfo in the base URL the session's Basic auth,
// bound to its origin like any credential; it is not kept in the URL.
func (c *config) moveBaseUserinfo() {
	u := c.baseURL
	if u == nil || u.User == nil {
		return
	}
	if _, ok := c.header["Authorization"]; !ok {
		pass, _ := u.User.Password()
		c.header["Authorization"] = []string{basicAuth(u.User.Username(), pass)}
	}
	v := *u
	v.User = nil
	c.baseURL = &v
}

// basicAuth returns the Authorization value of Basic auth.
func basicAuth(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

type sessionOption func(*config) error

func (f sessionOption) applySession(c *config) error { return f(c) }

type requestOption func(*requestConfig) error

func (f requestOption) applyRequest(r *requestConfig) error { return f(r) }

// WithBaseURL sets the URL that request paths are resolved against. A path is
// appended to the base path, so base "https://api.example.com/v1" and path
// "/users/42" give "https://api.example.com/v1/users/42"; a full URL is used
// as given. The base must be absolute http or https with a host; its query is
// kept and its fragment must be empty.
func WithBaseURL(raw string) Option {
	return sessionOption(func(c *config) error {
		u, err := parseAbsoluteURL(raw)
		if err != nil {
			return &OptionError{"WithBaseURL", err}
		}
		if u.Fragment != "" {
			return &OptionError{"WithBaseURL", errors.New("base URL must not have a fragment")}
		}
		c.baseURL = u
		return nil
	})
}

type headerOp int

const (
	headerSet headerOp = iota
	headerAdd
	headerRemove
)

type headerOption struct {
	op         headerOp
	key, value string
}

// Header sets a header, replacing earlier values. As a session option it is a
// default for every request; as a request option it replaces the session's
// value for that request. The name must be a valid token and the value must
// not hold CR, LF or other control characters.
func Header(key, value string) SharedOption { return headerOption{headerSet, key, value} }

// AddHeader adds a value to a header, keeping earlier ones; repeated values
// are sent as separate field lines.
func AddHeader(key, value string) SharedOption { return headerOption{headerAdd, key, value} }

// RemoveHeader removes a header. For a request it removes the session's
// default and suppresses the headers net/http and courier add on their own:
// User-Agent and Accept-Encoding (the response is then not decoded). As a
// session option it removes them from every request.
func RemoveHeader(key string) SharedOption { return headerOption{op: headerRemove, key: key} }

func (o headerOption) check() error {
	if !httpguts.ValidHeaderFieldName(o.key) {
		return fmt.Errorf("header name %q is not a valid token", o.key)
	}
	if !httpguts.ValidHeaderFieldValue(o.value) {
		return fmt.Errorf("header %q has an invalid value (control character such as CR or LF)", o.key)
	}
	return nil
}

// name is the option's name, for errors.
func (o headerOption) name() string {
	switch o.op {
	case headerAdd:
		return "AddHeader"
	case headerRemove:
		return "RemoveHeader"
	}
	return "Header"
}

func (o headerOption) applySession(c *config) error {
	if err := o.check(); err != nil {
		return &OptionError{o.name(), err}
	}
	k := http.CanonicalHeaderKey(o.key)
	switch o.op {
	case headerSet:
		c.header[k] = []string{o.value}
		delete(c.removedHeader, k)
	case headerAdd:
		c.header[k] = append(slices.Clip(c.header[k]), o.value)
		delete(c.removedHeader, k)
	case headerRemove:
		delete(c.header, k)
		c.removedHeader[k] = true
	}
	return nil
}

func (o headerOption) applyRequest(r *requestConfig) error {
	if err := o.check(); err != nil {
		return err
	}
	r.headerOps = append(r.headerOps, o)
	return nil
}

type queryOption queryParam

// Query adds a query parameter. Session parameters come first in the URL,
// then those in the request path, then request parameters, each in the order
// given; names keep their case.
func Query(key, value string) SharedOption { return queryOption{key, value} }

func (o queryOption) applySession(c *config) error {
	c.query = append(c.query, queryParam(o))
	return nil
}

func (o queryOption) applyRequest(r *requestConfig) error {
	r.query = append(r.query, queryParam(o))
	return nil
}

// WithTimeouts sets the session's time limits for each phase of a
// request; see [Timeouts] for the defaults. A zero field leaves its setting
// as it was: the default, or what an earlier WithTimeouts set.
func WithTimeouts(t Timeouts) Option {
	return sessionOption(func(c *config) error {
		given := t
		for _, f := range given.fields() {
			if *f.v < 0 && *f.v != NoTimeout {
				return &OptionError{"WithTimeouts." + f.name, fmt.Errorf("negative duration %v (use courier.NoTimeout to disable it)", *f.v)}
			}
		}
		have := c.timeouts.fields()
		for i, f := range given.fields() {
			if *f.v != 0 {
				*have[i].v = *f.v
			}
		}
		return nil
	})
}

// WithTimeout bounds a whole request: connecting, sending, every redirect
// and retry, and reading a buffered body (default 30s; 0 means the default,
// [NoTimeout] none). The caller's context can only shorten it. A streamed
// body (see [Stream], and every response through [Session.Client]) is
// bounded by Timeouts.BodyIdle instead once the headers have arrived, so a
// long download is not cut while a stalled one still fails.
func WithTimeout(d time.Duration) Option {
	return sessionOption(func(c *config) error {
		if err := checkTimeouts("WithTimeout", []timeoutField{{"", &d, defaultRequestTimeout}}); err != nil {
			return err
		}
		c.timeouts.Request = d
		return nil
	})
}

// WithMaxBodySize caps a buffered response body, counted after decoding
// (default 10 MiB; 0 means the default). A larger body fails with
// [ErrBodyTooLarge] at the cap, with memory bounded by the cap.
func WithMaxBodySize(n int64) Option {
	return sessionOption(func(c *config) error {
		switch {
		case n < 0:
			return &OptionError{"WithMaxBodySize", fmt.Errorf("size must not be negative, got %d", n)}
		case n == 0:
			n = defaultMaxBodySize
		}
		c.maxBodySize = n
		return nil
	})
}

// WithRedirects sets how many redirects a request follows (default 10; 0
// means the default). [NoRedirects] turns following off: a 3xx is then the
// response (a *StatusError from Do unless the request expects it with
// ExpectStatus or AnyStatus).
func WithRedirects(limit int) Option {
	return sessionOption(func(c *config) error {
		switch {
		case limit == NoRedirects:
			limit = 0 // none to follow
		case limit < 0:
			return &OptionError{"WithRedirects", fmt.Errorf("limit must not be negative, got %d (use courier.NoRedirects to turn following off)", limit)}
		case limit == 0:
			limit = defaultMaxRedirects
		}
		c.maxRedirects = limit
		return nil
	})
}

// WithPool sizes the connection pool; see [Pool] for the defaults.
func WithPool(p Pool) Option {
	return sessionOption(func(c *config) error {
		for _, f := range []struct {
			name string
			n    int
		}{
			{"MaxIdleConnsPerHost", p.MaxIdleConnsPerHost},
			{"MaxIdleConns", p.MaxIdleConns},
			{"MaxConnsPerHost", p.MaxConnsPerHost},
		} {
			if f.n < 0 {
				return &OptionError{"WithPool." + f.name, fmt.Errorf("connection count must not be negative, got %d", f.n)}
			}
		}
		if p.IdleTimeout < 0 && p.IdleTimeout != NoTimeout {
			return &OptionError{"WithPool.IdleTimeout", fmt.Errorf("negative duration %v", p.IdleTimeout)}
		}
		if p.MaxIdleConnsPerHost == 0 {
			p.MaxIdleConnsPerHost = defaultMaxIdleConnsPerHost
		}
		if p.MaxIdleConns == 0 {
			p.MaxIdleConns = defaultMaxIdleConns
		}
		if p.IdleTimeout == 0 {
			p.IdleTimeout = defaultIdleConnTimeout
		}
		c.pool = p
		return nil
	})
}

// WithTLSConfig sets the TLS configuration (cloned). A zero MinVersion means
// TLS 1.2. NextProtos chooses the protocols offered: nil offers HTTP/2 and
// HTTP/1.1; []string{"http/1.1"} turns HTTP/2 off.
func WithTLSConfig(cfg *tls.Config) Option {
	return sessionOption(func(c *config) error {
		if cfg == nil {
			return &OptionError{"WithTLSConfig", errors.New("nil *tls.Config")}
		}
		c.tlsConfig = cfg.Clone()
		c.disableHTTP2 = len(cfg.NextProtos) > 0 && !slices.Contains(cfg.NextProtos, "h2")
		return nil
	})
}

// WithProxy sets the function that picks a proxy for each request, as
// http.Transport.Proxy does; nil means connect directly. The default is
// http.ProxyFromEnvironment.
func WithProxy(proxy func(*http.Request) (*url.URL, error)) Option {
	return sessionOption(func(c *config) error {
		c.proxy, c.proxySet = proxy, true
		return nil
	})
}

// WithTransport replaces the transport at the bottom of the session's stack.
// Everything above it (timeouts on the request, redirects, middleware,
// decoding, errors) still applies; Timeouts.Dial, TLSHandshake and
// ResponseHeader, WithPool, WithTLSConfig, WithClientCertFiles and
// WithProxy do not (and WithGuard makes New fail),
// since they configure courier's own transport. The session does not close
// it beyond calling CloseIdleConnections when it closes. Give an
// *http.Transport DisableCompression: true, as courier's own has: otherwise
// net/http adds "Accept-Encoding: gzip" itself to a request that removed the
// header with RemoveHeader.
func WithTransport(rt http.RoundTripper) Option {
	return sessionOption(func(c *config) error {
		if rt == nil {
			return &OptionError{"WithTransport", errors.New("nil transport")}
		}
		c.transport = rt
		return nil
	})
}

// WithMiddleware adds middleware around every attempt. The first given is the
// outermost. Several WithMiddleware options accumulate.
func WithMiddleware(mw ...Middleware) Option {
	return sessionOption(func(c *config) error {
		for _, m := range mw {
			if m == nil {
				return &OptionError{"WithMiddleware", errors.New("nil middleware")}
			}
		}
		c.middleware = append(c.middleware, mw...)
		return nil
	})
}

// WithLogger logs every attempt to l (nil, the default, logs nothing): one
// line each, with the method, redacted URL, status or error, attempt number,
// duration, whether the connection was reused, and for a retry its reason
// and wait. Levels are chosen so that a healthy service logs nothing above
// Debug: a successful attempt, or a response such as a 404, is Debug; an
// attempt that is retried is Info; a failure that is given up on (attempts,
// budget or deadline exhausted, or not retryable) is Warn. Secrets are
// redacted. When the level is off, nothing is built.
func WithLogger(l *slog.Logger) Option {
	return sessionOption(func(c *config) error {
		c.logger = l
		return nil
	})
}

// WithInterceptors adds interceptors around each whole request; see
// [Interceptor]. The first given is the outermost; several options
// accumulate.
func WithInterceptors(ics ...Interceptor) Option {
	return sessionOption(func(c *config) error {
		for _, ic := range ics {
			if ic == nil {
				return &OptionError{"WithInterceptors", errors.New("nil interceptor")}
			}
		}
		c.interceptors = append(c.interceptors, ics...)
		return nil
	})
}

// WithLeakTracking records where each streamed body is opened, so that
// [Session.Close] can say where the bodies nobody closed came from. It costs a
// stack capture per streamed request: use it in tests and debugging.
func WithLeakTracking(enable bool) Option {
	return sessionOption(func(c *config) error {
		c.leakTracking = enable
		return nil
	})
}

// WithSensitiveHeaders marks more headers as secrets (besides Authorization,
// Cookie, Proxy-Authorization and the like): they are removed when a redirect
// changes origin and are never shown in errors or logs.
func WithSensitiveHeaders(names ...string) Option {
	return sessionOption(func(c *config) error {
		for _, n := range names {
			if !httpguts.ValidHeaderFieldName(n) {
				return &OptionError{"WithSensitiveHeaders", fmt.Errorf("header name %q is not a valid token", n)}
			}
			c.sensitive = append(c.sensitive, http.CanonicalHeaderKey(n))
		}
		return nil
	})
}

// requestConfig holds one request's options.
type requestConfig struct {
	headerOps []headerOption
	query     []queryParam
	body      bodySpec
	timeout   time.Duration
	expect    []int
	anyStatus bool
	into      any
	stream    bool
	errorBody errorBodyOption
	progress  func(sent, total int64)
	resend    bool
}

// bodySpec is a request body before it becomes an io.Reader.
type bodySpec struct {
	bytes       []byte
	reader      io.Reader
	contentType string
	set         bool
	encode      func() ([]byte, error)
	// open makes the body anew for each attempt (Multipart), length
	// long (-1: unknown); once: it can be opened only once.
	open   func() (io.ReadCloser, error)
	length int64
	once   bool
}

// JSON sends v encoded as JSON, with Content-Type application/json (which
// replaces a session default; a Content-Type given for the request wins). The
// encoding happens before the request is sent, so an encoding error fails the
// request without sending anything.
func JSON(v any) RequestOption {
	return requestOption(func(r *requestConfig) error {
		return r.setBody(bodySpec{contentType: "application/json", encode: func() ([]byte, error) {
			return marshalJSON(v)
		}})
	})
}

// Form sends values URL-encoded, with Content-Type
// application/x-www-form-urlencoded (set as [JSON] sets its own).
func Form(values url.Values) RequestOption {
	return requestOption(func(r *requestConfig) error {
		return r.setBody(bodySpec{contentType: "application/x-www-form-urlencoded", bytes: []byte(values.Encode())})
	})
}

// Body sends the bytes of b as they are. Set the Content-Type with [Header].
func Body(b []byte) RequestOption {
	return requestOption(func(r *requestConfig) error {
		return r.setBody(bodySpec{bytes: b})
	})
}

// BodyReader sends what r yields. Readers that can be read again
// (*bytes.Reader, *bytes.Buffer, *strings.Reader, and any io.Seeker such as
// *os.File, from where it stands now) are replayable, so they can be sent
// again on a redirect or a retry; any other reader is sent once, and a
// request that must resend it fails with [ErrBodyNotReplayable].
func BodyReader(rd io.Reader) RequestOption {
	return requestOption(func(r *requestConfig) error {
		if rd == nil {
			return errors.New("nil body reader")
		}
		return r.setBody(bodySpec{reader: rd})
	})
}

func (r *requestConfig) setBody(b bodySpec) error {
	if r.body.set {
		return errors.New("more than one body option (JSON, Form, Body, BodyReader, Multipart)")
	}
	b.set = true
	r.body = b
	return nil
}

// Timeout bounds this request, replacing the session's [WithTimeout]: 0
// means the session's, [NoTimeout] none.
func Timeout(d time.Duration) RequestOption {
	return requestOption(func(r *requestConfig) error {
		if d < 0 && d != NoTimeout {
			return fmt.Errorf("Timeout: negative duration %v (use courier.NoTimeout to disable it)", d)
		}
		r.timeout = d
		return nil
	})
}

// BasicAuth sends this request with Basic authentication (RFC 7617), as
// net/http's Request.SetBasicAuth does. Like every credential, it is not
// sent on to another origin when a redirect leaves the request's own.
func BasicAuth(user, password string) RequestOption {
	return requestOption(func(r *requestConfig) error {
		if strings.Contains(user, ":") {
			return errors.New("BasicAuth: the user name must not contain a colon")
		}
		return Header("Authorization", basicAuth(user, password)).applyRequest(r)
	})
}

// ExpectStatus lists statuses besides 2xx that are a success for this
// request: they give a Response and no [*StatusError].
func ExpectStatus(codes ...int) RequestOption {
	return requestOption(func(r *requestConfig) error {
		for _, c := range codes {
			if c < 100 || c > 999 {
				return fmt.Errorf("ExpectStatus: %d is not an HTTP status code", c)
			}
		}
		r.expect = append(r.expect, codes...)
		return nil
	})
}

// Resend marks the request as one the caller sends again because the one
// before it came to nothing: a stream's reconnect after a connection that
// delivered no event, a download's resume after a response that added no
// byte. Its first attempt is paid for like a retry: it takes RetryCost from
// the host's retry budget, and when the budget has too little it is not
// sent and fails with an [*Error] of kind [ErrRetryBudget]; its success
// earns no refund. Loops of the caller's own that re-send requests use it
// so that, in an outage, the budget bounds them as it bounds the session's
// retries. It does nothing when the budget is disabled.
func Resend() RequestOption {
	return requestOption(func(r *requestConfig) error {
		r.resend = true
		return nil
	})
}

// AnyStatus makes every status a success for this request: no
// [*StatusError] is returned, whatever the server answers.
func AnyStatus() RequestOption {
	return requestOption(func(r *requestConfig) error {
		r.anyStatus = true
		return nil
	})
}

// Into decodes a successful response's JSON body into v, as
// [Response.Decode] does. A response without content (204, 205, 304, HEAD,
// an empty body) leaves v as it was. A decode failure is returned as an [*Error] of kind
// [ErrDecode], with the Response.
func Into(v any) RequestOption {
	return requestOption(func(r *requestConfig) error {
		if v == nil {
			return errors.New("Into: nil target")
		}
		r.into = v
		return nil
	})
}

// Stream hands the response body to the caller unread: read it with
// [Response.Body] and close it with [Response.Close]. Once the headers have
// arrived, the body is bounded by Timeouts.BodyIdle between reads instead of
// the request timeout. A non-2xx response is still read (capped) into its
// [*StatusError].
//
// A protocol switch (101 Switching Protocols, to a request sent with
// Connection: Upgrade and an Upgrade header) that the request expects, with
// ExpectStatus(101), hands over the connection: [Response.Body] is then an
// io.ReadWriteCloser, which no timeout of the session's bounds, and Close
// closes the connection. An unexpected 101 is a [*StatusError], and its
// connection is closed.
func Stream() RequestOption {
	return requestOption(func(r *requestConfig) error {
		r.stream = true
		return nil
	})
}
