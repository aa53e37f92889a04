package redisstore_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisServer is a redis-server of a test's own, on a loopback port, with
// nothing saved to disk. It can be killed and started again on the same
// port, or frozen, to play an outage. Cleanup stops it.
type redisServer struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	args []string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	out  *syncBuffer
}

// startRedis starts a redis-server with extra arguments args (such as
// "--requirepass", "secret"). Without the binary the test is skipped,
// except under CI=true, where it fails.
func startRedis(t testing.TB, args ...string) *redisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		msg := "redis-server not found: install the Debian package redis-server (apt-get install redis-server)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	r := &redisServer{t: t, bin: bin, dir: t.TempDir(), args: args}
	t.Cleanup(r.Kill)
	// A free port may be taken between finding it and redis-server
	// binding it: try a few.
	for range 5 {
		r.port = freePort(t)
		if err = r.start(); err == nil {
			return r
		}
	}
	t.Fatalf("start redis-server: %v", err)
	return nil
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Addr is the server's host:port.
func (r *redisServer) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port)) }

// start runs redis-server on r.port and waits until it answers PING.
func (r *redisServer) start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	args := append([]string{
		"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.dir,
	}, r.args...)
	cmd := exec.Command(r.bin, args...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	r.cmd, r.done, r.out = cmd, done, out
	deadline := time.Now().Add(10 * time.Second)
	for {
		if ping(r.Addr()) {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("redis-server exited: %s", out.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-done
			return fmt.Errorf("redis-server did not answer PING within 10s: %s", out.String())
		}
	}
}

// ping says whether a Redis server answers PING at addr (NOAUTH counts).
func ping(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && (strings.HasPrefix(line, "+PONG") || strings.HasPrefix(line, "-NOAUTH"))
}

// Kill kills the server at once (SIGKILL), as a crash would, and waits
// until it has exited. It does nothing if the server is not running.
func (r *redisServer) Kill() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return
	}
	r.cmd.Process.Signal(syscall.SIGCONT) // a frozen server must die too
	r.cmd.Process.Kill()
	<-r.done
	r.cmd = nil
}

// Restart starts the server again on the same port, empty.
func (r *redisServer) Restart() {
	r.t.Helper()
	if err := r.start(); err != nil {
		r.t.Fatalf("restart redis-server on port %d: %v", r.port, err)
	}
}

// Freeze stops the server (SIGSTOP): connections stay open and nothing
// answers, as in a network partition. Thaw resumes it.
func (r *redisServer) Freeze() { r.signal(syscall.SIGSTOP) }

// Thaw resumes a frozen server.
func (r *redisServer) Thaw() { r.signal(syscall.SIGCONT) }

func (r *redisServer) signal(sig os.Signal) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil {
		r.cmd.Process.Signal(sig)
	}
}

// Client returns a go-redis client of the server, closed in cleanup, with
// the options the pacer asks for; edit changes them before it is made.
func (r *redisServer) Client(t testing.TB, edit ...func(*redis.Options)) *redis.Client {
	t.Helper()
	opt := &redis.Options{Addr: r.Addr(), ContextTimeoutEnabled: true}
	for _, e := range edit {
		e(opt)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	return c
}

// checkKeys scans every key of the server and reports a key without a
// TTL or outside prefix. It returns the keys.
func checkKeys(t testing.TB, c redis.UniversalClient, prefix string) []string {
	t.Helper()
	ctx := context.Background()
	var keys []string
	iter := c.Scan(ctx, 0, "*", 100).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Fatalf("SCAN: %v", err)
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, prefix) {
			t.Errorf("key %q is outside the prefix %q", k, prefix)
		}
		ttl, err := c.PTTL(ctx, k).Result()
		switch {
		case errors.Is(err, redis.Nil), err == nil && ttl == -2*time.Nanosecond:
			// Expired between SCAN and PTTL.
		case err != nil:
			t.Fatalf("PTTL %s: %v", k, err)
		case ttl < 0:
			t.Errorf("key %q has no TTL (PTTL = %v)", k, ttl)
		}
	}
	return keys
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
