package github_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/couriertest"
	"github.com/courierhttp/courier/examples/github"
	"github.com/courierhttp/courier/paginate"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newClient returns a client over mock, with retries at once.
func newClient(t *testing.T, mock *couriertest.Mock) *github.Client {
	t.Helper()
	c, err := github.New("https://api.example.test", "t0ken",
		courier.WithTransport(mock), courier.WithRetry(courier.RetryPolicy{Backoff: couriertest.NoBackoff}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(t.Context()) })
	return c
}

// response is what a route's function answers.
func response(req *http.Request, status int, h http.Header, body []byte) *http.Response {
	if h == nil {
		h = http.Header{}
	}
	return &http.Response{StatusCode: status, Status: fmt.Sprintf("%d %s", status, http.StatusText(status)),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: h, Request: req,
		Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body))}
}

// reposPage answers page n of 3 of ada's repositories, 100 on each but the
// last, with GitHub's Link header.
func reposPage(n int) func(*http.Request) (*http.Response, error) {
	return func(req *http.Request) (*http.Response, error) {
		var repos []github.Repo
		for id := (n-1)*100 + 1; id <= min(n*100, 250); id++ {
			repos = append(repos, github.Repo{ID: int64(id), Name: fmt.Sprint("r", id)})
		}
		body, _ := json.Marshal(repos)
		h := http.Header{"Content-Type": {"application/json"}}
		if n < 3 {
			h.Set("Link", fmt.Sprintf(`<https://api.example.test/user/9/repos?per_page=100&page=%d>; rel="next", `+
				`<https://api.example.test/user/9/repos?per_page=100&page=3>; rel="last"`, n+1))
		}
		return response(req, http.StatusOK, h, body), nil
	}
}

