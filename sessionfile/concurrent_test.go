package sessionfile_test

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/courierhttp/courier/cookiejar"
	"github.com/courierhttp/courier/sessionfile"
)

// Writers in this process (goroutines, each with its own File) and in
// other processes (this test binary, run again as a writer) save to one
// path at once, each round loading the file, adding a cookie and setting a
// header of its own: no writer loses another's.
func TestConcurrentWriters(t *testing.T) {
	t.Parallel()
	const rounds = 8
	path := filepath.Join(t.TempDir(), "shared", "s.json")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}

	var procs []*exec.Cmd
	for i := range 3 {
		id := fmt.Sprintf("proc%d", i)
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s|%s|%d", writerEnv, path, id, rounds))
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if t.Failed() && out.Len() > 0 {
				t.Logf("writer %s said: %s", id, out.String())
			}
		})
		procs = append(procs, cmd)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4*rounds)
	for i := range 4 {
		wg.Go(func() {
			for r := range rounds {
				if err := writeRound(path, fmt.Sprintf("g%d", i), r); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("goroutine writer: %v", err)
	}
	for i, cmd := range procs {
		if err := cmd.Wait(); err != nil {
			t.Errorf("writer process %d: %v", i, err)
		}
	}

	f := mustLoad(t, path)
	var want []string
	for _, id := range []string{"g0", "g1", "g2", "g3", "proc0", "proc1", "proc2"} {
		for r := range rounds {
			want = append(want, fmt.Sprintf("%s-%d", id, r))
		}
		if got := f.Header.Get("X-Writer-" + id); got != strconv.Itoa(rounds-1) {
			t.Errorf("X-Writer-%s = %q, want %d (its last round)", id, got, rounds-1)
		}
	}
	slices.Sort(want)
	if got := cookieNames(f); !slices.Equal(got, want) {
		t.Errorf("after concurrent writers, cookies:\n got %v\nwant %v", got, want)
	}
}

func setCookie(t *testing.T, f *sessionfile.File, name, value string) {
	t.Helper()
	if err := f.Jar.Set(cookiejar.Cookie{Name: name, Value: value, Domain: "example.com", Path: "/"}); err != nil {
		t.Fatal(err)
	}
}

// valuesOf returns "name=value" for each cookie of f, sorted.
func valuesOf(f *sessionfile.File) []string {
	var out []string
	for _, c := range f.Jar.All() {
		out = append(out, c.Name+"="+c.Value)
	}
	slices.Sort(out)
	return out
}

// The three-way merge, one rule at a time, with two writers that loaded
// the same file.
func TestMergeRules(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "s.json")
	start := sessionfile.New(path)
	for _, n := range []string{"a", "b", "c", "keep"} {
		setCookie(t, start, n, "0")
	}
	start.Header = http.Header{"X-One": {"0"}, "X-Two": {"0"}, "X-Keep": {"0"}}
	start.Auth = &sessionfile.Auth{Type: sessionfile.AuthBasic, Username: "u", Password: "p"}
	mustSave(t, start)

	w1, w2 := mustLoad(t, path), mustLoad(t, path)
	// w1 changes a, deletes b, adds d, changes X-One and removes X-Keep.
	setCookie(t, w1, "a", "1")
	w1.Jar.Delete("b", "example.com", "/")
	setCookie(t, w1, "d", "1")
	w1.Header.Set("X-One", "1")
	w1.Header.Del("X-Keep")
	// w2 changes c, adds e, changes X-Two and the auth; it also sets a
	// itself: w1 saves last, so w1's a wins.
	setCookie(t, w2, "c", "2")
	setCookie(t, w2, "e", "2")
	setCookie(t, w2, "a", "2")
	w2.Header.Set("X-Two", "2")
	w2.Auth = &sessionfile.Auth{Type: sessionfile.AuthBearer, Token: "t2"}
	mustSave(t, w2)
	mustSave(t, w1)

	got := mustLoad(t, path)
	if got, want := valuesOf(got), []string{"a=1", "c=2", "d=1", "e=2", "keep=0"}; !slices.Equal(got, want) {
		t.Errorf("merged cookies = %v, want %v", got, want)
	}
	wantHeader := http.Header{"X-One": {"1"}, "X-Two": {"2"}}
	if fmt.Sprint(got.Header) != fmt.Sprint(wantHeader) {
		t.Errorf("merged Header = %v, want %v", got.Header, wantHeader)
	}
	if want := (sessionfile.Auth{Type: sessionfile.AuthBearer, Token: "t2"}); got.Auth == nil || *got.Auth != want {
		t.Errorf("merged Auth = %v, want w2's", got.Auth)
	}

	// Saving again without a change takes nothing away: w1's base is now
	// what it saved, so w2's cookies and header are not w1's deletions.
	mustSave(t, w1)
	mustSave(t, w2)
	if g := mustLoad(t, path); !slices.Equal(valuesOf(g), valuesOf(got)) || fmt.Sprint(g.Header) != fmt.Sprint(got.Header) {
		t.Errorf("after saves without changes: cookies %v, Header %v; want %v, %v", valuesOf(g), g.Header, valuesOf(got), got.Header)
	}

	// A New File saved over an existing one adds to it.
	n := sessionfile.New(path)
	setCookie(t, n, "new", "1")
	mustSave(t, n)
	if g := mustLoad(t, path); !slices.Contains(valuesOf(g), "new=1") || !slices.Contains(valuesOf(g), "keep=0") || g.Auth == nil {
		t.Errorf("after New+Save: cookies %v, Auth %v; want new=1 added to the rest", valuesOf(g), g.Auth)
	}
}

// A cookie that expires in one writer's jar is not a deletion: another
// writer that renewed it keeps its renewal.
func TestMergeExpiryIsNotDeletion(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "s.json")
	now := time.Now()
	start := sessionfile.New(path)
	short := cookiejar.Cookie{Name: "sid", Value: "old", Domain: "example.com", Path: "/", Expires: now.Add(time.Hour)}
	if err := start.Jar.Set(short); err != nil {
		t.Fatal(err)
	}
	mustSave(t, start)

	w1, w2 := mustLoad(t, path), mustLoad(t, path)
	// Two hours on for w1: its sid has expired.
	later := func() time.Time { return now.Add(2 * time.Hour) }
	old := w1.Jar.All()
	w1.Jar = cookiejar.New(cookiejar.Options{Now: later})
	if err := w1.Jar.Load(old); err != nil {
		t.Fatal(err)
	}
	sessionfile.SetClock(w1, later)
	if len(w1.Jar.All()) != 0 {
		t.Fatalf("w1's jar still holds %v", w1.Jar.All())
	}
	// w2 renewed it meanwhile.
	renewed := short
	renewed.Value, renewed.Expires = "new", now.Add(24*time.Hour)
	if err := w2.Jar.Set(renewed); err != nil {
		t.Fatal(err)
	}
	mustSave(t, w2)
	mustSave(t, w1)
	if got, want := valuesOf(mustLoad(t, path)), []string{"sid=new"}; !slices.Equal(got, want) {
		t.Errorf("after w1 saved with sid expired: cookies %v, want %v (w2's renewal)", got, want)
	}
}
