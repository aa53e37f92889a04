package courier_test

// Failure paths of a request: one test per failure, each asserting the error
// kind with errors.Is/As, that the call returned within a generous bound, and
// (through goleak in TestMain and the sessions' cleanup Close) that nothing
// leaked.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/internal/testenv"
)

// quietLog discards a test server's error log (TLS handshake failures and
// the like, which the tests provoke on purpose).
var quietLog = log.New(io.Discard, "", 0)

func TestConnectRefused(t *testing.T) {
	t.Parallel()
	s := testenv.NewSession(t, courier.WithBaseURL("http://"+testenv.ClosedPort(t)))

	start := time.Now()
	resp, err := s.Get(t.Context(), "/")
	requireWithin(t, start, 10*time.Second)
	if resp != nil {
		t.Errorf("Get returned a response with its error: %+v", resp)
	}
	requireIs(t, err, courier.ErrConnect, syscall.ECONNREFUSED)
	requireNotIs(t, err, courier.ErrTimeout, courier.ErrConnLost)
	var ce *courier.Error
	if !errors.As(err, &ce) {
		t.Fatalf("errors.As(%v, *courier.Error) = false", err)
	}
	if errors.Is(ce, courier.ErrTimeout) {
		t.Errorf("Error.Timeout() = true for a refused connection")
	}
	// Nothing was sent, so even a POST could be retried: the default policy
	// tries three times.
	if ce.Method != http.MethodGet || ce.Attempts != 3 {
		t.Errorf("Error{Method: %q, Attempts: %d}, want GET, %d", ce.Method, ce.Attempts, 3)
	}
}

// fullListener returns the address of a loopback socket that never accepts
// and whose accept queue is full, so that Linux drops further SYNs and a
// dial to it hangs until its timeout. Go's net.Listen always asks for the
// system's largest backlog, hence the raw socket with a backlog of 0: the
// kernel then queues one connection (two on some versions) and drops the
// SYNs after it.
func fullListener(t *testing.T) string {
	t.Helper()
	if runtime.GOOS != "linux" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI runs on Linux, where a full listen backlog makes SYNs hang")
		}
		t.Skip("filling a listen backlog to make SYNs hang is Linux behaviour")
	}
	syscall.ForkLock.RLock()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err == nil {
		syscall.CloseOnExec(fd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		t.Fatalf("socket: %v", err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatalf("bind: %v", err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatalf("listen: %v", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatalf("getsockname: %v", err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))
	for range 8 {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return addr // the queue is full: SYNs are dropped
			}
			t.Fatalf("filling the accept queue: %v", err)
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Fatalf("the accept queue of %s never filled: SYNs are not dropped here", addr)
	return ""
}

func TestConnectTimeout(t *testing.T) {
	t.Parallel()
	addr := fullListener(t)
	const dial = 200 * time.Millisecond
	s := testenv.NewSession(t, courier.WithBaseURL("http://"+addr), courier.WithTimeouts(courier.Timeouts{Dial: dial}))

	start := time.Now()
	_, err := s.Get(t.Context(), "/")
	requireWithin(t, start, dial+slack)
	requireIs(t, err, courier.ErrConnect, courier.ErrTimeout, context.DeadlineExceeded)
	requireNotIs(t, err, courier.ErrConnLost, courier.ErrCanceled)
	var ce *courier.Error
	if !errors.As(err, &ce) {
		t.Fatalf("errors.As(%v, *courier.Error) = false", err)
	}
	if !errors.Is(ce, courier.ErrTimeout) {
		t.Errorf("Error.Timeout() = false for a connect timeout")
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("errors.As(%v, net.Error) with Timeout() = false", err)
	}
}

func TestTLSUntrustedCertificate(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Config.ErrorLog = quietLog
	srv.StartTLS()
	t.Cleanup(srv.Close)
	s := testenv.NewSession(t, courier.WithBaseURL(srv.URL)) // the test CA is not trusted

	start := time.Now()
	_, err := s.Get(t.Context(), "/")
	requireWithin(t, start, slack)
	requireIs(t, err, courier.ErrTLS)
	requireNotIs(t, err, courier.ErrConnLost, courier.ErrConnect, courier.ErrTimeout)
	var cve *tls.CertificateVerificationError
	if !errors.As(err, &cve) {
		t.Errorf("errors.As(%v, *tls.CertificateVerificationError) = false", err)
	}
	var uae x509.UnknownAuthorityError
	if !errors.As(err, &uae) {
		t.Errorf("errors.As(%v, x509.UnknownAuthorityError) = false", err)
	}
}

func TestTLSOldVersionServer(t *testing.T) {
	t.Parallel()
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
		t.Run(tls.VersionName(v), func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
			srv.Config.ErrorLog = quietLog
			srv.TLS = &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: v}
			srv.StartTLS()
			t.Cleanup(srv.Close)
			// The certificate is trusted: only the version can fail.
			s := testenv.NewSession(t, courier.WithBaseURL(srv.URL), courier.WithTLSConfig(testenv.TLSConfig(srv)))

			start := time.Now()
			_, err := s.Get(t.Context(), "/")
			requireWithin(t, start, slack)
			requireIs(t, err, courier.ErrTLS)
			requireNotIs(t, err, courier.ErrConnLost, courier.ErrConnect, courier.ErrTimeout)
		})
	}
}

