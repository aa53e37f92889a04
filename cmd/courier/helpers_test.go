package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/courierhttp/courier/internal/testenv"
	"go.uber.org/goleak"
)

// binDir holds the binary the process tests build.
var binDir string

func TestMain(m *testing.M) {
	var err error
	if binDir, err = os.MkdirTemp("", "courier-cli-test"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// The CLI reads $NETRC (or ~/.netrc) when no -a is given: the
	// developer's own must not reach the tests. The netrc tests set their
	// own.
	empty := filepath.Join(binDir, "netrc")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("NETRC", empty)
	code := m.Run()
	os.RemoveAll(binDir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// cli is one run of the command: its input and what it printed.
type cli struct {
	t      *testing.T
	config string // COURIER_CONFIG_DIR
	stdin  string
	inData bool
	tty    bool
	env    map[string]string
	pass   func(string) (string, error)

	Stdout, Stderr string
	Code           int
}

// newCLI makes a runner with its own configuration directory.
func newCLI(t *testing.T) *cli {
	return &cli{t: t, config: t.TempDir()}
}

// run runs the command with args and returns the exit code.
func (c *cli) run(args ...string) int {
	c.t.Helper()
	var out, errb bytes.Buffer
	sio := stdio{
		In:     strings.NewReader(c.stdin),
		InData: c.inData,
		Out:    &out, Err: &errb,
		OutTTY: c.tty, ErrTTY: c.tty,
		Getenv: func(k string) string {
			if k == "COURIER_CONFIG_DIR" {
				return c.config
			}
			return c.env[k]
		},
		ReadPassword: c.pass,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c.Code = run(ctx, args, sio)
	c.Stdout, c.Stderr = out.String(), errb.String()
	return c.Code
}

// ok runs the command and fails the test unless it exits 0.
func (c *cli) ok(args ...string) string {
	c.t.Helper()
	if code := c.run(args...); code != 0 {
		c.t.Fatalf("courier %s: exit %d\nstderr: %s\nstdout: %s", strings.Join(args, " "), code, c.Stderr, c.Stdout)
	}
	return c.Stdout
}

// sessionFile is where a named session for srv lives.
func (c *cli) sessionFile(srv *testenv.Server, name string) string {
	host := strings.TrimPrefix(srv.URL, "http://")
	return filepath.Join(c.config, "sessions", strings.ReplaceAll(host, ":", "_"), name+".json")
}

// writeFile writes a file in dir and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// chdir runs the test in dir (downloads are saved in the working
// directory).
func chdir(t *testing.T, dir string) {
	t.Helper()
	t.Chdir(dir)
}
