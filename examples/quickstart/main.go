// Command quickstart is a tour of a courier session against an API it
// starts on loopback: it decodes JSON, posts, turns a 404 into a typed error,
// hits a timeout, streams a body, and shows that every request reused one
// connection.
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/courierhttp/courier"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

type user struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

// api is the in-process server the tour talks to.
func api(conns *atomic.Int64) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/users/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") != "42" {
			w.Header().Set("X-Request-Id", "req-404-7f3a")
			http.Error(w, `{"error":"no such user"}`, http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(user{42, "Ada Lovelace"})
	})
	mux.HandleFunc("POST /v1/users", func(w http.ResponseWriter, r *http.Request) {
		var u user
		if err := json.NewDecoder(r.Body).Decode(&u); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		u.ID = 43
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(u)
	})
	mux.HandleFunc("GET /v1/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("GET /v1/export", func(w http.ResponseWriter, r *http.Request) {
		for i := range 5 {
			fmt.Fprintf(w, "row %d\n", i)
			w.(http.Flusher).Flush()
		}
	})
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	return srv
}

func run(ctx context.Context, out io.Writer) error {
	var conns atomic.Int64
	srv := api(&conns)
	defer srv.Close()

	s, err := courier.New(
		courier.WithBaseURL(srv.URL+"/v1"),
		courier.Header("Accept", "application/json"),
		courier.WithTimeout(5*time.Second),
	)
	if err != nil {
		return err
	}

	var u user
	if _, err := s.Get(ctx, "/users/42", courier.Into(&u)); err != nil {
		return err
	}
	fmt.Fprintf(out, "GET  /users/42      -> %d %s\n", u.ID, u.Name)

	resp, err := s.Post(ctx, "/users", courier.JSON(user{Name: "Grace Hopper"}))
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "POST /users         -> %s %s\n", resp.Status, strings.TrimSpace(string(resp.Bytes())))

	_, err = s.Get(ctx, "/users/7")
	var se *courier.StatusError
	if !errors.As(err, &se) {
		return fmt.Errorf("want a StatusError, got %v", err)
	}
	fmt.Fprintf(out, "GET  /users/7       -> *StatusError %d, request id %s\n", se.StatusCode, se.RequestID)

	_, err = s.Get(ctx, "/slow", courier.Timeout(200*time.Millisecond))
	fmt.Fprintf(out, "GET  /slow (200ms)  -> ErrTimeout=%v DeadlineExceeded=%v\n",
		errors.Is(err, courier.ErrTimeout), errors.Is(err, context.DeadlineExceeded))

	resp, err = s.Get(ctx, "/export", courier.Stream())
	if err != nil {
		return err
	}
	n, err := io.Copy(io.Discard, resp.Body())
	resp.Close()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "GET  /export stream -> %d bytes\n", n)

	for range 100 {
		if _, err := s.Get(ctx, "/users/42"); err != nil {
			return err
		}
	}
	closeCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.Close(closeCtx); err != nil {
		return err
	}
	// The timed-out request's connection was closed with it; everything
	// else went over one kept-alive connection.
	fmt.Fprintf(out, "105 requests, %d connections opened\n", conns.Load())
	_, err = s.Get(ctx, "/users/42")
	fmt.Fprintf(out, "after Close         -> ErrClosed=%v\n", errors.Is(err, courier.ErrClosed))
	return nil
}
