package courier_test

// Streamed multipart bodies and upload progress.

import (
	"crypto/sha256"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/internal/testenv"
)

// received is what a multipart handler read: each part's name, filename,
// Content-Type and the sha256 and length of its content.
type receivedPart struct {
	name, filename, contentType string
	sum                         [32]byte
	n                           int64
}

// multipartServer answers a multipart POST with nothing, keeping what it
// read of the last one, streamed part by part, and the request's length.
func multipartServer(t *testing.T, m testenv.Mode) (*testenv.Server, *atomic.Pointer[[]receivedPart], *atomic.Int64) {
	var got atomic.Pointer[[]receivedPart]
	var length atomic.Int64
	ts := testenv.NewServer(t, m, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		length.Store(r.ContentLength)
		mr, err := r.MultipartReader()
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var parts []receivedPart
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			h := sha256.New()
			n, _ := io.Copy(h, p)
			rp := receivedPart{name: p.FormName(), filename: p.FileName(), contentType: p.Header.Get("Content-Type"), n: n}
			copy(rp.sum[:], h.Sum(nil))
			parts = append(parts, rp)
		}
		got.Store(&parts)
	}))
	return ts, &got, &length
}

// bigFile writes n pseudo-random bytes to a file in dir and returns its
// path and content's sha256.
func bigFile(t *testing.T, name string, n int) (string, [32]byte) {
	t.Helper()
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(i*7 + i/251)
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, sha256.Sum256(data)
}

func TestMultipart(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T, m testenv.Mode) {
		ts, got, length := multipartServer(t, m)
		s := ts.Session(t)
		path, sum := bigFile(t, "photo.png", 3<<20+17)
		from := strings.Repeat("streamed ", 1000)

		var calls []int64
		var totals []int64
		_, err := s.Post(t.Context(), "/", courier.Multipart(
			courier.Field("title", "a holiday"),
			courier.File("photo", path),
			courier.Field("meta", `{"a":1}`).Type("application/json"),
		), courier.UploadProgress(func(sent, total int64) {
			calls = append(calls, sent)
			totals = append(totals, total)
		}))
		if err != nil {
			t.Fatal(err)
		}
		parts := *got.Load()
		want := []receivedPart{
			{name: "title", n: 9},
			{name: "photo", filename: "photo.png", contentType: "image/png", sum: sum, n: 3<<20 + 17},
			{name: "meta", contentType: "application/json", n: 7},
		}
		if len(parts) != len(want) {
			t.Fatalf("server read %d parts, want %d", len(parts), len(want))
		}
		for i, w := range want {
			p := parts[i]
			if p.name != w.name || p.filename != w.filename || p.contentType != w.contentType || p.n != w.n || (w.sum != [32]byte{} && p.sum != w.sum) {
				t.Errorf("part %d = %+v, want %+v", i, p, w)
			}
		}
		if length.Load() <= 3<<20 {
			t.Errorf("Content-Length %d, want the whole body's, known in advance", length.Load())
		}
		if len(calls) < 2 || calls[len(calls)-1] != length.Load() || totals[0] != length.Load() {
			t.Errorf("progress %v of %v, want calls reaching the Content-Length %d", calls, totals, length.Load())
		}
		for i := 1; i < len(calls); i++ {
			if calls[i] < calls[i-1] {
				t.Errorf("progress went back: %v", calls)
				break
			}
		}

		// A part from a reader: sent once, with no length known.
		calls, totals = nil, nil
		_, err = s.Post(t.Context(), "/", courier.Multipart(courier.FileFrom("log", "app-log", strings.NewReader(from))),
			courier.UploadProgress(func(sent, total int64) { calls, totals = append(calls, sent), append(totals, total) }))
		if err != nil {
			t.Fatal(err)
		}
		if parts := *got.Load(); len(parts) != 1 || parts[0].n != int64(len(from)) || parts[0].contentType != "application/octet-stream" {
			t.Errorf("parts = %+v, want the log", parts)
		}
		if length.Load() != -1 || len(totals) == 0 || totals[0] != -1 {
			t.Errorf("Content-Length %d, progress totals %v; want -1 (unknown) for both", length.Load(), totals)
		}
	})
}

// A multipart body of files is sent again, whole, on a 307; one with a
// part from a reader cannot be.
func TestMultipartReplay(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("/old", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		http.Redirect(w, r, "/new", http.StatusTemporaryRedirect)
	})
	inner, innerGot, _ := multipartServer(t, testenv.HTTP1)
	mux.Handle("/new", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inner.Config.Handler.ServeHTTP(w, r)
	}))
	ts := testenv.NewServer(t, testenv.HTTP1, mux)
	s := ts.Session(t)
	path, sum := bigFile(t, "a.bin", 200<<10)
	if _, err := s.Post(t.Context(), "/old", courier.Multipart(courier.File("f", path))); err != nil {
		t.Fatal(err)
	}
	if parts := *innerGot.Load(); len(parts) != 1 || parts[0].sum != sum {
		t.Errorf("after the 307 the server read %+v, want the whole file", parts)
	}
	_, err := s.Post(t.Context(), "/old", courier.Multipart(courier.FileFrom("f", "x", strings.NewReader("once"))))
	requireIs(t, err, courier.ErrBodyNotReplayable)
}

// A 64 MiB file goes out without being held in memory.
func TestMultipartStreams(t *testing.T) {
	t.Parallel()
	ts := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
	}))
	s := ts.Session(t)
	path, _ := bigFile(t, "big.bin", 64<<20)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := s.Post(t.Context(), "/", courier.Multipart(courier.File("f", path))); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	// The test's other goroutines allocate too; a buffered body would
	// take 64 MiB at least.
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<20 {
		t.Errorf("a 64 MiB upload allocated %d MiB, want far less than the file", grew>>20)
	}
}

func TestMultipartBadParts(t *testing.T) {
	t.Parallel()
	var served atomic.Int32
	ts := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { served.Add(1) }))
	s := ts.Session(t)
	dir := t.TempDir()
	for _, tt := range []struct {
		name  string
		parts []courier.Part
		want  string
	}{
		{"missing file", []courier.Part{courier.File("f", filepath.Join(dir, "nope.txt"))}, "nope.txt"},
		{"directory", []courier.Part{courier.File("f", dir)}, "not a regular file"},
		{"no name", []courier.Part{courier.Field("", "v")}, "no name"},
		{"nil reader", []courier.Part{courier.FileFrom("f", "x", nil)}, "nil reader"},
	} {
		_, err := s.Post(t.Context(), "/", courier.Multipart(tt.parts...))
		var e *courier.Error
		if !errors.As(err, &e) || e.Kind != courier.ErrInvalidRequest || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want ErrInvalidRequest naming %q", tt.name, err, tt.want)
		}
	}
	_, err := s.Post(t.Context(), "/", courier.Multipart(courier.Field("a", "1")), courier.Body([]byte("x")))
	if err == nil || !strings.Contains(err.Error(), "more than one body option") {
		t.Errorf("Multipart with Body = %v, want a clear error", err)
	}
	if served.Load() != 0 {
		t.Errorf("%d requests sent for bad parts", served.Load())
	}
}
