package courierotel_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/courierotel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// setup returns an instrumented session against a server that fails the
// first attempt with a 503, and what the server saw as traceparent.
func setup(t *testing.T) (*courier.Session, *tracetest.SpanRecorder, *sdkmetric.ManualReader, func() []string) {
	t.Helper()
	var mu sync.Mutex
	var parents []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		parents = append(parents, r.Header.Get("Traceparent"))
		n := len(parents)
		mu.Unlock()
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(srv.Close)
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { tp.Shutdown(context.Background()); mp.Shutdown(context.Background()) })
	opts, err := courierotel.Options(courierotel.WithTracerProvider(tp), courierotel.WithMeterProvider(mp),
		courierotel.WithPropagators(propagation.TraceContext{}))
	if err != nil {
		t.Fatal(err)
	}
	s, err := courier.New(append(opts, courier.WithBaseURL(srv.URL),
		courier.WithRetry(courier.RetryPolicy{Backoff: func(courier.AttemptInfo) time.Duration { return 0 }}))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s, sr, reader, func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), parents...) }
}

func attr(kvs []attribute.KeyValue, key string) (attribute.Value, bool) {
	for _, kv := range kvs {
		if string(kv.Key) == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

func TestSpansPerRequestAndAttempt(t *testing.T) {
	s, sr, _, parents := setup(t)
	if _, err := s.Get(t.Context(), "/items", courier.Query("token", "CANARY")); err != nil {
		t.Fatal(err)
	}
	spans := sr.Ended()
	if len(spans) != 3 {
		t.Fatalf("%d spans, want 3: the request and its two attempts", len(spans))
	}
	// Attempts end first; the request's span ends when its body is read.
	a1, a2, req := spans[0], spans[1], spans[2]
	for i, a := range []sdktrace.ReadOnlySpan{a1, a2} {
		if a.Parent().SpanID() != req.SpanContext().SpanID() {
			t.Errorf("attempt %d's parent is %v, want the request span", i+1, a.Parent().SpanID())
		}
		if a.SpanKind().String() != "client" || a.Name() != "GET" {
			t.Errorf("attempt %d: kind %v name %q, want client GET", i+1, a.SpanKind(), a.Name())
		}
	}
	if v, _ := attr(a1.Attributes(), "http.response.status_code"); v.AsInt64() != 503 || a1.Status().Code != codes.Error {
		t.Errorf("first attempt: status %v, span status %v; want 503 and Error", v.AsInt64(), a1.Status())
	}
	if v, ok := attr(a2.Attributes(), "http.request.resend_count"); !ok || v.AsInt64() != 1 {
		t.Errorf("second attempt resend_count = %v, want 1", v.AsInt64())
	}
	if v, _ := attr(req.Attributes(), "http.response.status_code"); v.AsInt64() != 200 {
		t.Errorf("request span status code = %v, want 200", v.AsInt64())
	}
	if v, _ := attr(req.Attributes(), "http.request.resend_count"); v.AsInt64() != 1 {
		t.Errorf("request span resend_count = %v, want 1", v.AsInt64())
	}
	if v, _ := attr(req.Attributes(), "url.full"); strings.Contains(v.AsString(), "CANARY") || !strings.Contains(v.AsString(), "token=REDACTED") {
		t.Errorf("url.full = %q, want the token redacted", v.AsString())
	}
	// W3C trace context: each attempt told the server its own span.
	got := parents()
	for i, a := range []sdktrace.ReadOnlySpan{a1, a2} {
		want := "00-" + a.SpanContext().TraceID().String() + "-" + a.SpanContext().SpanID().String() + "-01"
		if got[i] != want {
			t.Errorf("server saw traceparent %q on attempt %d, want %q", got[i], i+1, want)
		}
	}
}

func TestDurationHistogram(t *testing.T) {
	s, _, reader, _ := setup(t)
	if _, err := s.Get(t.Context(), "/"); err != nil {
		t.Fatal(err)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	var count uint64
	statuses := map[int64]bool{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "http.client.request.duration" {
				continue
			}
			if m.Unit != "s" {
				t.Errorf("unit = %q, want s", m.Unit)
			}
			for _, dp := range m.Data.(metricdata.Histogram[float64]).DataPoints {
				count += dp.Count
				if v, ok := dp.Attributes.Value("http.response.status_code"); ok {
					statuses[v.AsInt64()] = true
				}
			}
		}
	}
	if count != 2 || !statuses[503] || !statuses[200] {
		t.Errorf("duration histogram has %d points, statuses %v; want 2, with 503 and 200", count, statuses)
	}
}

func TestObserveStats(t *testing.T) {
	s, _, _, _ := setup(t)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	stop, err := courierotel.ObserveStats(s, courierotel.WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if _, err := s.Get(t.Context(), "/"); err != nil {
		t.Fatal(err)
	}
	got := sums(t, reader)
	if got["courier.client.requests"] != 1 || got["courier.client.attempts"] != 2 || got["courier.client.retries/503"] != 1 {
		t.Errorf("observed %v, want 1 request, 2 attempts, 1 retry for 503", got)
	}
	if got["courier.client.waits/server_pause"] != 0 || got["courier.client.waits/rate_limit"] != 0 {
		t.Errorf("observed %v, want no waits", got)
	}
}

// sums collects the counters of reader, by name and "/reason" when they
// have one.
func sums(t *testing.T, reader *sdkmetric.ManualReader) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				key := m.Name
				if r, ok := dp.Attributes.Value("reason"); ok {
					key += "/" + r.AsString()
				}
				if r, ok := dp.Attributes.Value("result"); ok {
					key += "/" + r.AsString()
				}
				got[key] = dp.Value
			}
		}
	}
	return got
}

// observedGets sends n GETs to a server answering with header (a
// "Name: value" pair, or "") through a session made with opts, whose stats
// are exported, and returns the counters collected.
func observedGets(t *testing.T, n int, header string, opts ...courier.Option) map[string]int64 {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if k, v, ok := strings.Cut(header, ": "); ok {
			w.Header().Set(k, v)
		}
	}))
	defer srv.Close()
	s, err := courier.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	stop, err := courierotel.ObserveStats(s, courierotel.WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	for range n {
		if _, err := s.Get(t.Context(), srv.URL); err != nil {
			t.Fatal(err)
		}
	}
	return sums(t, reader)
}

// Waits for the rate limit are exported by reason.
func TestObserveStatsWaits(t *testing.T) {
	got := observedGets(t, 2, "", courier.WithRateLimit(courier.RateLimit{PerSecond: 4, Burst: 1}))
	if got["courier.client.waits/rate_limit"] != 1 || got["courier.client.waits/server_pause"] != 0 {
		t.Errorf("observed %v, want 1 wait for the rate limit, none for a server's pause", got)
	}
}

// A session's cache is exported by result.
func TestObserveStatsCache(t *testing.T) {
	got := observedGets(t, 3, "Cache-Control: max-age=60", courier.WithCache(courier.Cache{}))
	if got["courier.client.cache/miss"] != 1 || got["courier.client.cache/hit"] != 2 {
		t.Errorf("observed %v, want 1 miss and 2 hits", got)
	}
}
