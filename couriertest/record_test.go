package couriertest_test

import (
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/couriertest"
	"github.com/courierhttp/courier/internal/testenv"
)

const canary = "CANARY-5d1e"

// fakeTB records what the kit reports, for the tests of its failures.
type fakeTB struct {
	mu       sync.Mutex
	errs     []string
	cleanups []func()
}

func (f *fakeTB) Helper()                        {}
func (f *fakeTB) Cleanup(fn func())              { f.cleanups = append(f.cleanups, fn) }
func (f *fakeTB) Logf(string, ...any)            {}
func (f *fakeTB) Errorf(format string, a ...any) { f.add(format, a...) }
func (f *fakeTB) Fatalf(format string, a ...any) { f.add(format, a...) }
func (f *fakeTB) add(format string, a ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs = append(f.errs, fmt.Sprintf(format, a...))
}
func (f *fakeTB) finish() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
}

// api answers /users/{n} with gzip-compressed JSON holding a token, and a
// Set-Cookie.
func api(t *testing.T) *testenv.Server {
	return testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Set("Set-Cookie", "sid="+canary)
		gz := gzip.NewWriter(w)
		fmt.Fprintf(gz, `{"path":%q,"echo":%q,"access_token":%q}`, r.URL.Path, body, canary)
		gz.Close()
	}))
}

func session(t *testing.T, base string, rt http.RoundTripper) *courier.Session {
	return testenv.NewSession(t, courier.WithBaseURL(base), courier.WithTransport(rt),
		courier.Header("Authorization", "Bearer "+canary))
}

func TestRecordThenReplayOffline(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "testdata", "users.json")
	srv := api(t)
	var recorded string
	t.Run("record", func(t *testing.T) {
		rec := couriertest.NewRecorder(t, path, couriertest.ModeRecord)
		s := session(t, srv.URL, rec)
		resp, err := s.Get(t.Context(), "/users/1", courier.Query("api_key", canary))
		if err != nil {
			t.Fatal(err)
		}
		recorded = string(resp.Bytes())
		if !strings.Contains(recorded, canary) {
			t.Errorf("while recording, the caller got %q, want the real body", recorded)
		}
	})
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("cassette not written: %v", err)
	}
	if strings.Contains(string(data), canary) {
		t.Errorf("cassette holds a secret:\n%s", data)
	}
	if !strings.Contains(string(data), `\"path\":\"/users/1\"`) && !strings.Contains(string(data), `"path\":\"/users/1`) {
		t.Errorf("cassette does not hold the decoded body as text:\n%s", data)
	}
	srv.Close() // replay must not need it
	t.Run("replay", func(t *testing.T) {
		rec := couriertest.NewRecorder(t, path, couriertest.ModeReplay)
		s := session(t, srv.URL, rec)
		resp, err := s.Get(t.Context(), "/users/1", courier.Query("api_key", "another-"+canary))
		if err != nil {
			t.Fatalf("replay: %v", err)
		}
		if !strings.Contains(string(resp.Bytes()), `"path":"/users/1"`) || !strings.Contains(string(resp.Bytes()), `"access_token":"REDACTED"`) {
			t.Errorf("replayed body = %q, want the recorded one, its token redacted", string(resp.Bytes()))
		}
	})
}

func TestReplayWithoutMatchFails(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "empty.json")
	os.WriteFile(path, []byte(`{"version":1,"interactions":[]}`), 0o644)
	ft := &fakeTB{}
	rec := couriertest.NewRecorder(ft, path, couriertest.ModeReplay)
	s := session(t, "http://api.test", rec)
	_, err := s.Get(t.Context(), "/nothing")
	ft.finish()
	if err == nil || len(ft.errs) != 1 || !strings.Contains(ft.errs[0], "no recorded response for GET http://api.test/nothing") {
		t.Errorf("Get = %v, reported %q; want an error naming the request", err, ft.errs)
	}
}

func TestBadCassetteFails(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, content := range map[string]string{"torn.json": `{"version":1,"inter`, "future.json": `{"version":9}`} {
		os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644)
		ft := &fakeTB{}
		couriertest.NewRecorder(ft, filepath.Join(dir, name), couriertest.ModeReplay)
		if len(ft.errs) != 1 {
			t.Errorf("%s: reported %q, want one error", name, ft.errs)
		}
	}
	ft := &fakeTB{}
	couriertest.NewRecorder(ft, filepath.Join(dir, "missing.json"), couriertest.ModeReplay)
	if len(ft.errs) != 1 {
		t.Errorf("missing cassette in replay: reported %q, want one error", ft.errs)
	}
}

func TestRecordMissingAndPassthrough(t *testing.T) {
	t.Parallel()
	srv := api(t)
	path := filepath.Join(t.TempDir(), "c.json")
	t.Run("first", func(t *testing.T) {
		s := session(t, srv.URL, couriertest.NewRecorder(t, path, couriertest.ModeRecordMissing))
		s.Get(t.Context(), "/users/1")
	})
	t.Run("second adds only what is missing", func(t *testing.T) {
		rec := couriertest.NewRecorder(t, path, couriertest.ModeRecordMissing)
		s := session(t, srv.URL, rec)
		s.Get(t.Context(), "/users/1")
		s.Get(t.Context(), "/users/2")
		if n := len(rec.Interactions()); n != 2 {
			t.Errorf("%d interactions, want 2 (one replayed, one recorded)", n)
		}
	})
	before, _ := os.ReadFile(path)
	t.Run("passthrough writes nothing", func(t *testing.T) {
		s := session(t, srv.URL, couriertest.NewRecorder(t, path, couriertest.ModePassthrough))
		if _, err := s.Get(t.Context(), "/users/3"); err != nil {
			t.Fatal(err)
		}
	})
	after, _ := os.ReadFile(path)
	if string(before) != string(after) {
		t.Errorf("passthrough changed the cassette")
	}
}

// With MatchBody, requests that differ only by body get their own answers;
// a request asked more often than recorded gets the last answer again.
func TestReplayMatchingAndRepeats(t *testing.T) {
	t.Parallel()
	srv := api(t)
	path := filepath.Join(t.TempDir(), "c.json")
	t.Run("record", func(t *testing.T) {
		s := session(t, srv.URL, couriertest.NewRecorder(t, path, couriertest.ModeRecord, couriertest.WithMatch(couriertest.MatchBody)))
		s.Post(t.Context(), "/orders", courier.JSON(map[string]int{"qty": 1}))
		s.Post(t.Context(), "/orders", courier.JSON(map[string]int{"qty": 2}))
	})
	srv.Close() // replay is offline
	s := session(t, srv.URL, couriertest.NewRecorder(t, path, couriertest.ModeReplay, couriertest.WithMatch(couriertest.MatchBody)))
	for _, qty := range []int{2, 1, 1} {
		resp, err := s.Post(t.Context(), "/orders", courier.JSON(map[string]int{"qty": qty}))
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf(`qty\":%d`, qty); !strings.Contains(string(resp.Bytes()), want) {
			t.Errorf("replay for qty %d = %s", qty, string(resp.Bytes()))
		}
	}
}
