//go:build !unix || aix || (solaris && !illumos)

package sessionfile

import "time"

// lock takes the lock of systems without flock: see lockExcl.
func lock(name string, wait time.Duration) (unlock func(), err error) {
	return lockExcl(name, wait, staleLock)
}
