package courier_test

// Content decoding: gzip and deflate (zlib and raw), the decoded size counted
// against the body limit, corrupt and truncated streams, unknown codings left
// alone, and long Content-Encoding chains refused.

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/internal/testenv"
)

// sample is a body that compresses, but not to nothing.
var sample = func() []byte {
	var b bytes.Buffer
	for i := range 400 {
		fmt.Fprintf(&b, "line %d: the quick brown fox jumps over the lazy dog %x\n", i, i*7919)
	}
	return b.Bytes()
}()

func gzipBytes(t testing.TB, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func zlibBytes(t testing.TB, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := zlib.NewWriter(&b)
	w.Write(data)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func flateBytes(t testing.TB, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.DefaultCompression)
	w.Write(data)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// encoded serves body with the given Content-Encoding ("a|b" for two field
// lines), with a
// Content-Length unless chunked is set (then it is flushed in pieces).
func encoded(coding string, body []byte, chunked bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		if coding != "" {
			// "a|b" sends two field lines.
			for _, c := range strings.Split(coding, "|") {
				w.Header().Add("Content-Encoding", c)
			}
		}
		if !chunked {
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.Write(body)
			return
		}
		w.(http.Flusher).Flush() // no Content-Length, even for an empty body
		for rest := body; len(rest) > 0; {
			n := min(len(rest), 100)
			w.Write(rest[:n])
			w.(http.Flusher).Flush()
			rest = rest[n:]
		}
	}
}

func TestDecodeCodings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		coding  string
		body    []byte
		chunked bool
	}{
		{"gzip", "gzip", gzipBytes(t, sample), false},
		{"gzip chunked", "gzip", gzipBytes(t, sample), true},
		{"x-gzip", "x-gzip", gzipBytes(t, sample), false},
		{"GZIP upper case", "GZIP", gzipBytes(t, sample), false},
		{"deflate zlib", "deflate", zlibBytes(t, sample), false},
		{"deflate zlib chunked", "deflate", zlibBytes(t, sample), true},
		{"deflate raw", "deflate", flateBytes(t, sample), false},
		{"deflate raw chunked", "deflate", flateBytes(t, sample), true},
		{"gzip then deflate", "gzip, deflate", zlibBytes(t, gzipBytes(t, sample)), false},
		{"three codings", "gzip, gzip, gzip", gzipBytes(t, gzipBytes(t, gzipBytes(t, sample))), false},
		{"identity and gzip", "identity, gzip", gzipBytes(t, sample), false},
		{"two field lines", "gzip|gzip", gzipBytes(t, gzipBytes(t, sample)), false},
	}
	run(t, func(t *testing.T, m testenv.Mode) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				ts := testenv.NewServer(t, m, encoded(tt.coding, tt.body, tt.chunked))
				s := ts.Session(t, courier.WithMiddleware(servedInFull(ts)))
				resp, err := s.Get(t.Context(), "/")
				if err != nil {
					t.Fatalf("Get = %v", err)
				}
				if !bytes.Equal(resp.Bytes(), sample) {
					t.Errorf("Get body = %d bytes %.40q..., want the %d decoded bytes", len(resp.Bytes()), resp.Bytes(), len(sample))
				}
				if v, ok := resp.Header["Content-Encoding"]; ok {
					t.Errorf("Header[Content-Encoding] = %q after decoding, want it removed", v)
				}
				if v, ok := resp.Header["Content-Length"]; ok {
					t.Errorf("Header[Content-Length] = %q after decoding, want it removed", v)
				}

				// The same through a streamed body.
				resp, err = s.Get(t.Context(), "/", courier.Stream())
				if err != nil {
					t.Fatalf("Get(Stream) = %v", err)
				}
				got, err := io.ReadAll(resp.Body())
				resp.Close()
				if err != nil || !bytes.Equal(got, sample) {
					t.Errorf("Get(Stream) body = %d bytes, %v; want %d decoded bytes", len(got), err, len(sample))
				}
				// Decoding must not cost the connection.
				if n := ts.NewConns.Load(); n != 1 {
					t.Errorf("server saw %d connections for 2 requests, want 1", n)
				}
			})
		}
	})
}

// An empty body labelled with a coding is an empty body, as net/http's
// transparent gzip reads it.
func TestDecodeEmptyBody(t *testing.T) {
	t.Parallel()
	for _, coding := range []string{"gzip", "deflate"} {
		t.Run(coding, func(t *testing.T) {
			run(t, func(t *testing.T, m testenv.Mode) {
				ts := testenv.NewServer(t, m, encoded(coding, nil, true))
				s := ts.Session(t)
				resp, err := s.Get(t.Context(), "/")
				if err != nil || len(resp.Bytes()) != 0 {
					t.Errorf("Get of an empty %s body = %v; want an empty body, no error", coding, err)
				}
			})
		})
	}
}

