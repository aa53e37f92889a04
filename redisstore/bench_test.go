package redisstore_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/courierhttp/courier"
)

// BenchmarkReserve compares a session paced through Redis (one round trip
// a request) with one paced in process by courier.WithRateLimit, against
// a loopback server, with a limit so high that nothing waits. The
// reserve-only case is the pacer's own cost, without HTTP.
func BenchmarkReserve(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	b.Cleanup(srv.Close)
	limit := courier.RateLimit{PerSecond: 1e9, Burst: 1e9}
	get := func(b *testing.B, pacing courier.Option) {
		s, err := courier.New(pacing, courier.WithRetry(courier.RetryPolicy{MaxAttempts: 1}))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close(context.Background()) })
		ctx := context.Background()
		if _, err := s.Get(ctx, srv.URL); err != nil { // a connection
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Get(ctx, srv.URL); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("session/redis", func(b *testing.B) {
		p := newPacer(b, startRedis(b).Client(b), limit)
		get(b, courier.WithPacer(p))
	})
	b.Run("session/in-process", func(b *testing.B) {
		get(b, courier.WithRateLimit(limit))
	})
	b.Run("reserve-only/redis", func(b *testing.B) {
		p := newPacer(b, startRedis(b).Client(b), limit)
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			if r, err := p.Reserve(ctx, "127.0.0.1:80", -1); err != nil || !r.OK {
				b.Fatal(r, err)
			}
		}
	})
}
