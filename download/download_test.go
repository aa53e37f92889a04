package download_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/couriertest"
	"github.com/courierhttp/courier/download"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const size = 1 << 20

// content returns n deterministic pseudo-random bytes of version v.
func content(n int, v uint64) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(v)})
	r.Read(b)
	return b
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func reprDigest(b []byte) string {
	s := sha256.Sum256(b)
	return "sha-256=:" + base64.StdEncoding.EncodeToString(s[:]) + ":"
}

// server serves a file with http.ServeContent, ETag "v<version>", and
// records each request's Range and If-Range. While cuts > 0 it cuts each
// response after half the bytes it would send; before each request, hook
// (if set) may answer it instead.
type server struct {
	*httptest.Server
	mu      sync.Mutex
	data    []byte
	version int
	etag    bool // send an ETag
	modtime time.Time
	cuts    int
	extra   http.Header // headers added to every response
	hook    func(w http.ResponseWriter, r *http.Request, n int) bool
	reqs    []http.Header
}

func newServer(t *testing.T, data []byte) *server {
	sv := &server{data: data, etag: true}
	sv.Server = httptest.NewServer(sv)
	t.Cleanup(sv.Close)
	return sv
}

func (sv *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sv.mu.Lock()
	sv.reqs = append(sv.reqs, r.Header.Clone())
	n := len(sv.reqs)
	data, version, modtime, hook := sv.data, sv.version, sv.modtime, sv.hook
	cut := sv.cuts > 0
	if cut {
		sv.cuts--
	}
	for k, v := range sv.extra {
		w.Header()[k] = v
	}
	if sv.etag {
		w.Header().Set("ETag", `"v`+strconv.Itoa(version)+`"`)
	}
	sv.mu.Unlock()
	if r.URL.Path != "/file" {
		http.NotFound(w, r)
		return
	}
	if hook != nil && hook(w, r, n) {
		return
	}
	if cut {
		w = &cutWriter{ResponseWriter: w}
	}
	http.ServeContent(w, r, "file", modtime, bytes.NewReader(data))
}

// requests returns the headers of the requests received.
func (sv *server) requests() []http.Header {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	return sv.reqs
}

func (sv *server) set(f func(sv *server)) {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	f(sv)
}

// cutWriter writes the first half of the body it is given, flushes it,
// and then breaks the connection.
type cutWriter struct {
	http.ResponseWriter
	budget int
	set    bool
}

func (c *cutWriter) Write(b []byte) (int, error) {
	if !c.set {
		n, _ := strconv.Atoi(c.Header().Get("Content-Length"))
		c.budget, c.set = n/2, true
	}
	if len(b) > c.budget {
		c.ResponseWriter.Write(b[:c.budget])
		http.NewResponseController(c.ResponseWriter).Flush()
		panic(http.ErrAbortHandler)
	}
	c.budget -= len(b)
	return c.ResponseWriter.Write(b)
}

func newSession(t *testing.T, opts ...courier.Option) *courier.Session {
	t.Helper()
	opts = append([]courier.Option{courier.WithRetry(courier.RetryPolicy{Backoff: couriertest.NoBackoff})}, opts...)
	s, err := courier.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return s
}

// checkFile checks that path holds want and that no .part or sidecar is
// left beside it.
func checkFile(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if sha256Hex(got) != sha256Hex(want) {
		t.Errorf("%s: %d bytes, sha256 %s; want %d bytes, sha256 %s", path, len(got), sha256Hex(got), len(want), sha256Hex(want))
	}
	checkAbsent(t, path+".part", path+".part.json")
}

func checkAbsent(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := os.Lstat(n); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Lstat(%s) = %v, want it absent", filepath.Base(n), err)
		}
	}
}

// leavePart runs a download that is cut once with MaxResumes(0), which
// leaves a .part and its sidecar at path, and returns the .part's size.
func leavePart(t *testing.T, s *courier.Session, sv *server, path string) int64 {
	t.Helper()
	sv.set(func(sv *server) { sv.cuts = 1 })
	_, err := download.File(t.Context(), s, sv.URL+"/file", path, download.MaxResumes(0))
	if !errors.Is(err, download.ErrIncomplete) {
		t.Fatalf("File with a cut and MaxResumes(0) = %v, want ErrIncomplete", err)
	}
	fi, err := os.Stat(path + ".part")
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf(".part mode = %v, want 0600", fi.Mode().Perm())
	}
	if _, err := os.Stat(path + ".part.json"); err != nil {
		t.Fatal(err)
	}
	checkAbsent(t, path)
	return fi.Size()
}

