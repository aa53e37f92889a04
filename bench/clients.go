package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"time"

	"github.com/courierhttp/courier"
	"github.com/failsafe-go/failsafe-go/failsafehttp"
	restyv2 "github.com/go-resty/resty/v2"
	"github.com/hashicorp/go-retryablehttp"
	"github.com/valyala/fasthttp"
	"resty.dev/v3"
)

// Client is one HTTP client library, driven the way its README shows.
// Every method is safe for concurrent use. Each returns an error for a
// transport failure and for a status outside 2xx.
type Client interface {
	// Name identifies the client in reports ("courier", "nethttp-tuned").
	Name() string
	// GetJSON sends a GET and decodes the JSON body into v.
	GetJSON(ctx context.Context, url string, v any) error
	// GetBytes sends a GET and reads the whole body into memory,
	// returning its length.
	GetBytes(ctx context.Context, url string) (int, error)
	// PostJSON sends in as a JSON body and decodes the JSON answer into out.
	PostJSON(ctx context.Context, url string, in, out any) error
	// Download sends a GET and copies the body into w as it arrives,
	// without holding it in memory.
	Download(ctx context.Context, url string, w io.Writer) (int64, error)
	// Close releases the client's connections.
	Close() error
}

// Contender names a Client and makes a fresh one, so that every
// measurement starts from a cold pool.
type Contender struct {
	Name string
	// New makes the client. With rootPEM nil it is the client as its
	// README shows it; otherwise the client also trusts the certificates
	// in rootPEM, set the way its documentation gives for adding a root
	// CA, and nothing else changes.
	New func(rootPEM []byte) (Client, error)
}

// rootPool is a certificate pool of the PEM certificates in rootPEM.
func rootPool(rootPEM []byte) *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(rootPEM)
	return pool
}

// Names of the clients, as reports show them.
const (
	nameCourier    = "courier"
	nameStdDefault = "nethttp-default"
	nameStdTuned   = "nethttp-tuned"
	nameRestyV3    = "resty-v3"
	nameRestyV2    = "resty-v2"
	nameRetryable  = "retryablehttp"
	nameFasthttp   = "fasthttp"
	nameFailsafe   = "failsafe-go"
)

// The adapters are Clients.
var (
	_ Client = (*courierClient)(nil)
	_ Client = (*stdClient)(nil)
	_ Client = (*restyV3Client)(nil)
	_ Client = (*restyV2Client)(nil)
	_ Client = (*retryableClient)(nil)
	_ Client = (*fasthttpClient)(nil)
)

// baseline is the client every ratio is taken against.
const baseline = nameStdTuned

// contenders are the clients of the throughput, latency and download
// workloads, each with its defaults.
func contenders() []Contender {
	return []Contender{
		{nameCourier, newCourier},
		{nameStdDefault, newStdDefault},
		{nameStdTuned, newStdTuned},
		{nameRestyV3, func(rootPEM []byte) (Client, error) { return &restyV3Client{c: newRestyV3(rootPEM)}, nil }},
		{nameRestyV2, newRestyV2},
		{nameRetryable, func(rootPEM []byte) (Client, error) { return newRetryable(rootPEM), nil }},
		{nameFasthttp, newFasthttp},
	}
}

// retryContenders are the clients of the resilience workload: the ones that
// retry, each configured by default or as its documentation shows, and
// tuned net/http as the reference that sends each request once.
func retryContenders() []Contender {
	return []Contender{
		{nameCourier, newCourier},
		{nameRetryable, func(rootPEM []byte) (Client, error) { return newRetryable(rootPEM), nil }},
		{nameRestyV3, func(rootPEM []byte) (Client, error) {
			// resty.dev/docs/retry-mechanism: SetRetryCount turns retries
			// on; its default conditions cover transport errors only, so
			// 5xx responses are retried through the condition resty
			// provides for them.
			c := newRestyV3(rootPEM).SetRetryCount(3).AddRetryConditions(resty.RetryConditionStatus5XX)
			return &restyV3Client{c: c}, nil
		}},
		{nameFailsafe, func(rootPEM []byte) (Client, error) {
			// failsafe-go.dev/http: the HTTP retry policy (2 retries,
			// Retry-After obeyed) in a failsafe round tripper over
			// http.DefaultTransport (nil), or over a clone of it that
			// trusts rootPEM.
			var base http.RoundTripper
			if rootPEM != nil {
				t := http.DefaultTransport.(*http.Transport).Clone()
				t.TLSClientConfig = &tls.Config{RootCAs: rootPool(rootPEM)}
				base = t
			}
			policy := failsafehttp.NewRetryPolicyBuilder().Build()
			return &stdClient{name: nameFailsafe, c: &http.Client{Transport: failsafehttp.NewRoundTripper(base, policy)}}, nil
		}},
		{nameStdTuned, newStdTuned},
	}
}

