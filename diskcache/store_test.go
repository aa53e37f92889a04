package diskcache_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/diskcache"
	"github.com/courierhttp/courier/internal/testenv"
)

// clock is a time that tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newStore(t *testing.T, dir string, maxBytes int64) *diskcache.Store {
	t.Helper()
	s, err := diskcache.New(dir, maxBytes)
	if err != nil {
		t.Fatalf("New(%q, %d): %v", dir, maxBytes, err)
	}
	return s
}

// entrySize is the size of the file that holds key and value.
func entrySize(key string, value []byte) int64 {
	return int64(diskcache.HeaderSize + len(key) + len(value))
}

// diskUsage sums the sizes of the entry files under dir, and counts them.
func diskUsage(t *testing.T, dir string) (size int64, n int) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && len(d.Name()) == 64 {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			size += fi.Size()
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return size, n
}

func mustGet(t *testing.T, s *diskcache.Store, key string) []byte {
	t.Helper()
	v, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return v
}

func mustSet(t *testing.T, s *diskcache.Store, key string, value []byte, ttl time.Duration) {
	t.Helper()
	if err := s.Set(t.Context(), key, value, ttl); err != nil {
		t.Fatalf("Set(%q): %v", key, err)
	}
}

func wantMiss(t *testing.T, s *diskcache.Store, key string) {
	t.Helper()
	if v, err := s.Get(t.Context(), key); !errors.Is(err, courier.ErrCacheMiss) {
		t.Fatalf("Get(%q) = %q, %v; want ErrCacheMiss", key, v, err)
	}
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := newStore(t, dir, 1<<20)
	keys := []string{
		"courier:cache:v1:0123456789abcdef0123456789abcdef01234567",
		"",
		"a key with spaces/and/slashes/../..",
		"\x00\xff\n binary",
		strings.Repeat("long", 4096),
	}
	for i, key := range keys {
		value := []byte(fmt.Sprintf("value %d", i))
		mustSet(t, s, key, value, 0)
		if got := mustGet(t, s, key); !bytes.Equal(got, value) {
			t.Errorf("Get(%.20q) = %q, want %q", key, got, value)
		}
	}
	mustSet(t, s, keys[0], nil, 0)
	if got := mustGet(t, s, keys[0]); len(got) != 0 {
		t.Errorf("Get after Set of an empty value = %q, want empty", got)
	}
	mustSet(t, s, keys[0], []byte("replaced"), 0)
	if got := mustGet(t, s, keys[0]); string(got) != "replaced" {
		t.Errorf("Get after a second Set = %q, want %q", got, "replaced")
	}
	for _, key := range keys {
		if err := s.Delete(t.Context(), key); err != nil {
			t.Fatalf("Delete(%.20q): %v", key, err)
		}
		wantMiss(t, s, key)
	}
	if err := s.Delete(t.Context(), "never stored"); err != nil {
		t.Errorf("Delete of a missing key: %v, want nil", err)
	}
	if size, n := diskUsage(t, dir); n != 0 {
		t.Errorf("after deleting every key: %d files (%d bytes) left", n, size)
	}
}

// TestNewRefuses: a path that is not a directory, or one the process
// cannot write to, is refused with an error that names it and wraps the
// cause.
func TestNewRefuses(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	file := filepath.Join(tmp, "file")
	if err := os.WriteFile(file, []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		dir  func(*testing.T) string
		want error
	}{
		{"a file", func(*testing.T) string { return file }, syscall.ENOTDIR},
		{"under a file", func(*testing.T) string { return filepath.Join(file, "cache") }, syscall.ENOTDIR},
		{"not writable", unwritableDir, fs.ErrPermission},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tt.dir(t)
			s, err := diskcache.New(dir, 1<<20)
			if !errors.Is(err, tt.want) {
				t.Fatalf("New(%q) = %v, %v; want an error wrapping %v", dir, s, err, tt.want)
			}
			if !strings.Contains(err.Error(), dir) {
				t.Errorf("New(%q): error %q does not name the directory", dir, err)
			}
		})
	}
}