func TestFresh(t *testing.T) {
	t.Parallel()
	data := content(size, 1)
	sv := newServer(t, data)
	path := filepath.Join(t.TempDir(), "f.bin")
	res, err := download.File(t.Context(), newSession(t), sv.URL+"/file", path, download.SHA256(sha256Hex(data)))
	if err != nil {
		t.Fatal(err)
	}
	checkFile(t, path, data)
	if res.Size != size || res.Written != size || res.Requests != 1 || res.Resumed || res.Restarted || res.URL != sv.URL+"/file" {
		t.Errorf("Result = %+v", res)
	}
	if len(res.Verified) != 1 || res.Verified[0].Source != download.SourceCaller {
		t.Errorf("Verified = %v, want the caller's digest", res.Verified)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode = %v, want 0644", fi.Mode().Perm())
	}
	if got := sv.requests()[0].Get("Accept-Encoding"); got != "identity" {
		t.Errorf("Accept-Encoding = %q, want identity", got)
	}
}

func TestCutThenResumed(t *testing.T) {
	t.Parallel()
	data := content(size, 1)
	sv := newServer(t, data)
	sv.cuts = 1
	path := filepath.Join(t.TempDir(), "f.bin")
	res, err := download.File(t.Context(), newSession(t), sv.URL+"/file", path, download.SHA256(sha256Hex(data)), download.Perm(0o600))
	if err != nil {
		t.Fatal(err)
	}
	checkFile(t, path, data)
	reqs := sv.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	if got, want := reqs[1].Get("Range"), fmt.Sprintf("bytes=%d-", res.ResumedFrom); got != want || res.ResumedFrom == 0 {
		t.Errorf("second request's Range = %q, want %q (ResumedFrom > 0)", got, want)
	}
	if got := reqs[1].Get("If-Range"); got != `"v0"` {
		t.Errorf("second request's If-Range = %q, want %q", got, `"v0"`)
	}
	if reqs[0].Get("Range") != "" || reqs[0].Get("If-Range") != "" {
		t.Errorf("first request had Range %q, If-Range %q", reqs[0].Get("Range"), reqs[0].Get("If-Range"))
	}
	if !res.Resumed || res.Restarted || res.Requests != 2 || res.Written != size || res.Size != size {
		t.Errorf("Result = %+v", res)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600 (Perm)", fi.Mode().Perm())
	}
}

// A .part left by an earlier call is resumed by the next one.
func TestResumeAcrossCalls(t *testing.T) {
	t.Parallel()
	data := content(size, 1)
	sv := newServer(t, data)
	s := newSession(t)
	path := filepath.Join(t.TempDir(), "f.bin")
	part := leavePart(t, s, sv, path)
	res, err := download.File(t.Context(), s, sv.URL+"/file", path, download.SHA256(sha256Hex(data)))
	if err != nil {
		t.Fatal(err)
	}
	checkFile(t, path, data)
	if !res.Resumed || res.ResumedFrom != part || res.Written != size-part || res.Requests != 1 {
		t.Errorf("Result = %+v, want resumed from %d", res, part)
	}
}

func TestLastModifiedValidator(t *testing.T) {
	t.Parallel()
	data := content(size, 1)
	sv := newServer(t, data)
	sv.etag = false
	sv.modtime = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	sv.cuts = 1
	path := filepath.Join(t.TempDir(), "f.bin")
	res, err := download.File(t.Context(), newSession(t), sv.URL+"/file", path)
	if err != nil {
		t.Fatal(err)
	}
	checkFile(t, path, data)
	if got, want := sv.requests()[1].Get("If-Range"), sv.modtime.Format(http.TimeFormat); got != want || !res.Resumed {
		t.Errorf("If-Range = %q, want %q; Resumed = %v", got, want, res.Resumed)
	}
}

// Without a validator a cut body starts over: a Range alone could splice.
func TestNoValidatorRestarts(t *testing.T) {
	t.Parallel()
	data := content(size, 1)
	sv := newServer(t, data)
	sv.etag = false // and no modtime: no Last-Modified
	sv.cuts = 1
	path := filepath.Join(t.TempDir(), "f.bin")
	res, err := download.File(t.Context(), newSession(t), sv.URL+"/file", path)
	if err != nil {
		t.Fatal(err)
	}
	checkFile(t, path, data)
	if got := sv.requests()[1].Get("Range"); got != "" || res.Resumed || !res.Restarted {
		t.Errorf("second Range = %q, Result = %+v; want no Range, restarted", got, res)
	}
}