// Every repository once, in order, across a 503 on page 2 that is retried.
func TestRepos(t *testing.T) {
	t.Parallel()
	mock := couriertest.NewMock(t)
	mock.On("GET", "/users/ada/repos").Query("per_page", "100").RespondFunc(reposPage(1)).Once()
	page2 := mock.On("GET", "/user/9/repos").Query("page", "2").
		Respond(503, "try later", "Retry-After", "0").RespondFunc(reposPage(2))
	page3 := mock.On("GET", "/user/9/repos").Query("page", "3").RespondFunc(reposPage(3)).Once()
	c := newClient(t, mock)

	var ids []int64
	for r, err := range c.Repos(t.Context(), "ada") {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	want := make([]int64, 250)
	for i := range want {
		want[i] = int64(i + 1)
	}
	if !slices.Equal(ids, want) {
		t.Errorf("got %d repositories (first %v), want 1..250 once each", len(ids), ids[:min(len(ids), 3)])
	}
	if page2.Calls() != 2 || page3.Calls() != 1 {
		t.Errorf("page 2 served %d times, page 3 %d; want 2 (one retry) and 1", page2.Calls(), page3.Calls())
	}
}

// Breaking out after the first repository sends no further request.
func TestReposBreak(t *testing.T) {
	t.Parallel()
	mock := couriertest.NewMock(t)
	first := mock.On("GET", "/users/ada/repos").RespondFunc(reposPage(1))
	c := newClient(t, mock)
	for _, err := range c.Repos(t.Context(), "ada") {
		if err != nil {
			t.Fatal(err)
		}
		break
	}
	if first.Calls() != 1 {
		t.Errorf("first page served %d times, want 1", first.Calls())
	}
	// Any request for page 2 would have failed the test: it has no route.
}

func TestReposLimit(t *testing.T) {
	t.Parallel()
	mock := couriertest.NewMock(t)
	mock.On("GET", "/users/ada/repos").RespondFunc(reposPage(1)).Once()
	c := newClient(t, mock)
	n := 0
	var last error
	for _, err := range c.Repos(t.Context(), "ada", paginate.MaxPages(1)) {
		if err != nil {
			last = err
			break
		}
		n++
	}
	if n != 100 || !errors.Is(last, paginate.ErrLimit) {
		t.Errorf("%d repositories then %v; want 100 then ErrLimit", n, last)
	}
}

func TestRepoAndErrors(t *testing.T) {
	t.Parallel()
	mock := couriertest.NewMock(t)
	mock.On("GET", "/repos/ada/engine").Header("Authorization", "Bearer t0ken").
		RespondJSON(200, github.Repo{ID: 1, Name: "engine", FullName: "ada/engine"})
	mock.On("GET", "/repos/ada/missing").
		Respond(404, `{"message":"Not Found","documentation_url":"https://docs.example/rest"}`, "Content-Type", "application/json; charset=utf-8")
	mock.On("GET", "/repos/ada/gone").Respond(502, "<html>bad gateway</html>", "Content-Type", "text/html").Times(3)
	c := newClient(t, mock)
	ctx := t.Context()

	r, err := c.Repo(ctx, "ada", "engine")
	if err != nil || r.FullName != "ada/engine" {
		t.Errorf("Repo = %+v, %v; want ada/engine", r, err)
	}

	_, err = c.Repo(ctx, "ada", "missing")
	var ge *github.Error
	var se *courier.StatusError
	if !errors.As(err, &ge) || ge.Message != "Not Found" || ge.DocumentationURL == "" {
		t.Errorf("errors.As(*github.Error) = %+v from %v, want Not Found", ge, err)
	}
	if !errors.As(err, &se) || se.StatusCode != 404 {
		t.Errorf("errors.As(*StatusError) from %v, want a 404", err)
	}

	_, err = c.Repo(ctx, "ada", "gone")
	if errors.As(err, &ge) || !errors.As(err, &se) || se.StatusCode != 502 || se.DecodeErr == nil || se.Attempts != 3 {
		t.Errorf("an HTML 502: err %v; want a *StatusError after 3 attempts, no *github.Error, DecodeErr set", err)
	}
}

// A create that meets a 502 is retried with the same Idempotency-Key; a
// validation error comes back as *github.Error with its fields.
func TestCreateRepo(t *testing.T) {
	t.Parallel()
	mock := couriertest.NewMock(t)
	var mu sync.Mutex
	var keys []string
	created := mock.On("POST", "/user/repos").JSONBody(github.NewRepo{Name: "new"}).RespondFunc(func(req *http.Request) (*http.Response, error) {
		mu.Lock()
		defer mu.Unlock()
		keys = append(keys, req.Header.Get("Idempotency-Key"))
		if len(keys) == 1 {
			return response(req, http.StatusBadGateway, nil, nil), nil
		}
		return response(req, http.StatusCreated, http.Header{"Content-Type": {"application/json"}},
			[]byte(`{"id":42,"name":"new","full_name":"ada/new"}`)), nil
	})
	mock.On("POST", "/user/repos").JSONBody(github.NewRepo{Name: "engine"}).
		Respond(422, `{"message":"Repository creation failed.","errors":[{"resource":"Repository","code":"custom","field":"name"}]}`,
			"Content-Type", "application/json")
	c := newClient(t, mock)

	r, err := c.CreateRepo(t.Context(), github.NewRepo{Name: "new"})
	if err != nil || r.ID != 42 {
		t.Fatalf("CreateRepo = %+v, %v; want id 42", r, err)
	}
	if created.Calls() != 2 || len(keys) != 2 || keys[0] == "" || keys[0] != keys[1] {
		t.Errorf("Idempotency-Key of the %d attempts = %q, want one key, the same on both", created.Calls(), keys)
	}

	_, err = c.CreateRepo(t.Context(), github.NewRepo{Name: "engine"})
	var ge *github.Error
	if !errors.As(err, &ge) || len(ge.Errors) != 1 || ge.Errors[0].Field != "name" {
		t.Fatalf("errors.As(*github.Error) = %+v from %v, want the field error on name", ge, err)
	}
	if want := "github: Repository creation failed.: Repository.name custom"; ge.Error() != want {
		t.Errorf("Error() = %q, want %q", ge.Error(), want)
	}
}

// When GitHub says no requests are left, the next one waits for the reset:
// the server sees nothing before it, and no 403 or 429 is provoked.
func TestRateLimitPacing(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		mock := couriertest.NewMock(t)
		reset := time.Now().Add(5 * time.Second).Truncate(time.Second).Add(time.Second)
		var seen []time.Time
		mock.On("GET", "/repos/ada/engine").RespondFunc(func(req *http.Request) (*http.Response, error) {
			seen = append(seen, time.Now())
			h := http.Header{"Content-Type": {"application/json"},
				"X-Ratelimit-Limit": {"60"}, "X-Ratelimit-Remaining": {strconv.Itoa(2 - len(seen))},
				"X-Ratelimit-Reset": {strconv.FormatInt(reset.Unix(), 10)}}
			return response(req, http.StatusOK, h, []byte(`{"id":1}`)), nil
		})
		c := newClient(t, mock)
		for range 3 {
			if _, err := c.Repo(t.Context(), "ada", "engine"); err != nil {
				t.Fatal(err)
			}
		}
		if len(seen) != 3 || seen[1].After(reset) || seen[2].Before(reset) {
			t.Errorf("requests at %v, reset at %v; want the third after the reset and the second before", seen, reset)
		}
		if got := c.Stats().Paced; got != 1 {
			t.Errorf("Stats().Paced = %d, want 1", got)
		}
	})
}
