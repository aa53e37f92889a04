package couriertest_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/couriertest"
)

// recorderTB stands in for a *testing.T in the recorder's example.
type recorderTB struct{ cleanups []func() }

func (r *recorderTB) Helper()                   {}
func (r *recorderTB) Cleanup(f func())          { r.cleanups = append(r.cleanups, f) }
func (r *recorderTB) Errorf(f string, a ...any) { fmt.Printf("error: "+f+"\n", a...) }
func (r *recorderTB) Fatalf(f string, a ...any) { fmt.Printf("fatal: "+f+"\n", a...) }
func (r *recorderTB) Logf(string, ...any)       {}
func (r *recorderTB) end() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

// Record a real exchange once, then replay it offline: the cassette is a
// readable JSON file, with secrets redacted.
func ExampleNewRecorder() {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id":42,"token":"s3cr3t"}`)
	}))
	dir, _ := os.MkdirTemp("", "cassettes")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "users.json")
	ctx := context.Background()

	t := &recorderTB{} // in a test: t
	s, _ := courier.New(courier.WithBaseURL(api.URL),
		courier.WithTransport(couriertest.NewRecorder(t, path, couriertest.ModeRecord)))
	s.Get(ctx, "/users/42")
	s.Close(ctx)
	t.end() // the test ends: the cassette is written
	api.Close()

	t = &recorderTB{}
	s, _ = courier.New(courier.WithBaseURL(api.URL),
		courier.WithTransport(couriertest.NewRecorder(t, path, couriertest.ModeReplay)))
	resp, err := s.Get(ctx, "/users/42") // the server is gone: this comes from the cassette
	fmt.Println(string(resp.Bytes()), err)
	s.Close(ctx)
	t.end()
	// Output: {"id":42,"token":"REDACTED"} <nil>
}