// newStdDefault is net/http with Go's default transport: &http.Client{}.
// To trust rootPEM it takes a clone of http.DefaultTransport with only
// TLSClientConfig set, which keeps Go's default pool.
func newStdDefault(rootPEM []byte) (Client, error) {
	c := &http.Client{}
	if rootPEM != nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = &tls.Config{RootCAs: rootPool(rootPEM)}
		c.Transport = t
	}
	return &stdClient{name: nameStdDefault, c: c}, nil
}

// newStdTuned is tuned net/http, with TLSClientConfig set on its transport
// to trust rootPEM.
func newStdTuned(rootPEM []byte) (Client, error) {
	c := tunedHTTPClient()
	if rootPEM != nil {
		c.Transport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: rootPool(rootPEM)}
	}
	return &stdClient{name: nameStdTuned, c: c}, nil
}

// tunedHTTPClient is what a careful engineer writes with net/http alone
// (PERFORMANCE.md): a pool sized for concurrency and an overall timeout.
func tunedHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 1024
	t.MaxIdleConnsPerHost = 256
	return &http.Client{Transport: t, Timeout: 30 * time.Second}
}

// courierClient is courier with its defaults: no option at all, or only
// WithTLSConfig to trust a root CA.
type courierClient struct{ s *courier.Session }

func newCourier(rootPEM []byte) (Client, error) {
	var opts []courier.Option
	if rootPEM != nil {
		opts = append(opts, courier.WithTLSConfig(&tls.Config{RootCAs: rootPool(rootPEM)}))
	}
	s, err := courier.New(opts...)
	if err != nil {
		return nil, err
	}
	return &courierClient{s: s}, nil
}

func (c *courierClient) Name() string { return nameCourier }

func (c *courierClient) GetJSON(ctx context.Context, url string, v any) error {
	_, err := c.s.Get(ctx, url, courier.Into(v))
	return err
}

func (c *courierClient) GetBytes(ctx context.Context, url string) (int, error) {
	resp, err := c.s.Get(ctx, url)
	if err != nil {
		return 0, err
	}
	return len(resp.Bytes()), nil
}

func (c *courierClient) PostJSON(ctx context.Context, url string, in, out any) error {
	_, err := c.s.Post(ctx, url, courier.JSON(in), courier.Into(out))
	return err
}

func (c *courierClient) Download(ctx context.Context, url string, w io.Writer) (int64, error) {
	resp, err := c.s.Get(ctx, url, courier.Stream())
	if err != nil {
		return 0, err
	}
	defer resp.Close()
	return io.Copy(w, resp.Body())
}

func (c *courierClient) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.s.Close(ctx)
}

// stdClient is net/http's *http.Client used the usual way: build a request,
// Do it, check the status, decode from the body, close it. It also carries
// failsafe-go, which is a round tripper under an *http.Client.
type stdClient struct {
	name string
	c    *http.Client
}

func (c *stdClient) Name() string { return c.name }

// do builds and sends a request and hands a 2xx body to read.
func (c *stdClient) do(ctx context.Context, method, url string, body []byte, read func(io.Reader) error) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return consume(c.c.Do(req))(read)
}

func (c *stdClient) GetJSON(ctx context.Context, url string, v any) error {
	return c.do(ctx, http.MethodGet, url, nil, decodeJSON(v))
}

func (c *stdClient) GetBytes(ctx context.Context, url string) (n int, err error) {
	err = c.do(ctx, http.MethodGet, url, nil, readAll(&n))
	return n, err
}

func (c *stdClient) PostJSON(ctx context.Context, url string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodPost, url, body, decodeJSON(out))
}

func (c *stdClient) Download(ctx context.Context, url string, w io.Writer) (n int64, err error) {
	err = c.do(ctx, http.MethodGet, url, nil, copyTo(w, &n))
	return n, err
}

func (c *stdClient) Close() error {
	c.c.CloseIdleConnections()
	return nil
}

// consume takes what an *http.Client-like Do returned and gives a function
// that hands a 2xx body to read, closing the body after; a failed request
// or another status is an error.
func consume(resp *http.Response, err error) func(read func(io.Reader) error) error {
	return func(read func(io.Reader) error) error {
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			return fmt.Errorf("%s %s: %s", resp.Request.Method, resp.Request.URL, resp.Status)
		}
		return read(resp.Body)
	}
}