func TestServerIgnoresRange(t *testing.T) {
	t.Parallel()
	data := content(size, 1)
	sv := newServer(t, data)
	s := newSession(t)
	path := filepath.Join(t.TempDir(), "f.bin")
	leavePart(t, s, sv, path)
	sv.set(func(sv *server) {
		sv.hook = func(w http.ResponseWriter, r *http.Request, _ int) bool {
			w.Header().Set("Content-Length", strconv.Itoa(len(data)))
			w.Write(data)
			return true
		}
	})
	res, err := download.File(t.Context(), s, sv.URL+"/file", path, download.SHA256(sha256Hex(data)))
	if err != nil {
		t.Fatal(err)
	}
	checkFile(t, path, data)
	if !res.Restarted || res.Resumed || res.Written != size || res.Requests != 1 {
		t.Errorf("Result = %+v, want restarted with one request", res)
	}
}

// The file changes on the server between a cut and the resume: If-Range
// does not match, the server sends the new file whole, and it replaces the
// .part instead of being spliced onto it.
func TestFileChanged(t *testing.T) {
	t.Parallel()
	v1, v2 := content(size, 1), content(size, 2)
	sv := newServer(t, v1)
	sv.cuts = 1
	sv.hook = func(w http.ResponseWriter, r *http.Request, n int) bool {
		if n == 2 { // the file changes before the resume arrives
			sv.set(func(sv *server) { sv.data, sv.version = v2, 2 })
			w.Header().Set("ETag", `"v2"`)
			http.ServeContent(w, r, "file", time.Time{}, bytes.NewReader(v2))
			return true
		}
		return false
	}
	path := filepath.Join(t.TempDir(), "f.bin")
	res, err := download.File(t.Context(), newSession(t), sv.URL+"/file", path)
	if err != nil {
		t.Fatal(err)
	}
	checkFile(t, path, v2)
	if reqs := sv.requests(); reqs[1].Get("If-Range") != `"v0"` {
		t.Errorf("resume's If-Range = %q, want %q", reqs[1].Get("If-Range"), `"v0"`)
	}
	if !res.Restarted || res.Resumed {
		t.Errorf("Result = %+v, want restarted, not resumed", res)
	}
}

