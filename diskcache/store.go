package diskcache

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/courierhttp/courier"
)

// Store is a [courier.CacheStore] in a directory: one file per key. Make
// one with [New]. It is safe for concurrent use, and several Stores, in
// one process or several, may share a directory.
type Store struct {
	dir string
	max int64
	now func() time.Time

	mu sync.Mutex
	// size is what the entry files add up to, as far as the Store knows:
	// read from the directory (or estimated from part of it), then
	// counted as the Store writes and removes. written counts the bytes
	// written since the directory was last read in full.
	size    int64
	written int64
}

var _ courier.CacheStore = (*Store)(nil)

const (
	// tempPrefix starts the names of files being written.
	tempPrefix = ".tmp-"
	// staleTemp is the age at which a temporary file is taken for the
	// leftover of a writer that died, and removed.
	staleTemp = time.Hour
	// surveyFiles is how many entry files New looks at, at least, to
	// estimate the size of a large directory.
	surveyFiles = 2000
	// tagName is the cache directory tag New writes in a directory it
	// creates (https://bford.info/cachedir/), so that backup tools skip it.
	tagName = "CACHEDIR.TAG"
	tag     = "Signature: 8a477f597d28d172789f06886806bc55\n" +
		"# This file is a cache directory tag created by courier's diskcache.\n" +
		"# For information about cache directory tags, see https://bford.info/cachedir/\n"
)

// New returns a Store that keeps its entries in dir, and at most about
// maxBytes of them (the sizes of the entry files: values, keys and a
// 29-byte header each), which must be positive.
//
// New creates dir (mode 0700, and a CACHEDIR.TAG in it) if it does not
// exist. It refuses a dir that is not a directory or that it cannot write
// to; the error names dir and wraps the cause, so that errors.Is(err,
// fs.ErrPermission) and errors.Is(err, syscall.ENOTDIR) work. It then
// reads the directory to learn the size of what it holds (in a large one,
// enough of it to estimate that: see the package documentation), evicts
// if that is over the bound, and removes the temporary files that writers
// which died left in what it read.
func New(dir string, maxBytes int64) (*Store, error) {
	if dir == "" {
		return nil, errors.New("diskcache: no directory given")
	}
	if maxBytes <= 0 {
		return nil, fmt.Errorf("diskcache: maxBytes must be positive, got %d", maxBytes)
	}
	created, err := openDir(dir)
	if err != nil {
		return nil, err
	}
	if created {
		// Best effort: the tag only spares backups.
		os.WriteFile(filepath.Join(dir, tagName), []byte(tag), 0o600)
	}
	s := &Store{dir: dir, max: maxBytes, now: time.Now}
	size, err := s.survey()
	if err != nil {
		return nil, fmt.Errorf("diskcache: %s: %w", dir, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.size = size
	if s.size > s.max {
		s.rescan()
	}
	return s, nil
}

// openDir makes sure dir is a directory this process can write to,
// creating it when it does not exist, and reports whether it did.
func openDir(dir string) (created bool, err error) {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return false, fmt.Errorf("diskcache: %s: cannot create it: %w", dir, err)
		}
		created = true
	case err != nil:
		return false, fmt.Errorf("diskcache: %s: %w", dir, pathCause(err))
	case !fi.IsDir():
		return false, fmt.Errorf("diskcache: %s: %w", dir, syscall.ENOTDIR)
	}
	f, err := os.CreateTemp(dir, tempPrefix+"*")
	if err != nil {
		return false, fmt.Errorf("diskcache: %s: not writable: %w", dir, pathCause(err))
	}
	f.Close()
	os.Remove(f.Name())
	return created, nil
}

// pathCause is the cause an *fs.PathError holds, or err.
func pathCause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// fileName is the name of key's file: the SHA-256 of the key, in hex.
func fileName(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// path is where the file named name lives: in one of 256 subdirectories,
// named by its first two characters.
func (s *Store) path(name string) string {
	return filepath.Join(s.dir, name[:2], name)
}

// Get returns the value stored under key, or [courier.ErrCacheMiss] when
// there is none: no file, an expired entry (which it removes), a corrupt
// or foreign file (removed too), another key's entry (a hash collision).
// Other errors are those of reading the file. A hit marks the entry as
// used, for eviction. The context is not used.
func (s *Store) Get(_ context.Context, key string) ([]byte, error) {
	path := s.path(fileName(key))
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		// No file, or a foreign file where its subdirectory would be.
		return nil, courier.ErrCacheMiss
	}
	if err != nil {
		return nil, fmt.Errorf("diskcache: get: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("diskcache: get: %w", err)
	}
	if !fi.Mode().IsRegular() || fi.Size() > s.max {
		// Not one of ours: a directory, or an entry of a Store with a
		// larger bound. Left alone.
		return nil, courier.ErrCacheMiss
	}
	b := make([]byte, fi.Size())
	n, err := io.ReadFull(f, b)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return nil, fmt.Errorf("diskcache: get: %w", err)
	}
	e, err := decode(b[:n]) // cut short by another writer: corrupt
	if err != nil {
		s.removeFile(path, fi)
		return nil, courier.ErrCacheMiss
	}
	if e.key != key {
		return nil, courier.ErrCacheMiss
	}
	now := s.now()
	if e.expired(now) {
		s.removeFile(path, fi)
		return nil, courier.ErrCacheMiss
	}
	// Best effort: the modification time is the entry's last use, which
	// eviction reads.
	os.Chtimes(path, time.Time{}, now)
	return e.value, nil
}

