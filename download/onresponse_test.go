package download_test

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/download"
)

// OnResponse sees each response before its body is read, in order; its
// error ends the download and keeps the .part.
func TestOnResponse(t *testing.T) {
	data := content(256<<10, 3)
	sv := newServer(t, data)
	s := newSession(t)
	path := filepath.Join(t.TempDir(), "f")

	sv.set(func(sv *server) { sv.cuts = 1 })
	var seen []int
	_, err := download.File(t.Context(), s, sv.URL+"/file", path, download.OnResponse(func(r *courier.Response) error {
		seen = append(seen, r.StatusCode)
		if r.Header.Get("ETag") == "" {
			t.Error("OnResponse got a response without its headers")
		}
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{http.StatusOK, http.StatusPartialContent}; !slices.Equal(seen, want) {
		t.Errorf("OnResponse saw %v, want %v", seen, want)
	}
	checkFile(t, path, data)

	path2 := filepath.Join(t.TempDir(), "g")
	size := leavePart(t, s, sv, path2)
	stop := errors.New("stop here")
	_, err = download.File(t.Context(), s, sv.URL+"/file", path2, download.OnResponse(func(*courier.Response) error { return stop }))
	if !errors.Is(err, stop) {
		t.Fatalf("File = %v, want OnResponse's error", err)
	}
	if fi, err := os.Stat(path2 + ".part"); err != nil || fi.Size() != size {
		t.Errorf(".part after OnResponse's error: %v, %v; want it kept at %d bytes", fi, err, size)
	}
	checkAbsent(t, path2)
}

// A caller's AnyStatus does not make an error status's body the file: File
// returns a *courier.StatusError for it, writes nothing, and OnResponse
// does not see it.
func TestAnyStatusIsNoFile(t *testing.T) {
	sv := newServer(t, content(1024, 1))
	s := newSession(t)
	path := filepath.Join(t.TempDir(), "f")
	called := false
	_, err := download.File(t.Context(), s, sv.URL+"/missing", path,
		download.RequestOptions(courier.AnyStatus()),
		download.OnResponse(func(*courier.Response) error { called = true; return nil }))
	var se *courier.StatusError
	if !errors.As(err, &se) || se.StatusCode != http.StatusNotFound || len(se.Body) == 0 {
		t.Fatalf("File = %v, want a *StatusError for the 404 with its body", err)
	}
	if called {
		t.Error("OnResponse saw the 404")
	}
	checkAbsent(t, path, path+".part", path+".part.json")
}