// unwritableDir returns a directory this process cannot create files in:
// a fresh one made read-only, or, for root, which may write in those, a
// system directory that refuses it. It skips the test when there is none.
func unwritableDir(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		dir := filepath.Join(t.TempDir(), "ro")
		if err := os.Mkdir(dir, 0o500); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	for _, dir := range []string{"/sys", "/proc/sys"} {
		f, err := os.CreateTemp(dir, "diskcache-probe-*")
		if err == nil {
			f.Close()
			os.Remove(f.Name())
			continue
		}
		if errors.Is(err, fs.ErrPermission) {
			return dir
		}
	}
	t.Skip("running as root, and no directory here refuses root's writes")
	return ""
}

func TestNewBadArguments(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name     string
		dir      string
		maxBytes int64
	}{
		{"no directory", "", 1 << 20},
		{"zero bound", dir, 0},
		{"negative bound", dir, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if s, err := diskcache.New(tt.dir, tt.maxBytes); err == nil {
				t.Errorf("New(%q, %d) = %v, nil; want an error", tt.dir, tt.maxBytes, s)
			}
		})
	}
}

// TestFileModes: the directory New creates is 0700, and so are the
// subdirectories; entry files are 0600, whatever the umask lets through.
func TestFileModes(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "a", "cache")
	s := newStore(t, dir, 1<<20)
	mustSet(t, s, "k", []byte("v"), 0)
	tests := []struct {
		path string
		want fs.FileMode
	}{
		{dir, fs.ModeDir | 0o700},
		{filepath.Dir(diskcache.EntryPath(s, "k")), fs.ModeDir | 0o700},
		{diskcache.EntryPath(s, "k"), 0o600},
		{filepath.Join(dir, "CACHEDIR.TAG"), 0o600},
	}
	for _, tt := range tests {
		fi, err := os.Lstat(tt.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode(); got != tt.want {
			t.Errorf("mode of %s = %v, want %v", tt.path, got, tt.want)
		}
	}
}

// TestExistingDirKeepsItsMode: New leaves a directory it did not create
// as it is, without a tag.
func TestExistingDirKeepsItsMode(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	newStore(t, dir, 1<<20)
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o750 {
		t.Errorf("mode of an existing directory = %v, want 0750", got)
	}
	if exists(filepath.Join(dir, "CACHEDIR.TAG")) {
		t.Error("New tagged a directory it did not create")
	}
}

func TestTTL(t *testing.T) {
	t.Parallel()
	s := newStore(t, t.TempDir(), 1<<20)
	c := newClock()
	diskcache.SetClock(s, c.now)
	mustSet(t, s, "minute", []byte("m"), time.Minute)
	mustSet(t, s, "forever", []byte("f"), 0)
	mustSet(t, s, "negative", []byte("n"), -time.Second)

	c.advance(time.Minute - time.Millisecond)
	if got := mustGet(t, s, "minute"); string(got) != "m" {
		t.Fatalf("Get before expiry = %q, want %q", got, "m")
	}
	c.advance(time.Millisecond)
	path := diskcache.EntryPath(s, "minute")
	wantMiss(t, s, "minute")
	if exists(path) {
		t.Error("Get of an expired entry left its file")
	}

	c.advance(100 * 365 * 24 * time.Hour)
	if got := mustGet(t, s, "forever"); string(got) != "f" {
		t.Errorf("Get of a ttl 0 entry a century on = %q, want %q", got, "f")
	}
	if got := mustGet(t, s, "negative"); string(got) != "n" {
		t.Errorf("Get of a negative ttl entry a century on = %q, want %q (as ttl 0)", got, "n")
	}
}