func TestDecodeHTTPBin(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T, m testenv.Mode) {
		ts := testenv.HTTPBin(t, m)
		s := ts.Session(t)
		for _, path := range []string{"/gzip", "/deflate"} {
			var got struct {
				Gzipped  bool                `json:"gzipped"`
				Deflated bool                `json:"deflated"`
				Headers  map[string][]string `json:"headers"`
			}
			resp, err := s.Get(t.Context(), path, courier.Into(&got))
			if err != nil {
				t.Fatalf("Get(%s) = %v", path, err)
			}
			if !got.Gzipped && !got.Deflated {
				t.Errorf("Get(%s) decoded to %s, want gzipped or deflated true", path, string(resp.Bytes()))
			}
			if ae := got.Headers["Accept-Encoding"]; len(ae) != 1 || ae[0] != "gzip, deflate" {
				t.Errorf("Get(%s): server saw Accept-Encoding %q, want %q", path, ae, "gzip, deflate")
			}
			if ce := resp.Header.Get("Content-Encoding"); ce != "" {
				t.Errorf("Get(%s): Content-Encoding %q left on a decoded response", path, ce)
			}
		}
	})
}

func TestDecodeUnknownCodingLeftRaw(t *testing.T) {
	t.Parallel()
	raw := []byte("\x1b\x00\x00not really brotli")
	for _, coding := range []string{"br", "zstd", "gzip, br"} {
		t.Run(coding, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, testenv.HTTP1, encoded(coding, raw, false))
			s := ts.Session(t)
			resp, err := s.Get(t.Context(), "/")
			if err != nil {
				t.Fatalf("Get = %v", err)
			}
			if !bytes.Equal(resp.Bytes(), raw) {
				t.Errorf("body = %q, want the raw %q", resp.Bytes(), raw)
			}
			if ce := resp.Header.Get("Content-Encoding"); ce != coding {
				t.Errorf("Content-Encoding = %q, want %q kept", ce, coding)
			}
		})
	}
}

func TestDecodeTooManyEncodings(t *testing.T) {
	t.Parallel()
	body := sample
	for range 6 {
		body = gzipBytes(t, body)
	}
	for _, n := range []int{4, 6} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, testenv.HTTP1, encoded(strings.Repeat("gzip, ", n-1)+"gzip", body, false))
			s := ts.Session(t)
			_, err := s.Get(t.Context(), "/")
			requireIs(t, err, courier.ErrBodyTooLarge)
			requireNotIs(t, err, courier.ErrDecode, courier.ErrConnLost)
			_, err = s.Client().Get(ts.URL)
			requireIs(t, err, courier.ErrBodyTooLarge)
		})
	}
}

func TestDecodeTruncatedGzip(t *testing.T) {
	t.Parallel()
	full := gzipBytes(t, sample)
	tests := []struct {
		name string
		body []byte
	}{
		{"cut in the stream", full[:len(full)/2]},
		{"cut before the trailer", full[:len(full)-4]},
		{"cut in the header", full[:5]},
		{"not gzip", []byte("plain text, not gzip")},
	}
	run(t, func(t *testing.T, m testenv.Mode) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				ts := testenv.NewServer(t, m, encoded("gzip", tt.body, false))
				s := ts.Session(t)
				start := time.Now()
				resp, err := s.Get(t.Context(), "/")
				requireWithin(t, start, slack)
				if resp != nil {
					t.Errorf("Get returned a partial body as a response")
				}
				requireIs(t, err, courier.ErrDecode)
				requireNotIs(t, err, courier.ErrConnLost, courier.ErrCanceled, courier.ErrTimeout)

				resp, err = s.Get(t.Context(), "/", courier.Stream())
				if err != nil {
					t.Fatalf("Get(Stream) = %v", err)
				}
				_, err = io.ReadAll(resp.Body())
				resp.Close()
				requireIs(t, err, courier.ErrDecode)
				requireNotIs(t, err, courier.ErrConnLost)
			})
		}
	})
}

func TestDecodeTruncatedDeflate(t *testing.T) {
	t.Parallel()
	full := zlibBytes(t, sample)
	ts := testenv.NewServer(t, testenv.HTTP1, encoded("deflate", full[:len(full)/2], false))
	s := ts.Session(t)
	_, err := s.Get(t.Context(), "/")
	requireIs(t, err, courier.ErrDecode)
	requireNotIs(t, err, courier.ErrConnLost)
}

