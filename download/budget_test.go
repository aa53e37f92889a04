package download_test

import (
	"errors"
	"net/http"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/download"
)

// A request after one that added no byte to the file is paid for from the
// session's retry budget: a server that cuts every body before its first
// byte gets the free first request and as many more as the budget pays
// for, then File returns the budget's error and keeps nothing under the
// final name. Requests after progress are free, so a flaky link that
// moves the file forward each time is bounded by MaxResumes alone.
func TestResumesDrawFromRetryBudget(t *testing.T) {
	data := content(64<<10, 7)
	budget := courier.WithRetry(courier.RetryPolicy{Budget: courier.RetryBudget{Capacity: 10, RetryCost: 5}})

	t.Run("no progress", func(t *testing.T) {
		sv := newServer(t, data)
		sv.set(func(sv *server) {
			sv.hook = func(w http.ResponseWriter, r *http.Request, n int) bool {
				w.Header().Set("Content-Length", strconv.Itoa(len(data)))
				w.WriteHeader(http.StatusOK)
				http.NewResponseController(w).Flush()
				panic(http.ErrAbortHandler) // cut before the first byte
			}
		})
		s := newSession(t, budget)
		path := filepath.Join(t.TempDir(), "f")
		_, err := download.File(t.Context(), s, sv.URL+"/file", path, download.MaxResumes(20))
		if !errors.Is(err, courier.ErrRetryBudget) {
			t.Fatalf("File = %v, want the retry budget's error", err)
		}
		if got := len(sv.requests()); got != 3 {
			t.Errorf("%d requests, want 3: the first, and 2 the budget paid for", got)
		}
		checkAbsent(t, path)
	})

	t.Run("progress", func(t *testing.T) {
		sv := newServer(t, data)
		sv.set(func(sv *server) { sv.cuts = 4 }) // each cut halves what is left
		s := newSession(t, budget)
		path := filepath.Join(t.TempDir(), "f")
		res, err := download.File(t.Context(), s, sv.URL+"/file", path, download.MaxResumes(20))
		if err != nil {
			t.Fatalf("File = %v, want the file: resumes after progress are free", err)
		}
		if res.Requests != 5 {
			t.Errorf("%d requests, want 5", res.Requests)
		}
		checkFile(t, path, data)
	})
}
