package download_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/download"
)

// pattern is a file of n bytes made of one repeated block, which
// http.ServeContent serves without holding it in memory.
type pattern struct {
	n, off int64
}

var block = content(64<<10, 7)

func (p *pattern) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	b = b[:min(int64(len(b)), p.n-p.off)]
	for i := 0; i < len(b); {
		i += copy(b[i:], block[(p.off+int64(i))%int64(len(block)):])
	}
	p.off += int64(len(b))
	return len(b), nil
}

func (p *pattern) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += p.off
	case io.SeekEnd:
		offset += p.n
	}
	if offset < 0 {
		return 0, errors.New("negative offset")
	}
	p.off = offset
	return offset, nil
}

// benchSize is the size of BenchmarkFile's file, in MiB: 1024 for the
// figure the README gives (go test ... -args -download.mib 1024).
var benchSize = flag.Int64("download.mib", 256, "size of BenchmarkFile's file in MiB")

// BenchmarkFile downloads a file of -download.mib MiB (default 256, 16
// with -short) from a loopback server four ways, and reports the throughput (MB/s) and the
// heap: heap-alloc-B/op is what the download allocated, from
// runtime/metrics (a bound on how much it can grow the heap, whose target
// is under 1 MiB whatever the file's size), heap-live-B the live heap after
// the runs, less the one before them.
//
//   - nethttp-copy: http.Get and io.Copy into a file, nothing checked.
//   - nethttp-copy-fsync: the same, with the file's Sync before Close that
//     File does before its rename (most of File's cost over nethttp-copy
//     on a real disk: it writes the file out).
//   - courier: download.File, nothing to check.
//   - courier-sha256: download.File with a SHA256 to verify.
//
// The server runs in this process: its allocations are in every figure.
//
//	go test -run '^$' -bench BenchmarkFile -benchtime 3x ./download/
//	go test -run '^$' -bench BenchmarkFile -benchtime 2x ./download/ -args -download.mib 1024
func BenchmarkFile(b *testing.B) {
	n := *benchSize << 20
	if testing.Short() {
		n = 16 << 20
	}
	h := sha256.New()
	io.Copy(h, &pattern{n: n})
	digest := hex.EncodeToString(h.Sum(nil))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"bench"`)
		http.ServeContent(w, r, "file", time.Time{}, &pattern{n: n})
	}))
	b.Cleanup(srv.Close)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	b.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr}
	s, err := courier.New()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close(context.Background()) })
	dir := b.TempDir()

	for _, bc := range []struct {
		name string
		get  func(ctx context.Context, path string) error
	}{
		{"nethttp-copy", func(ctx context.Context, path string) error {
			return copyNetHTTP(ctx, client, srv.URL, path, false)
		}},
		{"nethttp-copy-fsync", func(ctx context.Context, path string) error {
			return copyNetHTTP(ctx, client, srv.URL, path, true)
		}},
		{"courier", func(ctx context.Context, path string) error {
			_, err := download.File(ctx, s, srv.URL, path)
			return err
		}},
		{"courier-sha256", func(ctx context.Context, path string) error {
			_, err := download.File(ctx, s, srv.URL, path, download.SHA256(digest))
			return err
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			path := filepath.Join(dir, bc.name)
			b.SetBytes(n)
			samples := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}, {Name: "/memory/classes/heap/objects:bytes"}}
			runtime.GC()
			metrics.Read(samples)
			alloc0, live0 := samples[0].Value.Uint64(), samples[1].Value.Uint64()
			for b.Loop() {
				if err := bc.get(b.Context(), path); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				os.Remove(path)
				b.StartTimer()
			}
			metrics.Read(samples)
			alloc := samples[0].Value.Uint64() - alloc0
			runtime.GC()
			metrics.Read(samples)
			b.ReportMetric(float64(alloc)/float64(b.N), "heap-alloc-B/op")
			b.ReportMetric(float64(int64(samples[1].Value.Uint64())-int64(live0)), "heap-live-B")
		})
	}
}

func copyNetHTTP(ctx context.Context, client *http.Client, url, path string, fsync bool) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	if fsync {
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}