func TestTLSExpiredCertificate(t *testing.T) {
	t.Parallel()
	cert := testenv.SelfSigned(t, time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Config.ErrorLog = quietLog
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	s := testenv.NewSession(t, courier.WithBaseURL(srv.URL), courier.WithTLSConfig(&tls.Config{RootCAs: pool}))

	_, err := s.Get(t.Context(), "/")
	requireIs(t, err, courier.ErrTLS)
	requireNotIs(t, err, courier.ErrConnLost, courier.ErrTimeout)
	var cie x509.CertificateInvalidError
	if !errors.As(err, &cie) || cie.Reason != x509.Expired {
		t.Errorf("errors.As(%v, x509.CertificateInvalidError) with Reason Expired = false", err)
	}
}

// A server that speaks plain HTTP where TLS was expected.
func TestTLSPlainHTTPServer(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(srv.Close)
	s := testenv.NewSession(t, courier.WithBaseURL("https://"+srv.Listener.Addr().String()))
	_, err := s.Get(t.Context(), "/")
	requireIs(t, err, courier.ErrTLS)
	requireNotIs(t, err, courier.ErrConnLost)
	var rhe tls.RecordHeaderError
	if !errors.As(err, &rhe) {
		t.Errorf("errors.As(%v, tls.RecordHeaderError) = false", err)
	}
}

// silentListener accepts connections and never says a word.
func silentListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		done  = make(chan struct{})
	)
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

func TestTLSHandshakeTimeout(t *testing.T) {
	t.Parallel()
	const d = 100 * time.Millisecond
	s := testenv.NewSession(t, courier.WithBaseURL("https://"+silentListener(t)),
		courier.WithTimeouts(courier.Timeouts{TLSHandshake: d}))
	start := time.Now()
	_, err := s.Get(t.Context(), "/")
	requireWithin(t, start, d+slack)
	requireIs(t, err, courier.ErrTimeout, context.DeadlineExceeded)
	requireNotIs(t, err, courier.ErrConnLost, courier.ErrCanceled, courier.ErrConnect)
}

// A server that accepts and never answers: the response header timeout
// fires: a blackhole after connect.
func TestSilentServer(t *testing.T) {
	t.Parallel()
	const d = 100 * time.Millisecond
	s := testenv.NewSession(t, courier.WithBaseURL("http://"+silentListener(t)),
		courier.WithTimeouts(courier.Timeouts{ResponseHeader: d}))
	start := time.Now()
	_, err := s.Get(t.Context(), "/")
	requireWithin(t, start, d+slack)
	requireIs(t, err, courier.ErrTimeout, context.DeadlineExceeded)
	requireNotIs(t, err, courier.ErrConnLost, courier.ErrConnect)
}

