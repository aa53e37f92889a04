package courier_test

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/couriertest"
	"github.com/courierhttp/courier/internal/testenv"
)

// Every attempt is visible: its number, why it is retried, the wait chosen
// and the budget left. Hook sets compose in order.
func TestHooksSeeEveryAttempt(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		tr := &scripted{script: []func() (*http.Response, error){status(503), status(502), status(200)}}
		var log []string
		record := func(set string) courier.Hooks {
			return courier.Hooks{
				BeforeAttempt: func(i courier.AttemptInfo) { log = append(log, fmt.Sprintf("%s before %d", set, i.Attempt)) },
				AfterAttempt: func(i courier.AttemptInfo) {
					log = append(log, fmt.Sprintf("%s after %d %d budget=%d", set, i.Attempt, i.Response.StatusCode, i.BudgetLeft))
				},
				OnRetry: func(i courier.AttemptInfo) {
					log = append(log, fmt.Sprintf("%s retry %d reason=%d wait<=100ms:%v", set, i.Attempt, i.Response.StatusCode, i.Wait <= 100*time.Millisecond))
				},
			}
		}
		s := scriptedSession(t, tr, courier.WithHooks(record("a")), courier.WithHooks(record("b")))
		if _, err := s.Get(t.Context(), "/"); err != nil {
			t.Fatal(err)
		}
		want := []string{
			"a before 1", "b before 1",
			"a after 1 503 budget=495", "b after 1 503 budget=495",
			"a retry 1 reason=503 wait<=100ms:true", "b retry 1 reason=503 wait<=100ms:true",
			"a before 2", "b before 2",
			"a after 2 502 budget=490", "b after 2 502 budget=490",
			"a retry 2 reason=502 wait<=100ms:false", "b retry 2 reason=502 wait<=100ms:false",
			"a before 3", "b before 3",
			"a after 3 200 budget=490", "b after 3 200 budget=490",
		}
		// The second wait is drawn from [0, 200ms]: only its bound is known.
		for i := range log {
			log[i] = strings.Replace(log[i], "wait<=100ms:true", "wait<=100ms:?", 1)
			log[i] = strings.Replace(log[i], "wait<=100ms:false", "wait<=100ms:?", 1)
		}
		for i := range want {
			want[i] = strings.Replace(want[i], "wait<=100ms:true", "wait<=100ms:?", 1)
			want[i] = strings.Replace(want[i], "wait<=100ms:false", "wait<=100ms:?", 1)
		}
		if strings.Join(log, "\n") != strings.Join(want, "\n") {
			t.Errorf("hooks saw:\n%s\nwant:\n%s", strings.Join(log, "\n"), strings.Join(want, "\n"))
		}
	})
}

func TestHooksSayWhyRetryingStopped(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		tr := &scripted{script: []func() (*http.Response, error){status(503)}}
		var reasons []courier.Kind
		s := scriptedSession(t, tr,
			courier.WithRetry(courier.RetryPolicy{Backoff: couriertest.NoBackoff, Budget: courier.RetryBudget{Capacity: 5, RetryCost: 5}}),
			courier.WithHooks(courier.Hooks{AfterAttempt: func(i courier.AttemptInfo) { reasons = append(reasons, i.Stop) }}))
		s.Get(t.Context(), "/")
		want := []courier.Kind{0, courier.ErrRetryBudget}
		if !slices.Equal(reasons, want) {
			t.Errorf("AfterAttempt stops = %v, want %v", reasons, want)
		}
	})
}

func TestHooksEmptyIsAnError(t *testing.T) {
	t.Parallel()
	_, err := courier.New(courier.WithHooks(courier.Hooks{}))
	var oe *courier.OptionError
	if !errors.As(err, &oe) || oe.Option != "WithHooks" {
		t.Errorf("New(WithHooks(Hooks{})) = %v, want an *OptionError for WithHooks", err)
	}
}

func TestHooksOnRedirectAndOnError(t *testing.T) {
	t.Parallel()
	other := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	ts := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/away" {
			http.Redirect(w, r, other.URL+"/landed", http.StatusFound)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	var redirects []courier.RedirectInfo
	var errs []courier.AttemptInfo
	var reused []bool
	s := ts.Session(t, noRetry, courier.Header("Authorization", "Bearer x"),
		courier.WithHooks(courier.Hooks{
			OnRedirect:   func(i courier.RedirectInfo) { redirects = append(redirects, i) },
			OnError:      func(i courier.AttemptInfo) { errs = append(errs, i) },
			AfterAttempt: func(i courier.AttemptInfo) { reused = append(reused, i.Reused) },
		}))
	if _, err := s.Get(t.Context(), "/away"); err != nil {
		t.Fatal(err)
	}
	if len(redirects) != 1 || redirects[0].Hop != 1 || redirects[0].Response.StatusCode != 302 ||
		redirects[0].To.String() != other.URL+"/landed" || strings.Join(redirects[0].Stripped, ",") != "Authorization" {
		t.Errorf("OnRedirect saw %+v, want one 302 hop to the other server, Authorization stripped", redirects)
	}
	s.Get(t.Context(), "/")
	if len(reused) != 3 || reused[0] || !reused[2] {
		t.Errorf("AfterAttempt Reused = %v, want false first, true for the third (same server again)", reused)
	}
	dead := testenv.NewSession(t, courier.WithBaseURL("http://"+testenv.ClosedPort(t)), noRetry,
		courier.WithHooks(courier.Hooks{OnError: func(i courier.AttemptInfo) { errs = append(errs, i) }}))
	dead.Get(t.Context(), "/")
	if len(errs) != 1 || !errors.Is(errs[0].Kind, courier.ErrConnect) || errs[0].Attempt != 1 {
		t.Errorf("OnError saw %+v, want one ErrConnect after 1 attempt", errs)
	}
}
