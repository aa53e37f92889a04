package courier_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/courierhttp/courier"
)

// BenchmarkCache compares a GET answered from the cache with one that
// goes to a loopback server, with and without a cache in the session:
//
//   - uncached: no cache; every request goes to the server.
//
//   - miss: a cache, and a response that may not be stored (no-store):
//     the cache's cost on the way to the server.
//
//   - revalidated: max-age=0 with an ETag: a conditional request and a
//     304 each time.
//
//   - hit: max-age=60: nothing is sent.
//
//     go test -run '^$' -bench BenchmarkCache -benchmem .
func BenchmarkCache(b *testing.B) {
	body, _ := json.Marshal(benchDoc{ID: 42, Name: "Ada Lovelace", Email: "ada@example.com", Active: true, Tags: []string{"admin", "math"}})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/fresh":
			w.Header().Set("Cache-Control", "max-age=60")
		case "/etag":
			w.Header().Set("Cache-Control", "max-age=0")
			w.Header().Set("ETag", `"v1"`)
			if r.Header.Get("If-None-Match") == `"v1"` {
				w.WriteHeader(http.StatusNotModified)
				return
			}
		default:
			w.Header().Set("Cache-Control", "no-store")
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	}))
	b.Cleanup(srv.Close)
	for _, bc := range []struct {
		name, path string
		cache      bool
		want       courier.CacheStatus
	}{
		{"uncached", "/doc", false, courier.CacheNone},
		{"miss", "/doc", true, courier.CacheMiss},
		{"revalidated", "/etag", true, courier.CacheRevalidated},
		{"hit", "/fresh", true, courier.CacheHit},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var opts []courier.Option
			if bc.cache {
				opts = append(opts, courier.WithCache(courier.Cache{}))
			}
			s, err := courier.New(opts...)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close(context.Background())
			ctx := context.Background()
			s.Get(ctx, srv.URL+bc.path) // warm: a connection, and the entry
			var doc benchDoc
			b.ReportAllocs()
			for b.Loop() {
				resp, err := s.Get(ctx, srv.URL+bc.path, courier.Into(&doc))
				if err != nil || resp.Cache != bc.want {
					b.Fatalf("Get = %v, %v; want %v", err, resp.Cache, bc.want)
				}
			}
		})
	}
}

// A GitHub-like polling pattern: clients poll an events endpoint that
// changes now and then. With max-age=60 (what GitHub sends) the cache
// answers all but the first poll of each minute; with max-age=0 and an
// ETag, every poll is a conditional request whose 304 carries no body (and
// which GitHub does not count against the rate limit). The test counts
// what reached the server; it logs the figures the README gives.
func TestCachePollingWorkload(t *testing.T) {
	t.Parallel()
	const polls, changeEvery = 600, 100
	for _, tc := range []struct {
		name, cacheControl string
		full, notModified  int // responses with a body, 304s, at the server
	}{
		{"max-age=60", "private, max-age=60", 1, 0},
		{"max-age=0 + ETag", "private, max-age=0", polls / changeEvery, polls - polls/changeEvery},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var version, full, notModified, bytesSent atomic.Int64
			events := make([]byte, 8<<10)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				etag := fmt.Sprintf(`"v%d"`, version.Load())
				w.Header().Set("Cache-Control", tc.cacheControl)
				w.Header().Set("ETag", etag)
				w.Header().Set("X-Poll-Interval", "60")
				if r.Header.Get("If-None-Match") == etag {
					notModified.Add(1)
					w.WriteHeader(http.StatusNotModified)
					return
				}
				full.Add(1)
				bytesSent.Add(int64(len(events)))
				w.Write(events)
			}))
			defer srv.Close()
			s, err := courier.New(courier.WithCache(courier.Cache{}))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close(context.Background())
			for i := range polls {
				if i > 0 && i%changeEvery == 0 {
					version.Add(1)
				}
				if _, err := s.Get(t.Context(), srv.URL+"/repos/o/r/events"); err != nil {
					t.Fatal(err)
				}
			}
			st := s.Stats().Cache
			t.Logf("%d polls: %d full responses (%d KiB), %d 304s, %d answered by the cache alone; cache stats %+v",
				polls, full.Load(), bytesSent.Load()>>10, notModified.Load(), st.Hits, st)
			if full.Load() != int64(tc.full) || notModified.Load() != int64(tc.notModified) {
				t.Errorf("server: %d full, %d 304s; want %d and %d", full.Load(), notModified.Load(), tc.full, tc.notModified)
			}
		})
	}
}
