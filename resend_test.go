package courier_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/internal/testenv"
)

// dropOnReuse is a raw HTTP/1.1 server: on each connection it answers the
// first request with keep-alive, then reads the next request and closes the
// connection without answering. net/http then resends an idempotent request
// on a new connection by itself (a "transparent resend").
func dropOnReuse(t *testing.T) (addr string, requests *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	requests = &atomic.Int64{}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer conn.Close()
				br := bufio.NewReader(conn)
				for i := 0; ; i++ {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					io.Copy(io.Discard, req.Body)
					requests.Add(1)
					if i > 0 {
						return // drop the reused connection mid-exchange
					}
					io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				}
			})
		}
	})
	return ln.Addr().String(), requests
}

// net/http's own resend of a request that a reused connection dropped
// before answering is not a retry: the server never processed the first
// copy. It is not an attempt, and the budget does not pay for it.
func TestTransparentResendIsNotAnAttempt(t *testing.T) {
	t.Parallel()
	addr, requests := dropOnReuse(t)
	s := testenv.NewSession(t, courier.WithBaseURL("http://"+addr))
	host := addr
	if _, err := s.Get(t.Context(), "/first"); err != nil {
		t.Fatal(err)
	}
	before := s.Stats().BudgetLeft[host]
	resp, err := s.Get(t.Context(), "/second") // reuses the conn, is dropped, resent
	if err != nil {
		t.Fatalf("Get on a dropped reused connection = %v, want success through net/http's resend", err)
	}
	if got := requests.Load(); got != 3 {
		t.Fatalf("server read %d requests, want 3 (first, dropped second, resent second)", got)
	}
	if resp.Attempts != 1 || s.Stats().Attempts != 2 {
		t.Errorf("Response.Attempts = %d, Stats.Attempts = %d; want 1 and 2: the resend is no attempt of its own", resp.Attempts, s.Stats().Attempts)
	}
	if got := s.Stats().BudgetLeft[host]; got != before {
		t.Errorf("BudgetLeft = %d, want %d: the resend costs nothing", got, before)
	}
}