func TestDecodeOffWithoutAcceptEncoding(t *testing.T) {
	t.Parallel()
	gz := gzipBytes(t, sample)
	run(t, func(t *testing.T, m testenv.Mode) {
		seen := make(chan []string, 1)
		ts := testenv.NewServer(t, m, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			seen <- r.Header.Values("Accept-Encoding")
			encoded("gzip", gz, false)(w, r)
		}))
		tests := []struct {
			name    string
			session []courier.Option
			request []courier.RequestOption
			wantAE  []string
		}{
			{"RemoveHeader per request", nil, []courier.RequestOption{courier.RemoveHeader("Accept-Encoding")}, nil},
			{"RemoveHeader per session", []courier.Option{courier.RemoveHeader("Accept-Encoding")}, nil, nil},
			{"caller's own Accept-Encoding", nil, []courier.RequestOption{courier.Header("Accept-Encoding", "gzip")}, []string{"gzip"}},
		}
		for _, tt := range tests {
			s := ts.Session(t, tt.session...)
			resp, err := s.Get(t.Context(), "/", tt.request...)
			if err != nil {
				t.Fatalf("%s: Get = %v", tt.name, err)
			}
			if !bytes.Equal(resp.Bytes(), gz) {
				t.Errorf("%s: body was decoded, want the raw gzip bytes", tt.name)
			}
			if ce := resp.Header.Get("Content-Encoding"); ce != "gzip" {
				t.Errorf("%s: Content-Encoding = %q, want gzip kept", tt.name, ce)
			}
			if got := <-seen; fmt.Sprint(got) != fmt.Sprint(tt.wantAE) {
				t.Errorf("%s: server saw Accept-Encoding %q, want %q", tt.name, got, tt.wantAE)
			}
		}
	})
}

func TestDecodeHeadNotDecoded(t *testing.T) {
	t.Parallel()
	ts := testenv.NewServer(t, testenv.HTTP1, encoded("gzip", gzipBytes(t, sample), false))
	s := ts.Session(t)
	resp, err := s.Do(t.Context(), http.MethodHead, "/")
	if err != nil {
		t.Fatalf("Head = %v", err)
	}
	if ce := resp.Header.Get("Content-Encoding"); ce != "gzip" {
		t.Errorf("Head: Content-Encoding = %q, want gzip kept (nothing was decoded)", ce)
	}
}

// bombMember is one gzip member holding 1 MiB of zeros (about 1 KiB).
func bombMember(t testing.TB, fill byte) []byte {
	t.Helper()
	return gzipBytes(t, bytes.Repeat([]byte{fill}, 1<<20))
}

// bombHandler serves a multistream gzip body that decodes to members MiB:
// the prefix (if any) in its own member, then one small member repeated,
// written from the same buffer so that the server allocates nothing per
// member.
func bombHandler(prefix, member []byte, members int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Set("Content-Length", strconv.Itoa(len(prefix)+members*len(member)))
		if _, err := w.Write(prefix); err != nil {
			return
		}
		for range members {
			if _, err := w.Write(member); err != nil {
				return // the client went away, as it should
			}
		}
	}
}

// measureAlloc runs f and returns how many bytes the whole process allocated
// meanwhile (TotalAlloc), and how much more heap was in use just after it
// than before (HeapAlloc, garbage included: a lower bound of the peak).
func measureAlloc(f func()) (total uint64, heap int64) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc, int64(after.HeapAlloc) - int64(before.HeapAlloc)
}

