// Package courierotel adds OpenTelemetry traces and metrics to a courier
// session, following the HTTP client semantic conventions. It is a module of
// its own, so that importing courier pulls in no OpenTelemetry.
//
// Each logical request (redirects and retries included) is one client span;
// each attempt is a child client span with http.request.resend_count, and
// carries the W3C trace context to the server. Every attempt is measured in
// the http.client.request.duration histogram.
//
//	opts, err := courierotel.Options() // global providers and propagator
//	if err != nil { ... }
//	s, err := courier.New(append(opts, courier.WithBaseURL(api))...)
//
// [ObserveStats] exports a session's counters (requests, attempts, retries,
// connections opened and reused) as observable metrics.
package courierotel

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/courierhttp/courier"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of courier's spans and metrics.
const ScopeName = "github.com/courierhttp/courier/courierotel"

// An Option configures the instrumentation. Options apply in order; the
// last one for a setting wins. Only this package defines options.
type Option interface {
	apply(*config) error
}

type optionFunc func(*config) error

func (f optionFunc) apply(c *config) error { return f(c) }

type config struct {
	tp   trace.TracerProvider
	mp   metric.MeterProvider
	prop propagation.TextMapPropagator
}

// WithTracerProvider sets the tracer provider (default: the global one).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return optionFunc(func(c *config) error {
		if tp == nil {
			return errors.New("courierotel: WithTracerProvider: nil provider")
		}
		c.tp = tp
		return nil
	})
}

// WithMeterProvider sets the meter provider (default: the global one).
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(c *config) error {
		if mp == nil {
			return errors.New("courierotel: WithMeterProvider: nil provider")
		}
		c.mp = mp
		return nil
	})
}

// WithPropagators sets how the trace context is sent to servers (default:
// the global propagator).
func WithPropagators(p propagation.TextMapPropagator) Option {
	return optionFunc(func(c *config) error {
		if p == nil {
			return errors.New("courierotel: WithPropagators: nil propagator")
		}
		c.prop = p
		return nil
	})
}

// newConfig applies the options in order over the defaults.
func newConfig(opts []Option) (config, error) {
	c := config{tp: otel.GetTracerProvider(), mp: otel.GetMeterProvider(), prop: otel.GetTextMapPropagator()}
	for _, o := range opts {
		if o == nil {
			return c, errors.New("courierotel: nil Option")
		}
		if err := o.apply(&c); err != nil {
			return c, err
		}
	}
	return c, nil
}

type instruments struct {
	tracer   trace.Tracer
	prop     propagation.TextMapPropagator
	duration metric.Float64Histogram
}

// Options returns the courier options that instrument a session: a request
// interceptor for the logical span and an attempt middleware for the attempt
// spans, the propagation and the duration histogram.
func Options(opts ...Option) ([]courier.Option, error) {
	c, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	meter := c.mp.Meter(ScopeName)
	dur, err := meter.Float64Histogram("http.client.request.duration",
		metric.WithUnit("s"),
		metric.WithDescription("Duration of HTTP client requests (one per attempt)."),
		metric.WithExplicitBucketBoundaries(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10))
	if err != nil {
		return nil, err
	}
	in := &instruments{tracer: c.tp.Tracer(ScopeName), prop: c.prop, duration: dur}
	return []courier.Option{courier.WithInterceptors(in.request), courier.WithMiddleware(in.attempt)}, nil
}

// state is shared by a request's span and its attempts' spans.
type state struct{ attempts atomic.Int32 }

type stateKey struct{}

// baseAttrs are the attributes of a request, from the semantic conventions.
func baseAttrs(req *http.Request) []attribute.KeyValue {
	host, port := req.URL.Hostname(), req.URL.Port()
	if port == "" {
		port = "80"
		if req.URL.Scheme == "https" {
			port = "443"
		}
	}
	p, _ := strconv.Atoi(port)
	return []attribute.KeyValue{
		attribute.String("http.request.method", req.Method),
		attribute.String("server.address", host),
		attribute.Int("server.port", p),
		attribute.String("url.full", courier.RedactURL(req.URL)),
	}
}

func (in *instruments) request(req *http.Request, next http.RoundTripper) (*http.Response, error) {
	st := &state{}
	ctx, span := in.tracer.Start(req.Context(), req.Method,
		trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(baseAttrs(req)...))
	ctx = context.WithValue(ctx, stateKey{}, st)
	resp, err := next.RoundTrip(req.WithContext(ctx))
	if n := st.attempts.Load(); n > 1 {
		span.SetAttributes(attribute.Int("http.request.resend_count", int(n-1)))
	}
	end(span, resp, err)
	if err != nil || resp.Body == nil {
		span.End()
		return resp, err
	}
	// The request lasts until its body is read or closed.
	resp.Body = &spanBody{ReadCloser: resp.Body, span: span}
	return resp, nil
}

