//go:build unix

package sessionfile

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
)

// checkMode refuses a session file that group or others may read or write.
func checkMode(path string, fi fs.FileInfo) error {
	if fi.Mode().Perm()&0o077 != 0 {
		return &ModeError{Path: path, Mode: fi.Mode().Perm()}
	}
	return nil
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOTSUP) {
		// Some file systems cannot sync a directory, and say so.
		return err
	}
	return nil
}