// TestDecodeGzipBomb sends about 10 MB of gzip that decodes to 10 GiB. The
// request must fail with ErrBodyTooLarge at the 10 MiB default limit, having
// allocated a small multiple of the limit, not of the bomb.
//
// Not parallel: it measures the process's allocations, which other tests
// would add to. Top-level tests without t.Parallel run alone.
func TestDecodeGzipBomb(t *testing.T) {
	const (
		members  = 10 << 10 // 10 GiB decoded
		maxAlloc = 64 << 20 // generous: the limit is 10 MiB
		// bombBound is generous too: under -race each request takes
		// about a second, decoding the whole bomb minutes.
		bombBound = 20 * time.Second
	)
	member := bombMember(t, 0)
	if len(member)*members > 16<<20 {
		t.Fatalf("bomb is %d bytes compressed, want about 10 MiB", len(member)*members)
	}
	ts := testenv.NewServer(t, testenv.HTTP1, bombHandler(nil, member, members))
	s := ts.Session(t)
	s.Get(t.Context(), "/", courier.AnyStatus()) // warm up: connection, pools

	var err error
	start := time.Now()
	alloc, heap := measureAlloc(func() { _, err = s.Get(t.Context(), "/") })
	requireWithin(t, start, bombBound)
	requireIs(t, err, courier.ErrBodyTooLarge)
	if alloc > maxAlloc {
		t.Errorf("a gzip bomb made the process allocate %d MiB, want at most %d MiB", alloc>>20, maxAlloc>>20)
	}
	t.Logf("buffered: %d MiB allocated, heap %+d KiB, in %v", alloc>>20, heap>>10, time.Since(start))

	// A streamed body decoded as JSON obeys the same limit. The bomb is one
	// JSON string that never ends.
	ts = testenv.NewServer(t, testenv.HTTP1, bombHandler(gzipBytes(t, []byte(`["`)), bombMember(t, 'a'), members))
	s = ts.Session(t)
	start = time.Now()
	alloc, heap = measureAlloc(func() {
		var v []string
		var resp *courier.Response
		resp, err = s.Get(t.Context(), "/", courier.Stream())
		if err == nil {
			err = resp.Decode(&v)
		}
	})
	requireWithin(t, start, bombBound)
	requireIs(t, err, courier.ErrBodyTooLarge)
	if alloc > maxAlloc {
		t.Errorf("a gzip bomb decoded as JSON made the process allocate %d MiB, want at most %d MiB", alloc>>20, maxAlloc>>20)
	}
	t.Logf("stream+decode: %d MiB allocated, heap %+d KiB, in %v", alloc>>20, heap>>10, time.Since(start))

	// And through Into.
	var v []string
	_, err = s.Get(t.Context(), "/", courier.Into(&v))
	requireIs(t, err, courier.ErrBodyTooLarge)
}

// The body limit counts decoded bytes, so a small compressed body that
// decodes past the limit fails, and one that decodes to exactly the limit
// does not.
func TestDecodeLimitCountsDecodedBytes(t *testing.T) {
	t.Parallel()
	const limit = 1024
	tests := []struct {
		name    string
		decoded int
		wantErr error
	}{
		{"at the limit", limit, nil},
		{"one over", limit + 1, courier.ErrBodyTooLarge},
		{"far over", 64 * limit, courier.ErrBodyTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, testenv.HTTP1, encoded("gzip", gzipBytes(t, bytes.Repeat([]byte("x"), tt.decoded)), false))
			s := ts.Session(t, courier.WithMaxBodySize(limit))
			_, err := s.Get(t.Context(), "/")
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Get of %d decoded bytes = %v, want %v", tt.decoded, err, tt.wantErr)
			}
		})
	}
}

func TestDecodeClientTransparent(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T, m testenv.Mode) {
		ts := testenv.NewServer(t, m, encoded("gzip", gzipBytes(t, sample), false))
		s := ts.Session(t)
		resp, err := s.Client().Get(ts.URL)
		if err != nil {
			t.Fatalf("Client().Get = %v", err)
		}
		defer resp.Body.Close()
		got, err := io.ReadAll(resp.Body)
		if err != nil || !bytes.Equal(got, sample) {
			t.Errorf("Client body = %d bytes, %v; want %d decoded bytes", len(got), err, len(sample))
		}
		if !resp.Uncompressed || resp.Header.Get("Content-Encoding") != "" || resp.ContentLength != -1 {
			t.Errorf("Client response: Uncompressed %v, Content-Encoding %q, ContentLength %d; want true, \"\", -1",
				resp.Uncompressed, resp.Header.Get("Content-Encoding"), resp.ContentLength)
		}
	})
}

// The end of a chunked body can come after the end of the compressed stream
// in it (zlib and raw deflate stop at their checksum). Decoding must still
// read the body to its end, or the connection is closed instead of reused.
func TestDecodeKeepsConnectionWhenBodyEndsLate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		coding string
		body   []byte
	}{
		{"gzip", "gzip", gzipBytes(t, sample)},
		{"deflate zlib", "deflate", zlibBytes(t, sample)},
		{"deflate raw", "deflate", flateBytes(t, sample)},
	}
	run(t, func(t *testing.T, m testenv.Mode) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				ts := testenv.NewServer(t, m, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Encoding", tt.coding)
					w.Write(tt.body)
					w.(http.Flusher).Flush()
					time.Sleep(10 * time.Millisecond) // the last chunk comes later
				}))
				s := ts.Session(t)
				for range 3 {
					resp, err := s.Get(t.Context(), "/")
					if err != nil || !bytes.Equal(resp.Bytes(), sample) {
						t.Fatalf("Get = %v, want the decoded body", err)
					}
					resp, err = s.Get(t.Context(), "/", courier.Stream())
					if err != nil {
						t.Fatalf("Get(Stream) = %v", err)
					}
					if got, err := io.ReadAll(resp.Body()); err != nil || !bytes.Equal(got, sample) {
						t.Fatalf("Get(Stream) body: %v, want the decoded body", err)
					}
					resp.Close()
				}
				if n := ts.NewConns.Load(); n != 1 {
					t.Errorf("server saw %d connections for 6 requests, want 1", n)
				}
			})
		}
	})
}