// A .part that is already whole gets a 416 with "bytes */size": done.
func TestCompletePart416(t *testing.T) {
	t.Parallel()
	data := content(size, 1)
	sv := newServer(t, data)
	sv.extra = http.Header{"Repr-Digest": {reprDigest(data)}}
	s := newSession(t)
	path := filepath.Join(t.TempDir(), "f.bin")
	leavePart(t, s, sv, path)
	if err := os.WriteFile(path+".part", data, 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := download.File(t.Context(), s, sv.URL+"/file", path, download.SHA256(sha256Hex(data)))
	if err != nil {
		t.Fatal(err)
	}
	checkFile(t, path, data)
	if !res.Resumed || res.ResumedFrom != size || res.Written != 0 || res.Requests != 1 || len(res.Verified) != 2 {
		t.Errorf("Result = %+v, want resumed at the end, nothing written, two digests", res)
	}
	if got := sv.requests()[len(sv.requests())-1].Get("Range"); got != fmt.Sprintf("bytes=%d-", size) {
		t.Errorf("Range = %q", got)
	}
}

// A 206 that does not start where the .part ends is discarded, and so is
// the .part: the download starts over.
func TestWrongContentRangeStart(t *testing.T) {
	t.Parallel()
	data := content(size, 1)
	sv := newServer(t, data)
	sv.cuts = 1
	sv.hook = func(w http.ResponseWriter, r *http.Request, n int) bool {
		if n != 2 {
			return false
		}
		w.Header().Set("Content-Range", fmt.Sprintf("bytes 10-%d/%d", size-1, size))
		w.Header().Set("Content-Length", strconv.Itoa(size-10))
		w.WriteHeader(http.StatusPartialContent)
		w.Write(data[10:])
		return true
	}
	path := filepath.Join(t.TempDir(), "f.bin")
	res, err := download.File(t.Context(), newSession(t), sv.URL+"/file", path, download.SHA256(sha256Hex(data)))
	if err != nil {
		t.Fatal(err)
	}
	checkFile(t, path, data)
	reqs := sv.requests()
	if len(reqs) != 3 || reqs[2].Get("Range") != "" {
		t.Fatalf("%d requests, the last with Range %q; want 3, the last without", len(reqs), reqs[len(reqs)-1].Get("Range"))
	}
	if !res.Restarted || res.Requests != 3 {
		t.Errorf("Result = %+v, want restarted after 3 requests", res)
	}
}

// A server that keeps cutting the body spends MaxResumes and fails with
// ErrIncomplete, leaving a .part for later.
func TestMaxResumes(t *testing.T) {
	t.Parallel()
	data := content(size, 1)
	sv := newServer(t, data)
	sv.cuts = 100
	path := filepath.Join(t.TempDir(), "f.bin")
	_, err := download.File(t.Context(), newSession(t), sv.URL+"/file", path, download.MaxResumes(2))
	if !errors.Is(err, download.ErrIncomplete) {
		t.Fatalf("File = %v, want ErrIncomplete", err)
	}
	if n := len(sv.requests()); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
	checkAbsent(t, path)
	if _, err := os.Stat(path + ".part"); err != nil {
		t.Error(err)
	}
}

func TestCallerDigestMismatch(t *testing.T) {
	t.Parallel()
	data := content(size, 1)
	sv := newServer(t, data)
	sv.cuts = 1 // a resume, too, ends with the .part removed
	path := filepath.Join(t.TempDir(), "f.bin")
	wrong := sha256Hex([]byte("something else"))
	_, err := download.File(t.Context(), newSession(t), sv.URL+"/file", path, download.SHA256(wrong))
	if !errors.Is(err, download.ErrDigestMismatch) {
		t.Fatalf("File = %v, want ErrDigestMismatch", err)
	}
	var de *download.DigestError
	if !errors.As(err, &de) || de.Expected.Source != download.SourceCaller || hex.EncodeToString(de.Expected.Value) != wrong || hex.EncodeToString(de.Got) != sha256Hex(data) {
		t.Errorf("DigestError = %+v", de)
	}
	checkAbsent(t, path, path+".part", path+".part.json")
}

func TestReprDigest(t *testing.T) {
	t.Parallel()
	data := content(size, 1)
	s512 := sha512.Sum512(data)
	good := reprDigest(data) + ", sha-512=:" + base64.StdEncoding.EncodeToString(s512[:]) + ":, unixsum=:AAAA:"
	for _, tc := range []struct {
		name, field, value string
		wantErr            bool
	}{
		{"repr-good", "Repr-Digest", good, false},
		{"repr-bad", "Repr-Digest", reprDigest([]byte("other")), true},
		{"content-good", "Content-Digest", good, false},
		{"content-bad", "Content-Digest", reprDigest([]byte("other")), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sv := newServer(t, data)
			sv.extra = http.Header{tc.field: {tc.value}}
			path := filepath.Join(t.TempDir(), "f.bin")
			res, err := download.File(t.Context(), newSession(t), sv.URL+"/file", path)
			if tc.wantErr {
				var de *download.DigestError
				if !errors.As(err, &de) || de.Expected.Source != tc.field || de.Expected.Algorithm != "sha-256" {
					t.Fatalf("File = %v, want a DigestError from %s", err, tc.field)
				}
				checkAbsent(t, path, path+".part", path+".part.json")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkFile(t, path, data)
			if len(res.Verified) != 2 || res.Verified[0].Algorithm != "sha-256" || res.Verified[1].Algorithm != "sha-512" {
				t.Errorf("Verified = %v, want sha-256 and sha-512 from %s", res.Verified, tc.field)
			}
		})
	}
}

// Repr-Digest covers the representation: it verifies a resumed file.
func TestReprDigestAcrossResume(t *testing.T) {
	t.Parallel()
	data := content(size, 1)
	sv := newServer(t, data)
	sv.extra = http.Header{"Repr-Digest": {reprDigest(data)}}
	s := newSession(t)
	path := filepath.Join(t.TempDir(), "f.bin")
	leavePart(t, s, sv, path)
	res, err := download.File(t.Context(), s, sv.URL+"/file", path)
	if err != nil {
		t.Fatal(err)
	}
	checkFile(t, path, data)
	if !res.Resumed || len(res.Verified) != 1 || res.Verified[0].Source != download.SourceReprDigest {
		t.Errorf("Result = %+v, want resumed and verified by Repr-Digest", res)
	}
}

// A 206 whose Repr-Digest differs from the one the .part began with is
// another file: the download starts over.
func TestReprDigestChangedOnResume(t *testing.T) {
	t.Parallel()
	v1, v2 := content(size, 1), content(size, 2)
	sv := newServer(t, v1)
	sv.extra = http.Header{"Repr-Digest": {reprDigest(v1)}}
	s := newSession(t)
	path := filepath.Join(t.TempDir(), "f.bin")
	leavePart(t, s, sv, path)
	// A server that ignores If-Range, with a new file under the old ETag.
	sv.set(func(sv *server) { sv.data, sv.extra = v2, http.Header{"Repr-Digest": {reprDigest(v2)}} })
	res, err := download.File(t.Context(), s, sv.URL+"/file", path)
	if err != nil {
		t.Fatal(err)
	}
	checkFile(t, path, v2)
	if !res.Restarted || res.Requests != 2 {
		t.Errorf("Result = %+v, want restarted after 2 requests", res)
	}
}

func TestProgress(t *testing.T) {
	t.Parallel()
	data := content(size, 1)
	sv := newServer(t, data)
	sv.cuts = 1
	type call struct{ done, total int64 }
	var calls []call
	path := filepath.Join(t.TempDir(), "f.bin")
	_, err := download.File(t.Context(), newSession(t), sv.URL+"/file", path, download.Progress(func(done, total int64) {
		calls = append(calls, call{done, total})
	}))
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) < 3 || len(calls) > size/(64<<10)+6 {
		t.Errorf("%d Progress calls for %d bytes, want about one per 64 KiB", len(calls), size)
	}
	for i, c := range calls {
		if c.total != size || i > 0 && c.done < calls[i-1].done {
			t.Fatalf("Progress call %d = %v after %v: want monotonic, total %d", i, c, calls[max(i-1, 0)], size)
		}
	}
	if last := calls[len(calls)-1]; last != (call{size, size}) {
		t.Errorf("last Progress = %v, want {%d %d}", last, size, size)
	}
}