func (in *instruments) attempt(next http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		resend := 0
		if st, ok := req.Context().Value(stateKey{}).(*state); ok {
			resend = int(st.attempts.Add(1)) - 1
		}
		attrs := baseAttrs(req)
		if resend > 0 {
			attrs = append(attrs, attribute.Int("http.request.resend_count", resend))
		}
		ctx, span := in.tracer.Start(req.Context(), req.Method,
			trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
		defer span.End()
		r2 := req.Clone(ctx)
		in.prop.Inject(ctx, propagation.HeaderCarrier(r2.Header))
		start := time.Now()
		resp, err := next.RoundTrip(r2)
		metricAttrs := attrs[:3:3] // method, server address and port
		if resp != nil {
			metricAttrs = append(metricAttrs, attribute.Int("http.response.status_code", resp.StatusCode),
				attribute.String("network.protocol.version", protocolVersion(resp)))
		}
		if t := errorType(resp, err); t != "" {
			metricAttrs = append(metricAttrs, attribute.String("error.type", t))
		}
		in.duration.Record(ctx, time.Since(start).Seconds(), metric.WithAttributes(metricAttrs...))
		end(span, resp, err)
		return resp, err
	})
}

// end records the outcome on a span: status code, and Error status for a
// failure or a 4xx/5xx (client spans count 4xx as errors).
func end(span trace.Span, resp *http.Response, err error) {
	if resp != nil {
		span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
	}
	if t := errorType(resp, err); t != "" {
		span.SetAttributes(attribute.String("error.type", t))
		span.SetStatus(codes.Error, t)
	}
	if err != nil {
		span.RecordError(err)
	}
}

// errorType names a failure in the error.type attribute's terms.
func errorType(resp *http.Response, err error) string {
	switch {
	case err != nil:
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return "timeout"
		}
		return "_OTHER"
	case resp != nil && resp.StatusCode >= 400:
		return strconv.Itoa(resp.StatusCode)
	}
	return ""
}

func protocolVersion(resp *http.Response) string {
	if resp.ProtoMajor == 2 {
		return "2"
	}
	return strconv.Itoa(resp.ProtoMajor) + "." + strconv.Itoa(resp.ProtoMinor)
}

// spanBody ends the request's span when the body is read to its end or
// closed.
type spanBody struct {
	io.ReadCloser
	span trace.Span
	once sync.Once
}

func (b *spanBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.once.Do(func() { b.span.End() })
	}
	return n, err
}

func (b *spanBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(func() { b.span.End() })
	return err
}

// ObserveStats exports a session's counters as observable metrics:
// courier.client.requests, courier.client.attempts, courier.client.retries
// (by reason), courier.client.waits (attempts held back, by reason:
// "server_pause" for a pause a server asked for, shared by a fleet with a
// courier.Pacer, "rate_limit" for a turn of the rate limit),
// courier.client.connections (by state: opened, reused) and, for a session
// with a cache, courier.client.cache (request hops by result: hit, miss,
// revalidated, stale-while-revalidate, stale-if-error, coalesced). It
// returns a function that stops the export.
func ObserveStats(s *courier.Session, opts ...Option) (stop func() error, err error) {
	c, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	meter := c.mp.Meter(ScopeName)
	requests, err := meter.Int64ObservableCounter("courier.client.requests", metric.WithDescription("Logical requests started."))
	if err != nil {
		return nil, err
	}
	attempts, err := meter.Int64ObservableCounter("courier.client.attempts", metric.WithDescription("Attempts sent, retries included."))
	if err != nil {
		return nil, err
	}
	retries, err := meter.Int64ObservableCounter("courier.client.retries", metric.WithDescription("Retries, by reason."))
	if err != nil {
		return nil, err
	}
	conns, err := meter.Int64ObservableCounter("courier.client.connections", metric.WithDescription("Connections attempts got, by state."))
	if err != nil {
		return nil, err
	}
	waits, err := meter.Int64ObservableCounter("courier.client.waits", metric.WithDescription("Attempts held back before they were sent, by reason."))
	if err != nil {
		return nil, err
	}
	cache, err := meter.Int64ObservableCounter("courier.client.cache", metric.WithDescription("Request hops the cache looked up, by result."))
	if err != nil {
		return nil, err
	}
	reg, err := meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		st := s.Stats()
		o.ObserveInt64(requests, st.Requests)
		o.ObserveInt64(attempts, st.Attempts)
		for code, n := range st.RetriesByStatus {
			o.ObserveInt64(retries, n, metric.WithAttributes(attribute.String("reason", strconv.Itoa(code))))
		}
		for kind, n := range st.RetriesByKind {
			o.ObserveInt64(retries, n, metric.WithAttributes(attribute.String("reason", kind.String())))
		}
		o.ObserveInt64(conns, st.ConnsOpened, metric.WithAttributes(attribute.String("state", "opened")))
		o.ObserveInt64(conns, st.ConnsReused, metric.WithAttributes(attribute.String("state", "reused")))
		o.ObserveInt64(waits, st.Paced, metric.WithAttributes(attribute.String("reason", "server_pause")))
		o.ObserveInt64(waits, st.Throttled, metric.WithAttributes(attribute.String("reason", "rate_limit")))
		if c := st.Cache; c != (courier.CacheStats{}) {
			for _, r := range []struct {
				result string
				n      int64
			}{{"hit", c.Hits}, {"miss", c.Misses}, {"revalidated", c.Revalidated},
				{"stale-while-revalidate", c.StaleWhileRevalidate}, {"stale-if-error", c.StaleIfError}, {"coalesced", c.Coalesced}} {
				o.ObserveInt64(cache, r.n, metric.WithAttributes(attribute.String("result", r.result)))
			}
		}
		return nil
	}, requests, attempts, retries, conns, waits, cache)
	if err != nil {
		return nil, err
	}
	return reg.Unregister, nil
}

// roundTripperFunc adapts a function to http.RoundTripper.
type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }
