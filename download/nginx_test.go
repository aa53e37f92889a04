package download_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/download"
	"github.com/courierhttp/courier/internal/testenv"
)

// TestNginx resumes against a real nginx serving a static file over TLS
// and HTTP/2: its own Range, If-Range and ETag handling.
func TestNginx(t *testing.T) {
	const n = 8 << 20
	// nginx's workers may run as another user (nobody, when the test runs
	// as root): t.TempDir's directories are 0700.
	root, err := os.MkdirTemp("", "courier-download-nginx-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(root, "file")
	v1, v2 := content(n, 1), content(n, 2)
	if err := os.WriteFile(file, v1, 0o644); err != nil {
		t.Fatal(err)
	}
	ng := testenv.StartNginx(t, "", "root "+root+";")
	s := newSession(t, courier.WithTLSConfig(ng.TLS))
	url := ng.URL + "/file"

	// cancel starts a download and cancels it once some bytes arrived,
	// leaving a .part; it returns the .part's size.
	cancel := func(t *testing.T, path string) int64 {
		t.Helper()
		ctx, stop := context.WithCancel(t.Context())
		defer stop()
		_, err := download.File(ctx, s, url, path, download.Progress(func(done, _ int64) {
			if done > 0 {
				stop()
			}
		}))
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("File canceled = %v, want context.Canceled", err)
		}
		fi, err := os.Stat(path + ".part")
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() == 0 || fi.Size() >= n {
			t.Fatalf(".part has %d bytes, want 1 to %d", fi.Size(), n-1)
		}
		return fi.Size()
	}

	t.Run("resume", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "f.bin")
		part := cancel(t, path)
		res, err := download.File(t.Context(), s, url, path, download.SHA256(sha256Hex(v1)))
		if err != nil {
			t.Fatal(err)
		}
		checkFile(t, path, v1)
		if !res.Resumed || res.ResumedFrom != part || res.Written != n-part || res.Restarted {
			t.Errorf("Result = %+v, want resumed from %d", res, part)
		}
	})
	t.Run("complete-416", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "f.bin")
		cancel(t, path)
		if err := os.WriteFile(path+".part", v1, 0o600); err != nil {
			t.Fatal(err)
		}
		res, err := download.File(t.Context(), s, url, path, download.SHA256(sha256Hex(v1)))
		if err != nil {
			t.Fatal(err)
		}
		checkFile(t, path, v1)
		if !res.Resumed || res.Written != 0 || res.Requests != 1 {
			t.Errorf("Result = %+v, want complete after one 416", res)
		}
	})
	t.Run("changed", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "f.bin")
		cancel(t, path)
		if err := os.WriteFile(file, v2, 0o644); err != nil {
			t.Fatal(err)
		}
		later := time.Now().Add(time.Hour)
		if err := os.Chtimes(file, later, later); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.WriteFile(file, v1, 0o644) })
		res, err := download.File(t.Context(), s, url, path, download.SHA256(sha256Hex(v2)))
		if err != nil {
			t.Fatal(err)
		}
		checkFile(t, path, v2)
		if !res.Restarted || res.Resumed || res.Written != n || res.Requests != 1 {
			t.Errorf("Result = %+v, want one request restarting from 0", res)
		}
	})
}
