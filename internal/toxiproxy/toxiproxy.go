// Package toxiproxy runs Shopify's toxiproxy server for courier's tests and
// drives it over its HTTP JSON API: a fault proxy between a courier session
// and a test server, with latency, blackholes, resets, slow closes, cut-off
// data, narrow bandwidth, and proxies switched off.
//
// It is a test helper: only _test.go files import it. It needs the
// toxiproxy-server binary, which `go install
// github.com/Shopify/toxiproxy/v2/cmd/server@v2.5.0` puts in
// $(go env GOPATH)/bin under the name "server". Without it, [Start] skips
// the test, except when CI=true, where it fails it: in CI nothing skips.
//
// It speaks to toxiproxy with net/http only, so that courier's go.mod does
// not take on the toxiproxy client's dependencies.
package toxiproxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/build"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// InstallCommand installs the toxiproxy server this package is tested with.
const InstallCommand = "go install github.com/Shopify/toxiproxy/v2/cmd/server@v2.5.0"

// EnvServer names an environment variable holding the path of the
// toxiproxy server binary; it wins over the search of PATH and GOPATH.
const EnvServer = "TOXIPROXY_SERVER"

// Streams a toxic can apply to: Upstream is from the client to the server,
// Downstream from the server back to the client.
const (
	Upstream   = "upstream"
	Downstream = "downstream"
)

// Server is a running toxiproxy server, on a loopback port of its own.
type Server struct {
	// API is the base URL of its HTTP API, such as "http://127.0.0.1:40123".
	API string

	client *http.Client
	log    string
}

// Proxy is one of the server's proxies: it listens on Listen, a loopback
// address, and forwards each connection to Upstream through its toxics.
type Proxy struct {
	Name     string
	Listen   string
	Upstream string

	srv *Server
}

// URL returns "http://" + the proxy's listen address.
func (p *Proxy) URL() string { return "http://" + p.Listen }

// Start starts a toxiproxy server on a free loopback port, waits until its
// API answers, and stops it when the test ends. It skips the test when the
// binary cannot be found (see [InstallCommand]), or fails it when the
// environment has CI=true.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := findBinary()
	if err != nil {
		msg := fmt.Sprintf("toxiproxy server not found (%v); install it with: %s (or set %s)", err, InstallCommand, EnvServer)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	logDir := t.TempDir() // registered before the stop below, so removed after it
	var lastErr error
	for try := 1; try <= 3; try++ {
		s, err := start(t, bin, filepath.Join(logDir, fmt.Sprintf("toxiproxy-%d.log", try)))
		if err == nil {
			return s
		}
		lastErr = err // most likely the free port was taken meanwhile: try another
	}
	t.Fatalf("toxiproxy: %v", lastErr)
	return nil
}

func start(t testing.TB, bin, logPath string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child has its own copy
	cmd := exec.Command(bin, "-host", "127.0.0.1", "-port", strconv.Itoa(port))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	s := &Server{
		API: "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		client: &http.Client{
			Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 16},
			Timeout:   10 * time.Second,
		},
		log: logPath,
	}
	stop := func() {
		s.client.CloseIdleConnections()
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(3 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-exited:
			s.client.CloseIdleConnections()
			return nil, fmt.Errorf("%s exited before its API answered: %s", bin, s.logTail())
		default:
		}
		if s.ready() {
			break
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("%s: API at %s did not answer within 10s: %s", bin, s.API, s.logTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Cleanup(stop)
	return s, nil
}

func (s *Server) ready() bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.API+"/version", nil)
	resp, err := s.client.Do(req)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// logTail returns the end of the server's log, for error messages.
func (s *Server) logTail() string {
	b, _ := os.ReadFile(s.log)
	const max = 2000
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return strings.TrimSpace(string(b))
}

// findBinary looks for the server: $TOXIPROXY_SERVER, toxiproxy-server on
// PATH, then the "server" that go install leaves in GOBIN or GOPATH/bin
// (checked to be toxiproxy's, the name being generic).
func findBinary() (string, error) {
	if p := os.Getenv(EnvServer); p != "" {
		if err := executable(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", EnvServer, p, err)
		}
		return p, nil
	}
	if p, err := exec.LookPath("toxiproxy-server"); err == nil {
		return p, nil
	}
	var dirs []string
	if gobin := os.Getenv("GOBIN"); gobin != "" {
		dirs = append(dirs, gobin)
	}
	for _, gp := range goPaths() {
		dirs = append(dirs, filepath.Join(gp, "bin"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, "server")
		if executable(p) == nil && isToxiproxy(p) {
			return p, nil
		}
	}
	return "", errors.New("no toxiproxy-server on PATH, no toxiproxy \"server\" in GOBIN or GOPATH/bin")
}

// goPaths returns the GOPATH entries: go env's answer (which sees the go
// env file), else the environment's or the default.
func goPaths() []string {
	gp := build.Default.GOPATH
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil && len(bytes.TrimSpace(out)) > 0 {
		gp = string(bytes.TrimSpace(out))
	}
	return filepath.SplitList(gp)
}

func executable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return errors.New("not an executable file")
	}
	return nil
}