func TestSlowHeaders(t *testing.T) {
	t.Parallel()
	const d = 100 * time.Millisecond
	tests := []struct {
		name    string
		session []courier.Option
		request []courier.RequestOption
	}{
		{"ResponseHeaderTimeout", []courier.Option{courier.WithTimeouts(courier.Timeouts{ResponseHeader: d})}, nil},
		{"SessionRequestTimeout", []courier.Option{courier.WithTimeout(d)}, nil},
		{"WithTimeout", []courier.Option{courier.WithTimeout(d)}, nil},
		{"RequestTimeout", nil, []courier.RequestOption{courier.Timeout(d)}},
	}
	run(t, func(t *testing.T, m testenv.Mode) {
		ts := testenv.NewServer(t, m, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			stallUntilGone(r)
		}))
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				s := ts.Session(t, tt.session...)
				start := time.Now()
				resp, err := s.Get(t.Context(), "/", tt.request...)
				requireWithin(t, start, d+slack)
				if resp != nil {
					t.Errorf("Get returned a response with a timeout")
				}
				requireIs(t, err, courier.ErrTimeout, context.DeadlineExceeded)
				requireNotIs(t, err, courier.ErrConnect, courier.ErrCanceled, courier.ErrConnLost)
				var ce *courier.Error
				if !errors.As(err, &ce) || !errors.Is(ce, courier.ErrTimeout) {
					t.Errorf("errors.As(%v, *courier.Error) with Timeout() = false", err)
				}
			})
		}
	})
}

// stallBody is a handler that sends its headers and a first chunk, then
// stalls until the client goes away.
func stallBody(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	w.Write([]byte("first chunk;"))
	w.(http.Flusher).Flush()
	stallUntilGone(r)
}

// trickle is a handler that sends n chunks, one every gap.
func trickle(n int, gap time.Duration) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		for i := range n {
			if i > 0 {
				select {
				case <-time.After(gap):
				case <-r.Context().Done():
					return
				}
			}
			w.Write([]byte("chunk;"))
			w.(http.Flusher).Flush()
		}
	}
}

func TestSlowBodyBuffered(t *testing.T) {
	t.Parallel()
	const d = 200 * time.Millisecond
	run(t, func(t *testing.T, m testenv.Mode) {
		ts := testenv.NewServer(t, m, http.HandlerFunc(stallBody))
		s := ts.Session(t, courier.WithTimeout(d))
		start := time.Now()
		resp, err := s.Get(t.Context(), "/")
		requireWithin(t, start, d+slack)
		if resp != nil {
			t.Errorf("Get returned a partial body as a response: %q", string(resp.Bytes()))
		}
		requireIs(t, err, courier.ErrTimeout, context.DeadlineExceeded)
		requireNotIs(t, err, courier.ErrCanceled, courier.ErrConnLost)
	})
}

func TestSlowBodyStreamIdle(t *testing.T) {
	t.Parallel()
	const idle = 100 * time.Millisecond
	run(t, func(t *testing.T, m testenv.Mode) {
		ts := testenv.NewServer(t, m, http.HandlerFunc(stallBody))
		s := ts.Session(t, courier.WithTimeout(5*time.Second), courier.WithTimeouts(courier.Timeouts{BodyIdle: idle}))
		start := time.Now()
		resp, err := s.Get(t.Context(), "/", courier.Stream())
		if err != nil {
			t.Fatalf("Get(Stream) = %v, want the response", err)
		}
		defer resp.Close()
		body, err := io.ReadAll(resp.Body())
		requireWithin(t, start, idle+slack)
		if string(body) != "first chunk;" {
			t.Errorf("read %q before the stall, want %q", body, "first chunk;")
		}
		requireIs(t, err, courier.ErrTimeout, context.DeadlineExceeded)
		requireNotIs(t, err, courier.ErrCanceled)
	})
}

// A long download is not cut by the request timeout while it makes progress.
func TestSlowBodyStreamTrickleSucceeds(t *testing.T) {
	t.Parallel()
	const (
		request = 200 * time.Millisecond
		gap     = 50 * time.Millisecond
		chunks  = 10 // 450ms in all: longer than the request timeout
	)
	run(t, func(t *testing.T, m testenv.Mode) {
		ts := testenv.NewServer(t, m, trickle(chunks, gap))
		s := ts.Session(t, courier.WithTimeout(request), courier.WithTimeouts(courier.Timeouts{BodyIdle: time.Second}))
		start := time.Now()
		resp, err := s.Get(t.Context(), "/", courier.Stream())
		if err != nil {
			t.Fatalf("Get(Stream) = %v", err)
		}
		defer resp.Close()
		body, err := io.ReadAll(resp.Body())
		if err != nil {
			t.Fatalf("reading a trickling body: %v (after %v)", err, time.Since(start))
		}
		if got, want := len(body), chunks*len("chunk;"); got != want {
			t.Errorf("read %d bytes, want %d", got, want)
		}
		if took := time.Since(start); took < request {
			t.Errorf("body took %v, want longer than the request timeout %v for this test to mean anything", took, request)
		}
	})
}

