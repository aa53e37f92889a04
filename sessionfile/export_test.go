package sessionfile

import "time"

// SetLockWait bounds f's wait for the lock, for tests of a lock held too
// long.
func SetLockWait(f *File, d time.Duration) { f.lockWait = d }

// SetClock sets the clock f's Save decides expiry by.
func SetClock(f *File, now func() time.Time) { f.now = now }

// Lock takes the lock Save takes for path.
func Lock(path string, wait time.Duration) (unlock func(), err error) {
	return lock(path+".lock", wait)
}
