package sessionfile

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// lockers are the two locks: flock (or the fallback, where there is no
// flock) and the O_EXCL lock of systems without flock, tested everywhere.
var lockers = []struct {
	name string
	lock func(name string, wait time.Duration) (func(), error)
}{
	{"lock", lock},
	{"lockExcl", func(name string, wait time.Duration) (func(), error) { return lockExcl(name, wait, staleLock) }},
}

// The lock excludes: goroutines that increment a counter in a file under
// it lose no increment.
func TestLockExcludes(t *testing.T) {
	t.Parallel()
	for _, l := range lockers {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			name, counter := filepath.Join(dir, "s.json.lock"), filepath.Join(dir, "n")
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					for range 20 {
						unlock, err := l.lock(name, 10*time.Second)
						if err != nil {
							t.Error(err)
							return
						}
						data, _ := os.ReadFile(counter)
						os.WriteFile(counter, append(data, 'x'), 0o600)
						unlock()
					}
				})
			}
			wg.Wait()
			if data, _ := os.ReadFile(counter); len(data) != 8*20 {
				t.Errorf("%s: %d increments survived, want %d", l.name, len(data), 8*20)
			}
		})
	}
}

// A held lock makes the next writer give up after its wait, with
// ErrLockTimeout.
func TestLockTimeout(t *testing.T) {
	t.Parallel()
	for _, l := range lockers {
		name := filepath.Join(t.TempDir(), "s.json.lock")
		unlock, err := l.lock(name, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err = l.lock(name, 50*time.Millisecond)
		if !errors.Is(err, ErrLockTimeout) {
			t.Errorf("%s: second lock = %v, want ErrLockTimeout", l.name, err)
		}
		if d := time.Since(start); d < 50*time.Millisecond || d > 2*time.Second {
			t.Errorf("%s: second lock gave up after %v, want about 50ms", l.name, d)
		}
		unlock()
		unlock2, err := l.lock(name, time.Second)
		if err != nil {
			t.Errorf("%s: lock after unlock = %v", l.name, err)
		} else {
			unlock2()
		}
	}
}

// An O_EXCL lock file left by a writer that died is broken once stale; a
// fresh one is not, and a writer whose lock was broken does not remove its
// successor's.
func TestLockExclStale(t *testing.T) {
	t.Parallel()
	name := filepath.Join(t.TempDir(), "s.json.lock")
	if err := os.WriteFile(name, []byte("12345\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := lockExcl(name, 30*time.Millisecond, time.Minute); !errors.Is(err, ErrLockTimeout) {
		t.Errorf("lockExcl over a fresh lock file = %v, want ErrLockTimeout", err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(name, old, old); err != nil {
		t.Fatal(err)
	}
	unlock, err := lockExcl(name, time.Second, time.Minute)
	if err != nil {
		t.Fatalf("lockExcl over a stale lock file = %v", err)
	}
	// Our lock goes stale too, and another writer takes over.
	os.Chtimes(name, old, old)
	unlock2, err := lockExcl(name, time.Second, time.Minute)
	if err != nil {
		t.Fatalf("lockExcl over our stale lock = %v", err)
	}
	unlock() // must not remove the successor's lock file
	if _, err := os.Stat(name); err != nil {
		t.Errorf("the first writer's unlock removed its successor's lock: %v", err)
	}
	unlock2()
	if _, err := os.Stat(name); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("unlock left the lock file: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Dir(name))
	if len(entries) != 0 {
		t.Errorf("lock files left behind: %v", entries)
	}
}