// TestSizeBound: the files never add up to more than the bound; over it,
// the least recently used go first (a Get counts as a use), until 90% of
// the bound is left; a value larger than the bound is not stored.
func TestSizeBound(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	value := bytes.Repeat([]byte("x"), 1000)
	one := entrySize("k00", value)
	maxBytes := 10 * one
	s := newStore(t, dir, maxBytes)
	c := newClock()
	diskcache.SetClock(s, c.now)
	for i := range 10 {
		mustSet(t, s, fmt.Sprintf("k%02d", i), value, 0)
		c.advance(time.Second)
	}
	if size, n := diskUsage(t, dir); size != maxBytes || n != 10 {
		t.Fatalf("10 entries at the bound: %d files, %d bytes; want 10, %d", n, size, maxBytes)
	}
	mustGet(t, s, "k00") // k00 is now the most recently used
	c.advance(time.Second)
	mustSet(t, s, "k10", value, 0)
	// 11 entries are over the bound: the two least recently used go, k01
	// and k02, leaving 9 (90%).
	if size, n := diskUsage(t, dir); size != 9*one || n != 9 {
		t.Errorf("after eviction: %d files, %d bytes; want 9, %d", n, size, 9*one)
	}
	for _, k := range []string{"k01", "k02"} {
		wantMiss(t, s, k)
	}
	for _, k := range []string{"k00", "k03", "k09", "k10"} {
		mustGet(t, s, k)
	}
	for i := 11; i < 40; i++ {
		mustSet(t, s, fmt.Sprintf("k%02d", i), value, 0)
		c.advance(time.Second)
		if size, _ := diskUsage(t, dir); size > maxBytes {
			t.Fatalf("after Set of k%02d: %d bytes on disk, over the bound %d", i, size, maxBytes)
		}
	}
	mustGet(t, s, "k39")

	// Too large: not stored, no error, and the key's old entry is gone.
	mustSet(t, s, "k39", make([]byte, maxBytes), 0)
	wantMiss(t, s, "k39")
}

// TestNewCountsWhatIsThere: a Store made over a full directory knows its
// size, and evicts from what an earlier one wrote.
func TestNewCountsWhatIsThere(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	value := bytes.Repeat([]byte("y"), 500)
	one := entrySize("k00", value)
	first := newStore(t, dir, 100*one)
	for i := range 20 {
		mustSet(t, first, fmt.Sprintf("k%02d", i), value, 0)
	}
	second := newStore(t, dir, 10*one)
	mustSet(t, second, "new", value[:len(value)-1], 0)
	if size, _ := diskUsage(t, dir); size > 10*one {
		t.Errorf("%d bytes on disk after a Set, over the second Store's bound %d", size, 10*one)
	}
	mustGet(t, second, "new")
}

// TestTwoStores: Stores on one directory, as two processes have, see each
// other's entries and removals, and keep one bound between them.
func TestTwoStores(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	value := bytes.Repeat([]byte("z"), 1000)
	maxBytes := 10 * entrySize("a00", value)
	a, b := newStore(t, dir, maxBytes), newStore(t, dir, maxBytes)

	mustSet(t, a, "shared", []byte("from a"), time.Hour)
	if got := mustGet(t, b, "shared"); string(got) != "from a" {
		t.Errorf("b.Get = %q, want %q", got, "from a")
	}
	mustSet(t, b, "shared", []byte("from b"), time.Hour)
	if got := mustGet(t, a, "shared"); string(got) != "from b" {
		t.Errorf("a.Get after b.Set = %q, want %q", got, "from b")
	}
	if err := b.Delete(t.Context(), "shared"); err != nil {
		t.Fatal(err)
	}
	wantMiss(t, a, "shared")

	// Each writes less than the bound, together more: each eviction
	// counts the other's files.
	for i := range 8 {
		mustSet(t, a, fmt.Sprintf("a%02d", i), value, 0)
		mustSet(t, b, fmt.Sprintf("b%02d", i), value, 0)
		if size, _ := diskUsage(t, dir); size > maxBytes {
			t.Fatalf("round %d: %d bytes on disk, over the bound %d", i, size, maxBytes)
		}
	}
	mustGet(t, a, "b07")
	mustGet(t, b, "a07")
}

