package sessionfile_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/sessionfile"
)

// loginAPI is an in-process API: POST /login sets a session cookie, and
// GET /me says who the caller is.
func loginAPI() *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "sid", Value: "ada-42", Path: "/", HttpOnly: true, MaxAge: 3600})
	})
	mux.HandleFunc("GET /me", func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie("sid")
		if err != nil {
			http.Error(w, "who are you?", http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, "session %s, client %s", c.Value, r.Header.Get("X-Client"))
	})
	return httptest.NewServer(mux)
}

// A program logs in once and saves its identity; a later run loads it and
// is still logged in.
func Example() {
	api := loginAPI()
	defer api.Close()
	dir, err := os.MkdirTemp("", "sessionfile-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "sessions", "api.json")
	ctx := context.Background()

	// First run: there is no file yet.
	f, err := sessionfile.Load(path)
	if errors.Is(err, fs.ErrNotExist) {
		f, err = sessionfile.New(path), nil
	}
	if err != nil {
		log.Fatal(err)
	}
	f.UpdateHeaders(http.Header{"X-Client": {"example/1.0"}})
	s, err := courier.New(append(f.Options(), courier.WithBaseURL(api.URL))...)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := s.Post(ctx, "/login"); err != nil {
		log.Fatal(err)
	}
	s.Close(ctx)
	if err := f.Save(); err != nil { // the session kept f.Jar up to date
		log.Fatal(err)
	}

	// A later run: load the identity into a new session.
	f, err = sessionfile.Load(path)
	if err != nil {
		log.Fatal(err)
	}
	s, err = courier.New(append(f.Options(), courier.WithBaseURL(api.URL))...)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close(ctx)
	resp, err := s.Get(ctx, "/me")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(resp.Bytes()))
	// Output: session ada-42, client example/1.0
}
