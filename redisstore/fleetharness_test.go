package redisstore_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// The fleet tests run the test binary again as worker processes, each
// with its own Redis client and store, to test what a fleet shares. A
// worker is a test helper (TestHelperWorker, say) that does nothing
// unless its environment variable holds its configuration, as JSON. It
// talks to the test in lines: it writes "fleet:ready" on its standard
// output and waits for a line on its standard input ("go"), as many times
// as its test has phases, then writes "fleet:result <JSON>" and exits.
// Its other output, and its standard error, are kept for the test's
// failure messages.

// The lines of the protocol.
const (
	readyLine    = "fleet:ready"
	resultPrefix = "fleet:result "
)

// A workerIO is the worker's side of the protocol.
type workerIO struct {
	in *bufio.Reader
}

// startWorkerIO reads the configuration of a worker from the environment
// variable env into cfg. It reports false, in a test process that is no
// worker, when env is not set.
func startWorkerIO(t *testing.T, env string, cfg any) (*workerIO, bool) {
	raw := os.Getenv(env)
	if raw == "" {
		return nil, false
	}
	if err := json.Unmarshal([]byte(raw), cfg); err != nil {
		t.Fatal(err)
	}
	return &workerIO{in: bufio.NewReader(os.Stdin)}, true
}

// ready says the worker is ready, and waits for the test's next line.
func (w *workerIO) ready(t *testing.T) {
	fmt.Println(readyLine)
	if _, err := w.in.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
}

// report writes the worker's result.
func (w *workerIO) report(res any) {
	out, _ := json.Marshal(res)
	fmt.Printf("%s%s\n", resultPrefix, out)
}

// workerRedis returns a client of the Redis at addr with the options the
// stores ask for, and n connections in its pool, each with a PING
// answered: workers warmed up so start together on "go", rather than all
// dialling Redis at once.
func workerRedis(t *testing.T, addr string, n int) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	conns := make([]*redis.Conn, n)
	for i := range conns {
		conns[i] = c.Conn()
		if err := conns[i].Ping(context.Background()).Err(); err != nil {
			t.Fatal(err)
		}
	}
	for _, cn := range conns {
		cn.Close() // back to the pool
	}
	return c
}

// A worker is the test's side of a running worker process, whose result
// is an R.
type worker[R any] struct {
	id     int
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    *syncBuffer   // stderr, and stdout's other lines
	ready  chan struct{} // a value for each ready line
	result chan R
	done   chan struct{} // stdout read to its end
}

// startWorker runs the test binary again, running only the test helper
// and with cfg in the environment variable env, as worker id. Cleanup
// kills it.
func startWorker[R any](t *testing.T, helper, env string, id int, cfg any) *worker[R] {
	t.Helper()
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+helper+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env+"="+string(raw))
	w := &worker[R]{id: id, cmd: cmd, out: &syncBuffer{}, ready: make(chan struct{}, 8),
		result: make(chan R, 1), done: make(chan struct{})}
	cmd.Stderr = w.out
	if w.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-w.done
		cmd.Wait()
	})
	go func() {
		defer close(w.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == readyLine:
				w.ready <- struct{}{}
			case strings.HasPrefix(line, resultPrefix):
				var res R
				if err := json.Unmarshal([]byte(strings.TrimPrefix(line, resultPrefix)), &res); err == nil {
					w.result <- res
				}
			default:
				w.out.Write([]byte(line + "\n"))
			}
		}
	}()
	return w
}

// await waits for the worker's next ready line.
func (w *worker[R]) await(t *testing.T) {
	t.Helper()
	select {
	case <-w.ready:
	case <-w.done:
		t.Fatalf("worker %d exited before it was ready:\n%s", w.id, w.out)
	case <-time.After(time.Minute):
		t.Fatalf("worker %d not ready within a minute:\n%s", w.id, w.out)
	}
}

// tell writes line to the worker.
func (w *worker[R]) tell(line string) { io.WriteString(w.stdin, line+"\n") }