func TestSlowBodyClientTrickleSucceeds(t *testing.T) {
	t.Parallel()
	const (
		request = 200 * time.Millisecond
		gap     = 50 * time.Millisecond
		chunks  = 10
	)
	run(t, func(t *testing.T, m testenv.Mode) {
		ts := testenv.NewServer(t, m, trickle(chunks, gap))
		s := ts.Session(t, courier.WithTimeout(request), courier.WithTimeouts(courier.Timeouts{BodyIdle: time.Second}))
		start := time.Now()
		resp, err := s.Client().Get(ts.URL)
		if err != nil {
			t.Fatalf("Client().Get = %v", err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("reading a trickling body: %v (after %v)", err, time.Since(start))
		}
		if got, want := len(body), chunks*len("chunk;"); got != want {
			t.Errorf("read %d bytes, want %d", got, want)
		}
	})
}

func TestSlowBodyClientIdle(t *testing.T) {
	t.Parallel()
	const idle = 100 * time.Millisecond
	run(t, func(t *testing.T, m testenv.Mode) {
		ts := testenv.NewServer(t, m, http.HandlerFunc(stallBody))
		s := ts.Session(t, courier.WithTimeouts(courier.Timeouts{BodyIdle: idle}))
		start := time.Now()
		resp, err := s.Client().Get(ts.URL)
		if err != nil {
			t.Fatalf("Client().Get = %v", err)
		}
		defer resp.Body.Close()
		_, err = io.ReadAll(resp.Body)
		requireWithin(t, start, idle+slack)
		requireIs(t, err, courier.ErrTimeout, context.DeadlineExceeded)
	})
}

// hijackHandler answers with Content-Length 100, sends 10 bytes and closes the
// connection.
func hijackHandler(w http.ResponseWriter, r *http.Request) {
	conn, buf, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n0123456789")
	buf.Flush()
}

func TestServerClosesMidBody(t *testing.T) {
	t.Parallel()
	ts := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(hijackHandler))
	t.Run("Buffered", func(t *testing.T) {
		t.Parallel()
		s := ts.Session(t)
		start := time.Now()
		resp, err := s.Get(t.Context(), "/")
		requireWithin(t, start, slack)
		if resp != nil {
			t.Errorf("Get returned a truncated body as a response: %q", string(resp.Bytes()))
		}
		requireIs(t, err, courier.ErrConnLost, io.ErrUnexpectedEOF)
		requireNotIs(t, err, courier.ErrCanceled, courier.ErrTimeout)
	})
	t.Run("Stream", func(t *testing.T) {
		t.Parallel()
		s := ts.Session(t)
		resp, err := s.Get(t.Context(), "/", courier.Stream())
		if err != nil {
			t.Fatalf("Get(Stream) = %v", err)
		}
		defer resp.Close()
		_, err = io.ReadAll(resp.Body())
		requireIs(t, err, courier.ErrConnLost, io.ErrUnexpectedEOF)
		requireNotIs(t, err, courier.ErrCanceled, courier.ErrTimeout)
	})
	t.Run("Client", func(t *testing.T) {
		t.Parallel()
		s := ts.Session(t)
		resp, err := s.Client().Get(ts.URL)
		if err != nil {
			t.Fatalf("Client().Get = %v", err)
		}
		defer resp.Body.Close()
		_, err = io.ReadAll(resp.Body)
		requireIs(t, err, courier.ErrConnLost, io.ErrUnexpectedEOF)
	})
}

// An HTTP/2 server that resets the stream in the middle of the body.
func TestServerResetsStreamMidBody(t *testing.T) {
	t.Parallel()
	ts := testenv.NewServer(t, testenv.HTTP2, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.Write([]byte("0123456789"))
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}))
	s := ts.Session(t)
	start := time.Now()
	_, err := s.Get(t.Context(), "/")
	requireWithin(t, start, slack)
	requireIs(t, err, courier.ErrConnLost)
	requireNotIs(t, err, courier.ErrCanceled, courier.ErrTimeout)
}