// TestCorruptFiles: whatever is found under a key's name, Get returns a
// miss, never a panic or an error; a corrupt entry is removed, another
// key's entry (a hash collision) and what is not a file are left alone.
func TestCorruptFiles(t *testing.T) {
	t.Parallel()
	const key = "courier:cache:v1:feedface"
	good := diskcache.Encode(key, time.Time{}, []byte("the value"))
	flip := func(i int) []byte {
		b := bytes.Clone(good)
		b[i] ^= 0x40
		return b
	}
	tests := []struct {
		name    string
		content []byte
		removed bool
	}{
		{"empty", nil, true},
		{"foreign text", []byte("# notes\nnot a cache entry at all, but long enough for a header\n"), true},
		{"header only", good[:diskcache.HeaderSize], true},
		{"cut short", good[:len(good)-1], true},
		{"trailing bytes", append(bytes.Clone(good), '!'), true},
		{"bad magic", flip(0), true},
		{"unknown version", flip(4), true},
		{"expiry changed", flip(6), true},
		{"key length changed", flip(16), true},
		{"value length changed", flip(24), true},
		{"checksum changed", flip(27), true},
		{"key changed", flip(diskcache.HeaderSize + 2), true},
		{"value changed", flip(len(good) - 1), true},
		{"another key's entry", diskcache.Encode("another key", time.Time{}, []byte("v")), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newStore(t, t.TempDir(), 1<<20)
			path := diskcache.EntryPath(s, key)
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, tt.content, 0o600); err != nil {
				t.Fatal(err)
			}
			wantMiss(t, s, key)
			if got := !exists(path); got != tt.removed {
				t.Errorf("file removed = %v, want %v", got, tt.removed)
			}
		})
	}
}

// TestNotAFile: a directory or a file too large to be an entry under a
// key's name, or a file in place of its subdirectory, is a miss, and is
// left alone.
func TestNotAFile(t *testing.T) {
	t.Parallel()
	const key = "courier:cache:v1:beef"
	tests := []struct {
		name   string
		create func(path string) (left string, err error)
	}{
		{"directory", func(path string) (string, error) { return path, os.MkdirAll(path, 0o700) }},
		{"larger than the bound", func(path string) (string, error) {
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				return "", err
			}
			return path, os.WriteFile(path, diskcache.Encode(key, time.Time{}, make([]byte, 2000)), 0o600)
		}},
		{"file for subdirectory", func(path string) (string, error) {
			return filepath.Dir(path), os.WriteFile(filepath.Dir(path), []byte("x"), 0o600)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newStore(t, t.TempDir(), 1000)
			left, err := tt.create(diskcache.EntryPath(s, key))
			if err != nil {
				t.Fatal(err)
			}
			wantMiss(t, s, key)
			if !exists(left) {
				t.Errorf("%s was removed", left)
			}
		})
	}
}

// TestLeftovers: a temporary file left by a writer that died is never
// read, and a Store removes it once it is stale; one being written now is
// left to its writer; files not named like entries are left alone and not
// counted.
func TestLeftovers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := newStore(t, dir, 1<<20)
	const key = "courier:cache:v1:cafe"
	shard := filepath.Dir(diskcache.EntryPath(s, key))
	if err := os.MkdirAll(shard, 0o700); err != nil {
		t.Fatal(err)
	}
	whole := diskcache.Encode(key, time.Time{}, bytes.Repeat([]byte("v"), 100))
	stale := filepath.Join(shard, ".tmp-1234")
	fresh := filepath.Join(shard, ".tmp-5678")
	foreign := []string{filepath.Join(dir, "README"), filepath.Join(shard, "notes.txt")}
	for _, p := range append([]string{stale, fresh}, foreign...) {
		if err := os.WriteFile(p, whole[:len(whole)/2], 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}

	wantMiss(t, s, key) // the torn write is not the entry
	s2 := newStore(t, dir, 1<<20)
	if exists(stale) {
		t.Error("New left a stale temporary file")
	}
	if !exists(fresh) {
		t.Error("New removed a temporary file being written")
	}
	for _, p := range foreign {
		if !exists(p) {
			t.Errorf("New removed %s, not one of its files", p)
		}
	}
	wantMiss(t, s2, key)
	mustSet(t, s2, key, []byte("v"), 0)
	mustGet(t, s, key)
}

