//go:build unix && !aix && (!solaris || illumos)

package sessionfile

import (
	"errors"
	"os"
	"syscall"
	"time"
)

// lock takes an exclusive flock on name (created with mode 0600 if
// missing, and never removed: removing a flock file lets two writers lock
// two files of one name). The kernel releases it if the process dies.
func lock(name string, wait time.Duration) (unlock func(), err error) {
	fh, err := os.OpenFile(name, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	fd := int(fh.Fd())
	err = poll(name, wait, func() (bool, error) {
		err := syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB)
		if errors.Is(err, syscall.EWOULDBLOCK) || errors.Is(err, syscall.EINTR) {
			return false, nil
		}
		return err == nil, err
	})
	if err != nil {
		fh.Close()
		return nil, err
	}
	return func() {
		syscall.Flock(fd, syscall.LOCK_UN)
		fh.Close()
	}, nil
}
