package sessionfile

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"
)

const (
	// defaultLockWait bounds Save's wait for another writer's lock. A
	// writer holds it for one read, merge and write: milliseconds.
	defaultLockWait = 15 * time.Second
	// staleLock is the age at which a lock file of the O_EXCL kind is taken
	// to be left by a writer that died.
	staleLock = 10 * time.Second
)

// poll calls try until it reports success or an error, or wait has passed,
// sleeping a little longer each time (1ms up to 50ms).
func poll(name string, wait time.Duration, try func() (bool, error)) error {
	deadline := time.Now().Add(wait)
	for sleep := time.Millisecond; ; sleep = min(2*sleep, 50*time.Millisecond) {
		ok, err := try()
		if ok || err != nil {
			return err
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("%w %s (held for more than %v)", ErrLockTimeout, name, wait)
		}
		time.Sleep(min(sleep, time.Until(deadline)+time.Millisecond))
	}
}

// lockExcl takes a lock by creating name with O_EXCL, and releases it by
// removing the file. A lock file older than stale is taken to be left by a
// writer that died, and removed. It is the lock of systems without flock;
// it is best effort where flock is exact: a writer slower than stale can
// lose its lock to another.
//
// Each lock file holds a token of its own (the pid and a random number),
// by which a writer tells its lock file from another's: inode numbers are
// reused as soon as a file is removed.
func lockExcl(name string, wait, stale time.Duration) (unlock func(), err error) {
	token := lockToken()
	err = poll(name, wait, func() (bool, error) {
		fh, err := os.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err == nil {
			_, err = fh.WriteString(token)
			if cerr := fh.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				os.Remove(name)
				return false, err
			}
			return true, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return false, err
		}
		if fi, err := os.Stat(name); err == nil && time.Since(fi.ModTime()) > stale {
			breakStale(name)
		}
		return false, nil
	})
	if err != nil {
		return nil, err
	}
	return func() {
		// Remove the lock only if it is still ours.
		if data, err := os.ReadFile(name); err == nil && string(data) == token {
			os.Remove(name)
		}
	}, nil
}

func lockToken() string {
	var b [8]byte
	rand.Read(b[:])
	return strconv.Itoa(os.Getpid()) + " " + hex.EncodeToString(b[:]) + "\n"
}

// breakStale removes the stale lock file name, unless another writer
// replaced it in the meantime: it is renamed aside first, then checked.
func breakStale(name string) {
	stale, err := os.ReadFile(name)
	if err != nil {
		return
	}
	aside := name + ".stale-" + strings.ReplaceAll(strings.TrimSpace(lockToken()), " ", "-")
	if os.Rename(name, aside) != nil {
		return
	}
	if now, err := os.ReadFile(aside); err == nil && !bytes.Equal(now, stale) {
		// A fresh lock: put it back.
		os.Rename(aside, name)
		return
	}
	os.Remove(aside)
}
