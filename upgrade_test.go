package courier_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/internal/testenv"
)

// upgradeServer answers a request carrying "Upgrade: echo" with 101 and
// then echoes each line it reads on the connection, until the client
// closes it.
func upgradeServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "echo" {
			http.Error(w, "upgrade required", http.StatusUpgradeRequired)
			return
		}
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("Hijack: %v", err)
			return
		}
		defer conn.Close()
		fmt.Fprint(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		rw.Flush()
		for {
			line, err := rw.ReadString('\n')
			if err != nil {
				return
			}
			rw.WriteString("echo: " + line)
			rw.Flush()
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// A protocol upgrade through the session's *http.Client (what WebSocket
// libraries use) hands back the connection as net/http does: the body of
// the 101 is an io.ReadWriteCloser, both ways work, and closing it ends
// the request, so the session closes cleanly.
func TestUpgradeThroughClient(t *testing.T) {
	t.Parallel()
	srv := upgradeServer(t)
	s := testenv.NewSession(t)

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "echo")
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatalf("Do = %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d, want 101", resp.StatusCode)
	}
	conn, ok := resp.Body.(io.ReadWriteCloser)
	if !ok {
		t.Fatalf("the body of a 101 is a %T, want an io.ReadWriteCloser", resp.Body)
	}
	br := bufio.NewReader(conn)
	for _, msg := range []string{"one\n", "two\n"} {
		if _, err := io.WriteString(conn, msg); err != nil {
			t.Fatalf("write %q: %v", msg, err)
		}
		got, err := br.ReadString('\n')
		if err != nil || got != "echo: "+msg {
			t.Fatalf("read = %q, %v; want %q", got, err, "echo: "+msg)
		}
	}
	if err := conn.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}
	if st := s.Stats(); st.Statuses["1xx"] != 1 || st.InFlight != 0 {
		t.Errorf("stats: statuses %v, %d in flight; want one 1xx and none in flight", st.Statuses, st.InFlight)
	}
}

// The upgraded connection is the caller's, like a hijacked one: neither
// the session's whole-request timeout nor its body idle timeout cut it off
// later (a WebSocket may be quiet for minutes).
func TestUpgradeOutlivesRequestTimeout(t *testing.T) {
	t.Parallel()
	srv := upgradeServer(t)
	s := testenv.NewSession(t, courier.WithTimeout(200*time.Millisecond),
		courier.WithTimeouts(courier.Timeouts{BodyIdle: 200 * time.Millisecond}))

	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/ws", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "echo")
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatalf("Do = %v", err)
	}
	conn, ok := resp.Body.(io.ReadWriteCloser)
	if !ok {
		t.Fatalf("the body of a 101 is a %T, want an io.ReadWriteCloser", resp.Body)
	}
	defer conn.Close()
	time.Sleep(500 * time.Millisecond) // past both timeouts
	br := bufio.NewReader(conn)
	io.WriteString(conn, "late\n")
	if got, err := br.ReadString('\n'); err != nil || got != "echo: late\n" {
		t.Fatalf("read after the request timeout = %q, %v", got, err)
	}
}

// An upgrade the server refuses is an ordinary response.
func TestUpgradeRefused(t *testing.T) {
	t.Parallel()
	srv := upgradeServer(t)
	s := testenv.NewSession(t)
	resp, err := s.Client().Get(srv.URL + "/ws")
	if err != nil {
		t.Fatalf("Get = %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired {
		t.Errorf("status %d, want 426", resp.StatusCode)
	}
}

// Through the session's own API, a 101 that the request expects, streamed,
// hands over the connection; an unexpected one is a *StatusError and its
// connection is closed, never left to hang a read of a body it has not.
func TestUpgradeThroughDo(t *testing.T) {
	t.Parallel()
	srv := upgradeServer(t)
	s := testenv.NewSession(t, courier.WithTimeout(200*time.Millisecond))
	conn1, up1 := courier.Header("Connection", "Upgrade"), courier.Header("Upgrade", "echo")

	resp, err := s.Get(t.Context(), srv.URL+"/ws", conn1, up1, courier.Stream(), courier.ExpectStatus(http.StatusSwitchingProtocols))
	if err != nil {
		t.Fatalf("Get = %v", err)
	}
	conn, ok := resp.Body().(io.ReadWriteCloser)
	if !ok {
		t.Fatalf("Body() of an expected 101 is a %T, want an io.ReadWriteCloser", resp.Body())
	}
	time.Sleep(300 * time.Millisecond) // past the request timeout
	io.WriteString(conn, "hi\n")
	if got, err := bufio.NewReader(conn).ReadString('\n'); err != nil || got != "echo: hi\n" {
		t.Errorf("read = %q, %v", got, err)
	}
	if err := resp.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}

	for _, opts := range [][]courier.RequestOption{{conn1, up1}, {conn1, up1, courier.Stream()}} {
		_, err = s.Get(t.Context(), srv.URL+"/ws", opts...)
		var se *courier.StatusError
		if !errors.As(err, &se) || se.StatusCode != http.StatusSwitchingProtocols {
			t.Errorf("Get of an unexpected 101 = %v, want a *StatusError for it", err)
		}
	}
	_, err = s.Get(t.Context(), srv.URL+"/ws", conn1, up1, courier.ExpectStatus(http.StatusSwitchingProtocols))
	if err != nil {
		t.Errorf("Get of an expected 101, buffered = %v, want the response (and the connection closed)", err)
	}
}