// TestConcurrentReplace: readers racing writers of one key, in one Store
// and across two, see a whole value every time, never a mix or a part.
func TestConcurrentReplace(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	stores := []*diskcache.Store{newStore(t, dir, 1<<24), newStore(t, dir, 1<<24)}
	const key, size = "contended", 64 << 10
	values := [][]byte{bytes.Repeat([]byte("a"), size), bytes.Repeat([]byte("b"), size)}
	ctx := t.Context()
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for w := range 4 {
		wg.Go(func() {
			s := stores[w%2]
			for i := range 25 {
				if err := s.Set(ctx, key, values[(w+i)%2], 0); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for r := range 4 {
		wg.Go(func() {
			s := stores[r%2]
			for range 100 {
				v, err := s.Get(ctx, key)
				switch {
				case errors.Is(err, courier.ErrCacheMiss):
				case err != nil:
					errs <- err
					return
				case len(v) != size || !bytes.Equal(v, values[0]) && !bytes.Equal(v, values[1]):
					errs <- fmt.Errorf("Get read a torn value: %d bytes starting %q", len(v), v[:min(len(v), 8)])
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestConcurrentUse: Set, Get and Delete from many goroutines, evicting
// as they go, under the race detector; the bound holds at the end.
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	value := bytes.Repeat([]byte("c"), 300)
	maxBytes := 20 * entrySize("g0-k00", value)
	s := newStore(t, dir, maxBytes)
	ctx := t.Context()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				key := fmt.Sprintf("g%d-k%02d", g, i%25)
				var err error
				switch i % 5 {
				case 0, 1, 2:
					err = s.Set(ctx, key, value, time.Hour)
				case 3:
					_, err = s.Get(ctx, key)
					if errors.Is(err, courier.ErrCacheMiss) {
						err = nil
					}
				case 4:
					err = s.Delete(ctx, key)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	mustSet(t, s, "last", value, 0)
	if size, _ := diskUsage(t, dir); size > maxBytes {
		t.Errorf("%d bytes on disk, over the bound %d", size, maxBytes)
	}
}

// TestSession: a session with the Store as its cache answers the second
// GET from it; a new Store and session over the same directory, as the
// next run of a program has, do too, and the server sees one request.
func TestSession(t *testing.T) {
	t.Parallel()
	srv := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, "hello from the origin")
	}))
	dir := t.TempDir()
	get := func(s *courier.Session) *courier.Response {
		t.Helper()
		resp, err := s.Get(t.Context(), "/greeting")
		if err != nil {
			t.Fatal(err)
		}
		if got := string(resp.Bytes()); got != "hello from the origin" {
			t.Fatalf("body = %q", got)
		}
		return resp
	}
	first := srv.Session(t, courier.WithCache(courier.Cache{Store: newStore(t, dir, 1<<20)}))
	if got := get(first).Cache; got != courier.CacheMiss {
		t.Errorf("first GET: Cache = %v, want %v", got, courier.CacheMiss)
	}
	if got := get(first).Cache; got != courier.CacheHit {
		t.Errorf("second GET: Cache = %v, want %v", got, courier.CacheHit)
	}
	next := srv.Session(t, courier.WithCache(courier.Cache{Store: newStore(t, dir, 1<<20)}))
	if got := get(next).Cache; got != courier.CacheHit {
		t.Errorf("GET from a new session and Store: Cache = %v, want %v", got, courier.CacheHit)
	}
	if n := srv.Requests.Load(); n != 1 {
		t.Errorf("the server got %d requests, want 1", n)
	}
}

// TestNewLargeDir: over a directory too large to read in full, New
// estimates its size from part of it, closely enough, and a Store whose
// bound it is over brings it under.
func TestNewLargeDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := newStore(t, dir, 1<<30)
	for i := range 3000 {
		mustSet(t, s, fmt.Sprintf("key %04d", i), []byte(strings.Repeat("v", i%200)), 0)
	}
	size, _ := diskUsage(t, dir)
	if got := diskcache.Size(newStore(t, dir, 1<<30)); got < size*9/10 || got > size*11/10 {
		t.Errorf("New estimated %d bytes, want %d ± 10%%", got, size)
	}
	newStore(t, dir, size/2)
	if got, _ := diskUsage(t, dir); got > size/2 {
		t.Errorf("New over a directory of %d bytes with a bound of %d left %d", size, size/2, got)
	}
}