// Canceling the context mid-body leaves the .part and its sidecar, which
// the next call resumes.
func TestCancelLeavesPart(t *testing.T) {
	t.Parallel()
	data := content(size, 1)
	sv := newServer(t, data)
	release := make(chan struct{})
	sv.hook = func(w http.ResponseWriter, r *http.Request, n int) bool {
		if n != 1 {
			return false
		}
		w.Header().Set("ETag", `"v0"`)
		w.Header().Set("Content-Length", strconv.Itoa(size))
		w.Write(data[:size/2])
		http.NewResponseController(w).Flush()
		select {
		case <-r.Context().Done():
		case <-release:
		}
		return true
	}
	defer close(release)
	s := newSession(t)
	path := filepath.Join(t.TempDir(), "f.bin")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	_, err := download.File(ctx, s, sv.URL+"/file", path, download.Progress(func(done, _ int64) {
		if done > 0 { // the first call after some bytes
			cancel()
		}
	}))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("File = %v, want context.Canceled", err)
	}
	checkAbsent(t, path)
	fi, err := os.Stat(path + ".part")
	if err != nil || fi.Size() == 0 || fi.Size() > size/2 {
		t.Fatalf("Stat(.part) = %v, %v; want 1 to %d bytes", fi, err, size/2)
	}
	if n := len(sv.requests()); n != 1 {
		t.Errorf("%d requests before the cancel, want 1", n)
	}
	res, err := download.File(t.Context(), s, sv.URL+"/file", path, download.SHA256(sha256Hex(data)))
	if err != nil {
		t.Fatal(err)
	}
	checkFile(t, path, data)
	if !res.Resumed || res.ResumedFrom != fi.Size() {
		t.Errorf("Result = %+v, want resumed from %d", res, fi.Size())
	}
}

func TestNotFound(t *testing.T) {
	t.Parallel()
	sv := newServer(t, content(10, 1))
	path := filepath.Join(t.TempDir(), "f.bin")
	_, err := download.File(t.Context(), newSession(t), sv.URL+"/missing", path)
	var se *courier.StatusError
	if !errors.As(err, &se) || se.StatusCode != http.StatusNotFound {
		t.Fatalf("File = %v, want a 404 *courier.StatusError", err)
	}
	checkAbsent(t, path, path+".part", path+".part.json")
}

func TestBadOptions(t *testing.T) {
	t.Parallel()
	s := newSession(t)
	for _, o := range []download.Option{
		download.SHA256("abc"), download.MaxResumes(-1), download.Perm(fs.ModeDir), nil,
		download.RequestOptions(nil),
	} {
		path := filepath.Join(t.TempDir(), "f.bin")
		if _, err := download.File(t.Context(), s, "http://127.0.0.1:1/x", path, o); err == nil || !strings.HasPrefix(err.Error(), "download: ") {
			t.Errorf("File with %v = %v, want a download: error", o, err)
		}
		checkAbsent(t, path, path+".part")
	}
}
