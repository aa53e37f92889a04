package courier_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/courierhttp/courier"
)

// The benchmarks compare courier with a tuned net/http client doing the same
// work (GET and decode a small JSON document) against one loopback server.
// The server runs in a separate process, the test binary started again, so
// that allocations and CPU measured here are the client's alone.
//
//	go test -run '^$' -bench . -benchmem -count 6 | tee new.txt
//	benchstat new.txt

const benchServerEnv = "COURIER_BENCH_SERVER"

// benchDoc is what the server sends and the clients decode.
type benchDoc struct {
	ID     int      `json:"id"`
	Name   string   `json:"name"`
	Email  string   `json:"email"`
	Active bool     `json:"active"`
	Tags   []string `json:"tags"`
}

// serveBench is the server process: it prints its address, serves until its
// standard input closes, and answers /stats with the connections it opened.
func serveBench() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	body, _ := json.Marshal(benchDoc{ID: 42, Name: "Ada Lovelace", Email: "ada@example.com", Active: true, Tags: []string{"admin", "math"}})
	var conns atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/doc", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	})
	mux.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, conns.Load())
	})
	srv := &http.Server{Handler: mux, ConnState: func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}}
	go srv.Serve(ln)
	fmt.Println(ln.Addr().String())
	io.Copy(io.Discard, os.Stdin)
	srv.Close()
	return 0
}

// benchServer is a handle on the server process.
type benchServer struct {
	URL   string
	polls atomic.Int64 // /stats requests, each on a connection of its own
}

var (
	benchOnce sync.Once
	benchSrv  *benchServer
	benchErr  error
	benchStop func()
)

// startBenchServer starts the server process once for all benchmarks in this
// run. TestMain stops it (benchStop) after the run; the child also exits by
// itself when this process dies, since its standard input then closes.
func startBenchServer(b *testing.B) *benchServer {
	benchOnce.Do(func() {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), benchServerEnv+"=1")
		stdin, err := cmd.StdinPipe()
		if err != nil {
			benchErr = err
			return
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			benchErr = err
			return
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			benchErr = err
			return
		}
		addr, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil {
			benchErr = fmt.Errorf("bench server: %w", err)
			return
		}
		benchSrv = &benchServer{URL: "http://" + strings.TrimSpace(addr)}
		benchStop = func() { stdin.Close(); cmd.Wait() }
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchSrv
}

// conns asks the server how many connections it has accepted so far.
func (s *benchServer) conns(b *testing.B) int64 {
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/stats", nil)
	req.Close = true // leave no idle connection behind
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	n, _ := strconv.ParseInt(string(data), 10, 64)
	return n - s.polls.Add(1) // not counting the /stats connections
}

// tunedClient is what a careful engineer writes with net/http alone: a pool
// sized for concurrency and an overall timeout.
func tunedClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 1024
	t.MaxIdleConnsPerHost = 256
	return &http.Client{Transport: t, Timeout: 30 * time.Second}
}

func netHTTPGet(ctx context.Context, c *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	var doc benchDoc
	return json.NewDecoder(resp.Body).Decode(&doc)
}

func courierGet(ctx context.Context, s *courier.Session) error {
	var doc benchDoc
	_, err := s.Get(ctx, "/doc", courier.Into(&doc))
	return err
}

// clients returns the contenders, each as a function making one GET+decode.
func clients(b *testing.B, srv *benchServer) map[string]func(context.Context) error {
	s, err := courier.New(courier.WithBaseURL(srv.URL))
	if err != nil {
		b.Fatal(err)
	}
	tuned := tunedClient()
	b.Cleanup(func() {
		s.Close(context.Background())
		tuned.CloseIdleConnections()
	})
	return map[string]func(context.Context) error{
		"courier":       func(ctx context.Context) error { return courierGet(ctx, s) },
		"nethttp-tuned": func(ctx context.Context) error { return netHTTPGet(ctx, tuned, srv.URL+"/doc") },
	}
}

// BenchmarkGetDecode is one GET and JSON decode at a time.
func BenchmarkGetDecode(b *testing.B) {
	srv := startBenchServer(b)
	for _, name := range []string{"nethttp-tuned", "courier"} {
		b.Run(name, func(b *testing.B) {
			do := clients(b, srv)[name]
			ctx := context.Background()
			if err := do(ctx); err != nil { // warm the pool
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if err := do(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkGetDecodeParallel runs GET and decode from 64 goroutines. It
// reports the connections the server saw opened while warming the pool with
// 64 concurrent callers (warmconns) and during the measured run (conns), which
// should be 0 once the pool holds the concurrency.
func BenchmarkGetDecodeParallel(b *testing.B) {
	const concurrency = 64
	srv := startBenchServer(b)
	for _, name := range []string{"nethttp-tuned", "courier"} {
		b.Run(name, func(b *testing.B) {
			do := clients(b, srv)[name]
			ctx := context.Background()
			start := srv.conns(b)
			var wg sync.WaitGroup
			for range concurrency {
				wg.Go(func() {
					for range 20 {
						if err := do(ctx); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			warm := srv.conns(b)
			b.ReportAllocs()
			b.SetParallelism(concurrency / runtime.GOMAXPROCS(0))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := do(ctx); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(warm-start), "warmconns")
			b.ReportMetric(float64(srv.conns(b)-warm), "conns")
		})
	}
}

// BenchmarkObservability measures the request path with a logger at Info
// (so a healthy request emits nothing) and a set of hooks, against neither.
// Stats are always counted.
func BenchmarkObservability(b *testing.B) {
	srv := startBenchServer(b)
	quiet := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	hooks := courier.Hooks{
		BeforeAttempt: func(courier.AttemptInfo) {},
		AfterAttempt:  func(courier.AttemptInfo) {},
		OnRetry:       func(courier.AttemptInfo) {},
	}
	for _, c := range []struct {
		name string
		opts []courier.Option
	}{
		{"off", nil},
		{"logger-info+hooks", []courier.Option{courier.WithLogger(quiet), courier.WithHooks(hooks)}},
	} {
		b.Run(c.name, func(b *testing.B) {
			s, err := courier.New(append([]courier.Option{courier.WithBaseURL(srv.URL)}, c.opts...)...)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close(context.Background())
			ctx := context.Background()
			courierGet(ctx, s)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if err := courierGet(ctx, s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