// isToxiproxy reports whether the binary says it is toxiproxy's server
// ("toxiproxy-server version ...").
func isToxiproxy(p string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, p, "-version").CombinedOutput()
	return err == nil && bytes.Contains(out, []byte("toxiproxy"))
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// apiError is a response of the API outside 2xx.
type apiError struct {
	method, path string
	status       int
	body         string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("toxiproxy: %s %s: %d %s", e.method, e.path, e.status, strings.TrimSpace(e.body))
}

// call sends a JSON request to the API and decodes a JSON answer into out
// (when not nil).
func (s *Server) call(method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.API+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("toxiproxy: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("toxiproxy: %s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &apiError{method, path, resp.StatusCode, string(data)}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("toxiproxy: %s %s: decoding %q: %w", method, path, data, err)
		}
	}
	return nil
}

// Proxy creates a proxy named name (letters, digits, '-', '_' and '.'),
// listening on a free loopback port and forwarding to upstream (host:port),
// and deletes it when the test ends. Create the upstream server first, so
// that its Close runs after the proxy's deletion has cut the connections
// through it.
func (s *Server) Proxy(t testing.TB, name, upstream string) *Proxy {
	t.Helper()
	if name == "" || strings.ContainsAny(name, "/?#% ") {
		t.Fatalf("toxiproxy: bad proxy name %q: use letters, digits, '-', '_' and '.'", name)
	}
	var out struct {
		Name     string `json:"name"`
		Listen   string `json:"listen"`
		Upstream string `json:"upstream"`
		Enabled  bool   `json:"enabled"`
	}
	in := map[string]any{"name": name, "listen": "127.0.0.1:0", "upstream": upstream, "enabled": true}
	if err := s.call(http.MethodPost, "/proxies", in, &out); err != nil {
		t.Fatal(err)
	}
	p := &Proxy{Name: out.Name, Listen: out.Listen, Upstream: out.Upstream, srv: s}
	t.Cleanup(func() {
		var ae *apiError
		if err := s.call(http.MethodDelete, p.path(), nil, nil); err != nil && !(errors.As(err, &ae) && ae.status == http.StatusNotFound) {
			t.Errorf("deleting proxy %s: %v", name, err)
		}
	})
	if !out.Enabled || out.Listen == "" || strings.HasSuffix(out.Listen, ":0") {
		t.Fatalf("toxiproxy: proxy %s created as %+v, want enabled on a real port", name, out)
	}
	return p
}

func (p *Proxy) path() string { return "/proxies/" + url.PathEscape(p.Name) }

// Toxic is a toxic as the API reports it.
type Toxic struct {
	Name       string         `json:"name"`
	Type       string         `json:"type"`
	Stream     string         `json:"stream"`
	Toxicity   float64        `json:"toxicity"`
	Attributes map[string]any `json:"attributes"`
}

// AddToxic adds a toxic of the given type ("latency", "bandwidth",
// "slow_close", "timeout", "reset_peer", "slicer", "limit_data") on stream
// ([Upstream] or [Downstream]), applied to each new connection with
// probability toxicity (1 for all; it is sent as given, so 0 means none),
// with the type's attributes (such as {"latency": 2000} in milliseconds).
// It returns the toxic's name, "<type>_<stream>", for [Proxy.RemoveToxic].
//
// A toxic acts on the connections that exist when it is added as well as
// on new ones; toxicity is drawn once per connection.
func (p *Proxy) AddToxic(t testing.TB, typ, stream string, toxicity float64, attributes map[string]any) string {
	t.Helper()
	if stream != Upstream && stream != Downstream {
		t.Fatalf("toxiproxy: stream %q: want %q or %q", stream, Upstream, Downstream)
	}
	if attributes == nil {
		attributes = map[string]any{}
	}
	name := typ + "_" + stream
	in := Toxic{Name: name, Type: typ, Stream: stream, Toxicity: toxicity, Attributes: attributes}
	var out Toxic
	if err := p.srv.call(http.MethodPost, p.path()+"/toxics", in, &out); err != nil {
		t.Fatal(err)
	}
	return out.Name
}

// RemoveToxic removes the named toxic.
func (p *Proxy) RemoveToxic(t testing.TB, name string) {
	t.Helper()
	if err := p.srv.call(http.MethodDelete, p.path()+"/toxics/"+url.PathEscape(name), nil, nil); err != nil {
		t.Fatal(err)
	}
}

// Toxics lists the proxy's toxics.
func (p *Proxy) Toxics(t testing.TB) []Toxic {
	t.Helper()
	var out []Toxic
	if err := p.srv.call(http.MethodGet, p.path()+"/toxics", nil, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// Disable turns the proxy off (toxiproxy's "down"): it stops listening, so
// new connections are refused, and the connections through it are closed.
func (p *Proxy) Disable(t testing.TB) {
	t.Helper()
	p.setEnabled(t, false)
}

// Enable turns the proxy back on, on the same address.
func (p *Proxy) Enable(t testing.TB) {
	t.Helper()
	p.setEnabled(t, true)
}

func (p *Proxy) setEnabled(t testing.TB, on bool) {
	t.Helper()
	if err := p.srv.call(http.MethodPost, p.path(), map[string]any{"enabled": on}, nil); err != nil {
		t.Fatal(err)
	}
}