// removeFile removes the file at path if it is still the one fi describes
// (another process may have replaced it since).
func (s *Store) removeFile(path string, fi fs.FileInfo) {
	if cur, err := os.Lstat(path); err == nil && os.SameFile(cur, fi) && os.Remove(path) == nil {
		s.removed(fi.Size())
	}
}

// Set stores value under key for ttl (0 or less: until evicted). An entry
// whose file would be larger than the Store's bound is not stored, and
// the key's old entry is removed. The file is written under a temporary
// name in its final directory, then renamed: readers see the old entry or
// the new one, never part of one. Set evicts the least recently used
// entries when the Store is over its bound (see the package
// documentation). The errors are those of writing the file. The context
// is not used.
func (s *Store) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	size := fileSize(key, len(value))
	if size > s.max {
		return s.Delete(ctx, key)
	}
	now := s.now()
	replaced, err := s.write(fileName(key), now, header(key, expiryMillis(now, ttl), value), value)
	if err != nil {
		return fmt.Errorf("diskcache: set: %w", err)
	}
	s.added(size, replaced)
	return nil
}

// write writes the file named name, head then value, used at now, and
// returns the size of the file it replaced (0 for none).
func (s *Store) write(name string, now time.Time, head, value []byte) (replaced int64, err error) {
	dir := filepath.Join(s.dir, name[:2])
	f, err := os.CreateTemp(dir, tempPrefix+"*")
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return 0, err
		}
		f, err = os.CreateTemp(dir, tempPrefix+"*")
	}
	if err != nil {
		return 0, err
	}
	tmp, path := f.Name(), filepath.Join(dir, name)
	_, err = f.Write(head)
	if err == nil {
		_, err = f.Write(value)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chtimes(tmp, time.Time{}, now)
	}
	if err == nil {
		if fi, err := os.Lstat(path); err == nil && fi.Mode().IsRegular() {
			replaced = fi.Size()
		}
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return 0, err
	}
	return replaced, nil
}

// Delete removes key's entry, if there is one. The errors are those of
// removing the file. The context is not used.
func (s *Store) Delete(_ context.Context, key string) error {
	path := s.path(fileName(key))
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) || err == nil && !fi.Mode().IsRegular() {
		return nil // nothing, or not one of ours
	}
	if err == nil {
		err = os.Remove(path)
	}
	switch {
	case err == nil:
		s.removed(fi.Size())
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("diskcache: delete: %w", err)
	}
	return nil
}

// removed counts a file of size bytes removed.
func (s *Store) removed(size int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.size = max(s.size-size, 0)
}

// added counts a file of size bytes written, which replaced one of
// replaced bytes. When the Store is over its bound, or has written a
// tenth of it since it last read the whole directory (other Stores may
// have written meanwhile), it reads the directory again, and evicts if
// that is over the bound.
func (s *Store) added(size, replaced int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.size = max(s.size+size-replaced, 0)
	s.written += size
	if s.size > s.max || s.written >= s.max/10 {
		s.rescan()
	}
}

// rescan reads the whole directory, to learn what its entry files add up
// to, and then, if that is more than the bound, removes the least recently
// used until they add up to 90% of it at most. s.mu is held.
func (s *Store) rescan() {
	var list []fileInfo
	s.size, s.written = 0, 0
	for i := range 256 {
		files, _ := s.scan(i) // what cannot be read is not counted
		for _, f := range files {
			s.size += f.size
		}
		list = append(list, files...)
	}
	if s.size <= s.max {
		return
	}
	slices.SortFunc(list, func(a, b fileInfo) int {
		return cmp.Or(a.used.Compare(b.used), strings.Compare(a.name, b.name))
	})
	low := s.max - s.max/10
	for _, f := range list {
		if s.size <= low {
			break
		}
		if err := os.Remove(s.path(f.name)); err == nil || errors.Is(err, fs.ErrNotExist) {
			s.size -= f.size
		}
	}
}

// survey returns what the entry files in the directory add up to, reading
// the subdirectories from a random one on: all of them, or, once it has
// seen surveyFiles files, an estimate from those read (the names are
// hashes, so the files spread evenly). It returns the first error of
// reading a subdirectory.
func (s *Store) survey() (int64, error) {
	var size, n int64
	first := rand.IntN(256)
	for i := range 256 {
		files, err := s.scan((first + i) % 256)
		if err != nil {
			return 0, err
		}
		for _, f := range files {
			size += f.size
		}
		if n += int64(len(files)); n >= surveyFiles {
			return size / int64(i+1) * 256, nil
		}
	}
	return size, nil
}

// fileInfo is an entry file found by scan.
type fileInfo struct {
	name string
	size int64
	used time.Time
}

// scan lists the entry files in subdirectory i, and removes the stale
// temporary files there. Files that vanish meanwhile are skipped; other
// files are left alone. A subdirectory that does not exist is empty.
func (s *Store) scan(i int) ([]fileInfo, error) {
	shard := fmt.Sprintf("%02x", i)
	dirents, err := os.ReadDir(filepath.Join(s.dir, shard))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	var list []fileInfo
	now := s.now()
	for _, d := range dirents {
		fi, err := d.Info()
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		switch name := d.Name(); {
		case strings.HasPrefix(name, tempPrefix):
			if now.Sub(fi.ModTime()) > staleTemp {
				os.Remove(filepath.Join(s.dir, shard, name))
			}
		case isEntryName(name, shard):
			list = append(list, fileInfo{name: name, size: fi.Size(), used: fi.ModTime()})
		}
	}
	return list, err
}

// isEntryName reports whether name can be an entry file's in shard: 64
// lowercase hex digits, the first two shard.
func isEntryName(name, shard string) bool {
	if len(name) != 2*sha256.Size || !strings.HasPrefix(name, shard) {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