func TestCanceledContext(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T, m testenv.Mode) {
		ts := testenv.NewServer(t, m, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { stallUntilGone(r) }))
		s := ts.Session(t)
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(50*time.Millisecond, cancel)
		start := time.Now()
		_, err := s.Get(ctx, "/")
		requireWithin(t, start, slack)
		requireIs(t, err, courier.ErrCanceled, context.Canceled)
		requireNotIs(t, err, courier.ErrTimeout, context.DeadlineExceeded, courier.ErrConnLost)
	})
}

func TestCanceledBeforeStart(t *testing.T) {
	t.Parallel()
	ts := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	s := ts.Session(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := s.Get(ctx, "/")
	requireIs(t, err, courier.ErrCanceled, context.Canceled)
	if n := ts.Requests.Load(); n != 0 {
		t.Errorf("server saw %d requests, want 0", n)
	}
}

func TestCanceledContextStream(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T, m testenv.Mode) {
		ts := testenv.NewServer(t, m, http.HandlerFunc(stallBody))
		s := ts.Session(t)
		ctx, cancel := context.WithCancel(t.Context())
		resp, err := s.Get(ctx, "/", courier.Stream())
		if err != nil {
			t.Fatalf("Get(Stream) = %v", err)
		}
		defer resp.Close()
		time.AfterFunc(50*time.Millisecond, cancel)
		_, err = io.ReadAll(resp.Body())
		requireIs(t, err, courier.ErrCanceled, context.Canceled)
	})
}

func TestCallerDeadline(t *testing.T) {
	t.Parallel()
	const d = 100 * time.Millisecond
	run(t, func(t *testing.T, m testenv.Mode) {
		ts := testenv.NewServer(t, m, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { stallUntilGone(r) }))
		s := ts.Session(t)
		ctx, cancel := context.WithTimeout(t.Context(), d)
		defer cancel()
		start := time.Now()
		_, err := s.Get(ctx, "/")
		requireWithin(t, start, d+slack)
		requireIs(t, err, courier.ErrTimeout, context.DeadlineExceeded)
		requireNotIs(t, err, courier.ErrCanceled, context.Canceled)
	})
}

func TestNilContext(t *testing.T) {
	t.Parallel()
	ts := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	s := ts.Session(t)
	var ctx context.Context // nil, through a variable so vet lets it pass
	_, err := s.Get(ctx, "/")
	requireIs(t, err, courier.ErrInvalidRequest)
	if n := ts.Requests.Load(); n != 0 {
		t.Errorf("server saw %d requests, want 0", n)
	}
}

// Closing a streamed body whose server stalled must not wait for the rest of
// it: the bounded drain that lets a connection be reused gives up quickly.
func TestStreamCloseStalledBody(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T, m testenv.Mode) {
		ts := testenv.NewServer(t, m, http.HandlerFunc(stallBody))
		s := ts.Session(t) // default timeouts: 30s
		resp, err := s.Get(t.Context(), "/", courier.Stream())
		if err != nil {
			t.Fatalf("Get(Stream) = %v", err)
		}
		io.ReadFull(resp.Body(), make([]byte, 5))
		start := time.Now()
		resp.Close()
		requireWithin(t, start, slack)
	})
}

// The same when courier reads an error body past its cap, or a body past
// the size limit, and the server then stalls.
func TestStalledBodyPastTheCap(t *testing.T) {
	t.Parallel()
	stallAfter := func(code, n int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(code)
			w.Write(bytes.Repeat([]byte("x"), n))
			w.(http.Flusher).Flush()
			stallUntilGone(r)
		}
	}
	run(t, func(t *testing.T, m testenv.Mode) {
		t.Run("error body", func(t *testing.T) {
			ts := testenv.NewServer(t, m, stallAfter(http.StatusBadGateway, courier.MaxErrorBody+100))
			s := ts.Session(t)
			start := time.Now()
			_, err := s.Get(t.Context(), "/")
			requireWithin(t, start, slack)
			if !testenv.HasStatus(err, http.StatusBadGateway) {
				t.Errorf("Get = %v, want a *StatusError 502", err)
			}
		})
		t.Run("too large", func(t *testing.T) {
			ts := testenv.NewServer(t, m, stallAfter(http.StatusOK, 2048))
			s := ts.Session(t, courier.WithMaxBodySize(1024))
			start := time.Now()
			_, err := s.Get(t.Context(), "/")
			requireWithin(t, start, slack)
			requireIs(t, err, courier.ErrBodyTooLarge)
		})
	})
}