// A Range request asks for no content coding (as net/http does): a range of
// a compressed representation cannot be decoded on its own.
func TestDecodeRangeRequestAsksForIdentity(t *testing.T) {
	t.Parallel()
	seen := make(chan []string, 2)
	ts := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Values("Accept-Encoding")
		http.ServeContent(w, r, "sample.txt", time.Time{}, bytes.NewReader(sample))
	}))
	s := ts.Session(t)
	resp, err := s.Get(t.Context(), "/", courier.Header("Range", "bytes=0-9"))
	if err != nil {
		t.Fatalf("Get with Range = %v", err)
	}
	if ae := <-seen; len(ae) != 0 {
		t.Errorf("server saw Accept-Encoding %q on a Range request, want none", ae)
	}
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(resp.Bytes(), sample[:10]) {
		t.Errorf("Get with Range = %d %q, want 206 %q", resp.StatusCode, resp.Bytes(), sample[:10])
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, ts.URL, nil)
	req.Header.Set("Range", "bytes=0-9")
	r2, err := s.Client().Do(req)
	if err != nil {
		t.Fatalf("Client().Do with Range = %v", err)
	}
	io.Copy(io.Discard, r2.Body)
	r2.Body.Close()
	if ae := <-seen; len(ae) != 0 {
		t.Errorf("server saw Accept-Encoding %q on a Range request through Client, want none", ae)
	}
}

// peakHeap runs f and returns the highest growth of the heap's objects
// (live, and garbage not yet swept) over what they were before it, sampled
// every half millisecond with runtime/metrics.
func peakHeap(f func()) int64 {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() int64 {
		metrics.Read(sample)
		return int64(sample[0].Value.Uint64())
	}
	runtime.GC()
	base := read()
	var peak atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(500 * time.Microsecond)
		defer t.Stop()
		for {
			if d := read() - base; d > peak.Load() {
				peak.Store(d)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	f()
	close(stop)
	<-done
	if d := read() - base; d > peak.Load() {
		peak.Store(d)
	}
	return peak.Load()
}

// A read holds the body in pieces as it comes: a gzip bomb fails at the
// cap with the heap grown by at most the cap and one more megabyte, not by
// a doubling buffer's one and a half to three times the cap, whether the
// body is buffered or streamed into Decode.
//
// Not parallel: it measures the process's heap.
func TestReadPeakHeapAtTheCap(t *testing.T) {
	const limit = 10 << 20
	ts := testenv.NewServer(t, testenv.HTTP1, bombHandler(nil, bombMember(t, 0), 1<<10)) // 1 GiB decoded
	s := ts.Session(t)
	s.Get(t.Context(), "/", courier.AnyStatus()) // warm up: connection, pools
	var err error
	peak := peakHeap(func() { _, err = s.Get(t.Context(), "/") })
	requireIs(t, err, courier.ErrBodyTooLarge)
	t.Logf("gzip bomb against the %d MiB cap: peak heap growth %.1f MiB", limit>>20, float64(peak)/(1<<20))
	if peak > limit+1<<20 {
		t.Errorf("peak heap growth %.1f MiB, want at most the cap and 1 MiB (%d MiB)", float64(peak)/(1<<20), limit>>20+1)
	}

	// Streamed and decoded: the bomb is one JSON string that never ends.
	ts = testenv.NewServer(t, testenv.HTTP1, bombHandler(gzipBytes(t, []byte(`["`)), bombMember(t, 'a'), 1<<10))
	s = ts.Session(t)
	peak = peakHeap(func() {
		var v []string
		resp, gerr := s.Get(t.Context(), "/", courier.Stream())
		if err = gerr; err == nil {
			err = resp.Decode(&v)
		}
	})
	requireIs(t, err, courier.ErrBodyTooLarge)
	t.Logf("gzip bomb of one JSON string, streamed into Decode: peak heap growth %.1f MiB", float64(peak)/(1<<20))
	if peak > limit+1<<20 {
		t.Errorf("streamed decode: peak heap growth %.1f MiB, want at most %d MiB", float64(peak)/(1<<20), limit>>20+1)
	}
}