// decodeJSON reads a JSON body into v, as net/http users write it.
func decodeJSON(v any) func(io.Reader) error {
	return func(r io.Reader) error { return json.NewDecoder(r).Decode(v) }
}

// readAll reads a whole body into memory and stores its length in n.
func readAll(n *int) func(io.Reader) error {
	return func(r io.Reader) error {
		b, err := io.ReadAll(r)
		*n = len(b)
		return err
	}
}

// copyTo copies a body into w and stores the byte count in n.
func copyTo(w io.Writer, n *int64) func(io.Reader) error {
	return func(r io.Reader) (err error) {
		*n, err = io.Copy(w, r)
		return err
	}
}

// restyV3Client is resty v3 (resty.dev/v3): resty.New(), then
// client.R().SetResult(&v).Get(url).
type restyV3Client struct{ c *resty.Client }

// newRestyV3 is resty.New(), trusting rootPEM through
// SetRootCertificateFromString when it is not nil.
func newRestyV3(rootPEM []byte) *resty.Client {
	c := resty.New()
	if rootPEM != nil {
		c.SetRootCertificateFromString(string(rootPEM))
	}
	return c
}

func (c *restyV3Client) Name() string { return nameRestyV3 }

// check turns a failed request or a non-2xx response into an error.
func (c *restyV3Client) check(res *resty.Response, err error) error {
	if err != nil {
		return err
	}
	if !res.IsStatusSuccess() {
		return fmt.Errorf("%s %s: %s", res.Request.Method, res.Request.URL, res.Status())
	}
	return nil
}

func (c *restyV3Client) GetJSON(ctx context.Context, url string, v any) error {
	return c.check(c.c.R().SetContext(ctx).SetResult(v).Get(url))
}

func (c *restyV3Client) GetBytes(ctx context.Context, url string) (int, error) {
	res, err := c.c.R().SetContext(ctx).Get(url)
	if err := c.check(res, err); err != nil {
		return 0, err
	}
	return len(res.Bytes()), nil
}

func (c *restyV3Client) PostJSON(ctx context.Context, url string, in, out any) error {
	return c.check(c.c.R().SetContext(ctx).SetBody(in).SetResult(out).Post(url))
}

func (c *restyV3Client) Download(ctx context.Context, url string, w io.Writer) (int64, error) {
	res, err := c.c.R().SetContext(ctx).SetResponseDoNotParse(true).Get(url)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	if err := c.check(res, nil); err != nil {
		return 0, err
	}
	return io.Copy(w, res.Body)
}

// Close closes idle connections too, which resty's Close leaves open.
func (c *restyV3Client) Close() error {
	c.c.Client().CloseIdleConnections()
	return c.c.Close()
}

// restyV2Client is resty v2 (github.com/go-resty/resty/v2): resty.New(),
// then client.R().SetResult(&v).Get(url).
type restyV2Client struct{ c *restyv2.Client }

// newRestyV2 is resty.New(), trusting rootPEM through
// SetRootCertificateFromString when it is not nil.
func newRestyV2(rootPEM []byte) (Client, error) {
	c := restyv2.New()
	if rootPEM != nil {
		c.SetRootCertificateFromString(string(rootPEM))
	}
	return &restyV2Client{c: c}, nil
}

func (c *restyV2Client) Name() string { return nameRestyV2 }

// check turns a failed request or a non-2xx response into an error.
func (c *restyV2Client) check(res *restyv2.Response, err error) error {
	if err != nil {
		return err
	}
	if !res.IsSuccess() {
		return fmt.Errorf("%s %s: %s", res.Request.Method, res.Request.URL, res.Status())
	}
	return nil
}

func (c *restyV2Client) GetJSON(ctx context.Context, url string, v any) error {
	return c.check(c.c.R().SetContext(ctx).SetResult(v).Get(url))
}

func (c *restyV2Client) GetBytes(ctx context.Context, url string) (int, error) {
	res, err := c.c.R().SetContext(ctx).Get(url)
	if err := c.check(res, err); err != nil {
		return 0, err
	}
	return len(res.Body()), nil
}

func (c *restyV2Client) PostJSON(ctx context.Context, url string, in, out any) error {
	return c.check(c.c.R().SetContext(ctx).SetBody(in).SetResult(out).Post(url))
}

func (c *restyV2Client) Download(ctx context.Context, url string, w io.Writer) (int64, error) {
	res, err := c.c.R().SetContext(ctx).SetDoNotParseResponse(true).Get(url)
	if err != nil {
		return 0, err
	}
	body := res.RawBody()
	defer body.Close()
	if err := c.check(res, nil); err != nil {
		return 0, err
	}
	return io.Copy(w, body)
}

