package main

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/courierhttp/courier/internal/testenv"
	"github.com/creack/pty"
)

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// courierBinary builds the command once, as one static binary
// (CGO_ENABLED=0), for the tests that run it as a process.
func courierBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binary = filepath.Join(binDir, "courier")
		cmd := exec.Command("go", "build", "-o", binary, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = errors.New(string(out))
		}
	})
	if buildErr != nil {
		t.Fatalf("go build: %v", buildErr)
	}
	return binary
}

// command is the binary with its own configuration directory.
func command(t *testing.T, args ...string) *exec.Cmd {
	cmd := exec.Command(courierBinary(t), args...)
	cmd.Env = append(os.Environ(), "COURIER_CONFIG_DIR="+t.TempDir(), "NO_COLOR=")
	return cmd
}

// TestTerminalOutput runs the binary in a pseudo-terminal: colors and
// formatting are on; piped, the same command prints the bytes as sent.
func TestTerminalOutput(t *testing.T) {
	srv := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"name":"ada","n":1}`))
	}))

	cmd := command(t, srv.URL)
	tty, err := pty.Start(cmd)
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	var out bytes.Buffer
	io.Copy(&out, tty) // ends with EIO when the child exits
	tty.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("courier in a terminal: %v\n%s", err, out.String())
	}
	got := out.String()
	for _, s := range []string{"\x1b[", "200 OK", "Content-Type", "\x1b[34m\"name\"\x1b[0m: \x1b[33m\"ada\"\x1b[0m", "    "} {
		if !strings.Contains(got, s) {
			t.Errorf("terminal output lacks %q:\n%q", s, got)
		}
	}

	piped, err := command(t, srv.URL).Output()
	if err != nil {
		t.Fatal(err)
	}
	if string(piped) != `{"name":"ada","n":1}` {
		t.Errorf("piped output %q, want the body as sent", piped)
	}
}

// TestProcessStdinAndExit: a body piped into the process is sent, and the
// exit code reaches the shell.
func TestProcessStdinAndExit(t *testing.T) {
	srv := testenv.HTTPBin(t, testenv.HTTP1)
	cmd := command(t, "-b", "PUT", srv.URL+"/anything", "Content-Type:text/plain")
	cmd.Stdin = strings.NewReader("piped body")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if e := decodeEcho(t, string(out)); e.Data != "piped body" || e.Method != "PUT" {
		t.Errorf("sent %s %q", e.Method, e.Data)
	}

	cmd = command(t, "--check-status", srv.URL+"/status/404")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exit4xx {
		t.Errorf("exit: %v, want 4", err)
	}
	if !strings.Contains(stderr.String(), "HTTP 404") {
		t.Errorf("stderr %q", stderr.String())
	}
}