// wait returns the worker's result, given within d, once it has exited.
func (w *worker[R]) wait(t *testing.T, d time.Duration) R {
	t.Helper()
	var res R
	select {
	case res = <-w.result:
	case <-w.done:
		// The result comes before the end of stdout, if at all.
		select {
		case res = <-w.result:
		default:
			t.Fatalf("worker %d exited without a result:\n%s", w.id, w.out)
		}
	case <-time.After(d):
		t.Fatalf("worker %d gave no result:\n%s", w.id, w.out)
	}
	<-w.done
	if err := w.cmd.Wait(); err != nil {
		t.Errorf("worker %d: %v:\n%s", w.id, err, w.out)
	}
	return res
}

// A workerFleet is the workers of a test, numbered from 0.
type workerFleet[R any] []*worker[R]

// startFleet starts a worker for each configuration.
func startFleet[R, C any](t *testing.T, helper, env string, cfgs []C) workerFleet[R] {
	t.Helper()
	ws := make(workerFleet[R], len(cfgs))
	for i, cfg := range cfgs {
		ws[i] = startWorker[R](t, helper, env, i, cfg)
	}
	return ws
}

// await waits until every worker is ready.
func (ws workerFleet[R]) await(t *testing.T) {
	t.Helper()
	for _, w := range ws {
		w.await(t)
	}
}

// tell writes line to every worker.
func (ws workerFleet[R]) tell(line string) {
	for _, w := range ws {
		w.tell(line)
	}
}

// wait returns the workers' results, each given within d.
func (ws workerFleet[R]) wait(t *testing.T, d time.Duration) []R {
	t.Helper()
	results := make([]R, len(ws))
	for i, w := range ws {
		results[i] = w.wait(t, d)
	}
	return results
}

// runFleetOnce starts a worker for each configuration, tells them "go"
// at once once they are all ready, calls during (in the test's goroutine)
// with the time of "go", and returns their results, each given within
// d of the end of during, with the time of "go" and the longest the test
// process was stalled meanwhile.
func runFleetOnce[R, C any](t *testing.T, helper, env string, cfgs []C, d time.Duration, during func(start time.Time)) (results []R, start time.Time, stall time.Duration) {
	t.Helper()
	ws := startFleet[R](t, helper, env, cfgs)
	ws.await(t)
	stalls := watchStalls()
	start = time.Now()
	ws.tell("go")
	if during != nil {
		during(start)
	}
	results = ws.wait(t, d)
	return results, start, stalls.Stop()
}

// A stallWatch measures how late a goroutine that sleeps 10ms at a time
// wakes: how long the machine stalled the process. A run the machine
// stalls in for longer than maxStall measures the machine, not the store.
type stallWatch struct {
	worst atomic.Int64
	stop  chan struct{}
	done  chan struct{}
}

const maxStall = 50 * time.Millisecond

func watchStalls() *stallWatch {
	w := &stallWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			before := time.Now()
			select {
			case <-w.stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			if late := time.Since(before) - 10*time.Millisecond; late > time.Duration(w.worst.Load()) {
				w.worst.Store(int64(late))
			}
		}
	}()
	return w
}

// Stop stops the watch and returns the longest stall it saw.
func (w *stallWatch) Stop() time.Duration {
	close(w.stop)
	<-w.done
	return time.Duration(w.worst.Load())
}

// figures collects the failed figures of a fleet run, so that a run the
// machine stalled in can be told from one the store got wrong.
type figures struct {
	errs []string
}

func (f *figures) Errorf(format string, args ...any) {
	f.errs = append(f.errs, fmt.Sprintf(format, args...))
}

// measure runs a fleet test, run, which returns the longest stall of its
// processes. A run whose figures fail while the machine stalled longer
// than maxStall is run once more: the machine is shared, and the figures
// the tests hold (±5%, ±100ms, 50ms) hold for the stores, not for a
// machine that stops every process for a while.
func measure(t *testing.T, run func(f *figures) (stall time.Duration)) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		f := &figures{}
		stall := run(f)
		t.Logf("longest stall of a process: %v", stall.Round(time.Millisecond))
		if len(f.errs) == 0 {
			return
		}
		if stall <= maxStall || attempt == 2 {
			for _, e := range f.errs {
				t.Error(e)
			}
			if stall > maxStall {
				t.Errorf("the machine stalled a process for %v in the run (over %v): the figures above may be the machine's", stall, maxStall)
			}
			return
		}
		t.Logf("the machine stalled a process for %v in the run, which failed; running again. Its failures:\n%s", stall, strings.Join(f.errs, "\n"))
	}
}