func (c *restyV2Client) Close() error {
	c.c.GetClient().CloseIdleConnections()
	return nil
}

// retryableClient is hashicorp/go-retryablehttp: retryablehttp.NewClient(),
// then retryablehttp.NewRequestWithContext and Do, with every default but
// one: its default logger writes a [DEBUG] line per request to standard
// error, which would time the terminal, so it writes to io.Discard instead
// (the call that formats the line is still made). To trust rootPEM, it sets
// TLSClientConfig on the pooled transport NewClient made.
type retryableClient struct{ c *retryablehttp.Client }

func newRetryable(rootPEM []byte) *retryableClient {
	c := retryablehttp.NewClient()
	c.Logger = log.New(io.Discard, "", log.LstdFlags)
	if rootPEM != nil {
		c.HTTPClient.Transport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: rootPool(rootPEM)}
	}
	return &retryableClient{c: c}
}

func (c *retryableClient) Name() string { return nameRetryable }

// do builds and sends a request and hands a 2xx body to read.
func (c *retryableClient) do(ctx context.Context, method, url string, body []byte, read func(io.Reader) error) error {
	var raw any // a nil []byte in an interface is not a nil body
	if body != nil {
		raw = body
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, method, url, raw)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return consume(c.c.Do(req))(read)
}

func (c *retryableClient) GetJSON(ctx context.Context, url string, v any) error {
	return c.do(ctx, http.MethodGet, url, nil, decodeJSON(v))
}

func (c *retryableClient) GetBytes(ctx context.Context, url string) (n int, err error) {
	err = c.do(ctx, http.MethodGet, url, nil, readAll(&n))
	return n, err
}

func (c *retryableClient) PostJSON(ctx context.Context, url string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodPost, url, body, decodeJSON(out))
}

func (c *retryableClient) Download(ctx context.Context, url string, w io.Writer) (n int64, err error) {
	err = c.do(ctx, http.MethodGet, url, nil, copyTo(w, &n))
	return n, err
}

func (c *retryableClient) Close() error {
	c.c.HTTPClient.CloseIdleConnections()
	return nil
}

// fasthttpClient is valyala/fasthttp: a zero fasthttp.Client, requests and
// responses from its pools. fasthttp takes no context: ctx is not used.
type fasthttpClient struct{ c *fasthttp.Client }

// newFasthttp is a zero fasthttp.Client, or one with only TLSConfig set to
// trust rootPEM.
func newFasthttp(rootPEM []byte) (Client, error) {
	c := &fasthttp.Client{}
	if rootPEM != nil {
		c.TLSConfig = &tls.Config{RootCAs: rootPool(rootPEM)}
	}
	return &fasthttpClient{c: c}, nil
}

func (c *fasthttpClient) Name() string { return nameFasthttp }

// do sends a request and hands the response to read while it is valid.
// stream asks fasthttp not to buffer the body (Response.StreamBody).
func (c *fasthttpClient) do(method, url string, body []byte, stream bool, read func(*fasthttp.Response) error) error {
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(url)
	req.Header.SetMethod(method)
	if body != nil {
		req.Header.SetContentType("application/json")
		req.SetBodyRaw(body)
	}
	resp.StreamBody = stream
	if err := c.c.Do(req, resp); err != nil {
		return err
	}
	if stream {
		defer resp.CloseBodyStream()
	}
	if sc := resp.StatusCode(); sc < 200 || sc > 299 {
		return fmt.Errorf("%s %s: %d", method, url, sc)
	}
	return read(resp)
}

func (c *fasthttpClient) GetJSON(_ context.Context, url string, v any) error {
	return c.do(fasthttp.MethodGet, url, nil, false, func(r *fasthttp.Response) error { return json.Unmarshal(r.Body(), v) })
}

func (c *fasthttpClient) GetBytes(_ context.Context, url string) (int, error) {
	var n int
	err := c.do(fasthttp.MethodGet, url, nil, false, func(r *fasthttp.Response) error {
		n = len(r.Body())
		return nil
	})
	return n, err
}

func (c *fasthttpClient) PostJSON(_ context.Context, url string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return c.do(fasthttp.MethodPost, url, body, false, func(r *fasthttp.Response) error { return json.Unmarshal(r.Body(), out) })
}

func (c *fasthttpClient) Download(_ context.Context, url string, w io.Writer) (int64, error) {
	var n int64
	err := c.do(fasthttp.MethodGet, url, nil, true, func(r *fasthttp.Response) (err error) {
		n, err = io.Copy(w, r.BodyStream())
		return err
	})
	return n, err
}

func (c *fasthttpClient) Close() error {
	c.c.CloseIdleConnections()
	return nil
}
