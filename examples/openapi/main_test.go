package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/examples/openapi/itemsapi"
	"github.com/courierhttp/courier/paginate"
)

// TestMain fails the package's tests if any goroutine outlives them.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// noBackoff retries at once, so that tests of retries do not wait.
func noBackoff(courier.AttemptInfo) time.Duration { return 0 }

// setup starts an items API of n items on loopback, whose pages at the
// cursors in fails answer that many 503s first, and returns it with the
// session and the generated client that runs on the session's Client. Both
// are closed when the test ends; the session must have no body left open.
func setup(t *testing.T, n int, fails map[string]int) (*itemsAPI, *courier.Session, *itemsapi.ClientWithResponses) {
	t.Helper()
	api := newItemsAPI(n)
	for cursor, times := range fails {
		api.failTimes(cursor, times)
	}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	s, err := courier.New(
		courier.WithBaseURL(srv.URL),
		courier.WithRetry(courier.RetryPolicy{Backoff: noBackoff}),
	)
	if err != nil {
		t.Fatalf("courier.New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Errorf("Session.Close: %v", err)
		}
	})
	c, err := itemsapi.NewClientWithResponses(srv.URL, itemsapi.WithHTTPClient(s.Client()))
	if err != nil {
		t.Fatalf("itemsapi.NewClientWithResponses: %v", err)
	}
	return api, s, c
}

// ids are the ids 1 to n.
func ids(n int) []int {
	out := []int{}
	for id := 1; id <= n; id++ {
		out = append(out, id)
	}
	return out
}

// idRange are the ids from to to, both included.
func idRange(from, to int) []int {
	return ids(to)[from-1:]
}

// walk ranges over w.All() until its end, its first error or want items,
// and returns the ids of the items and the error.
func walk(w *paginate.Walker[itemsapi.Item], want int) ([]int, error) {
	got := []int{}
	for item, err := range w.All() {
		if err != nil {
			return got, err
		}
		got = append(got, item.Id)
		if len(got) == want {
			break
		}
	}
	return got, nil
}

// TestWalk checks that a walk with the generated client yields every item
// once, in order, whatever the page size, across 503s the session retries.
func TestWalk(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name         string
		n, limit     int
		fails        map[string]int
		wantPages    int64
		wantRequests int64
		wantRetries  int64
	}{
		{name: "pages of 20", n: 95, limit: 20, wantPages: 5, wantRequests: 5},
		{name: "503 on page 3, retried", n: 95, limit: 20, fails: map[string]int{"40": 1}, wantPages: 5, wantRequests: 6, wantRetries: 1},
		{name: "503 on the first page, retried", n: 95, limit: 20, fails: map[string]int{"": 1}, wantPages: 5, wantRequests: 6, wantRetries: 1},
		{name: "two 503s on the last page, retried", n: 95, limit: 20, fails: map[string]int{"80": 2}, wantPages: 5, wantRequests: 7, wantRetries: 2},
		{name: "503s on several pages", n: 95, limit: 20, fails: map[string]int{"20": 1, "60": 1}, wantPages: 5, wantRequests: 7, wantRetries: 2},
		{name: "one item a page", n: 95, limit: 1, wantPages: 95, wantRequests: 95},
		{name: "one page holds all", n: 95, limit: 100, wantPages: 1, wantRequests: 1},
		{name: "last page full", n: 40, limit: 20, wantPages: 2, wantRequests: 2},
		{name: "no items", n: 0, limit: 20, wantPages: 1, wantRequests: 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			api, s, c := setup(t, tt.n, tt.fails)

			got, err := walk(paginate.Walk(t.Context(), fetchItems(c, tt.limit)), -1)

			if err != nil {
				t.Fatalf("walk: %v", err)
			}
			if want := ids(tt.n); !slices.Equal(got, want) {
				t.Errorf("walk ids = %v, want %v", got, want)
			}
			if got := api.pages.Load(); got != tt.wantPages {
				t.Errorf("pages served = %d, want %d", got, tt.wantPages)
			}
			if got := api.listRequests.Load(); got != tt.wantRequests {
				t.Errorf("list requests = %d, want %d", got, tt.wantRequests)
			}
			if got := s.Stats().RetriesByStatus[http.StatusServiceUnavailable]; got != tt.wantRetries {
				t.Errorf("Stats().RetriesByStatus[503] = %d, want %d", got, tt.wantRetries)
			}
		})
	}
}

// TestWalkBreak checks that breaking out of the loop sends no further
// request, and where the checkpoint is left.
func TestWalkBreak(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name           string
		breakAfter     int
		wantRequests   int64
		wantCheckpoint string
	}{
		{name: "first item", breakAfter: 1, wantRequests: 1, wantCheckpoint: "20"},
		{name: "last item of page 1", breakAfter: 20, wantRequests: 1, wantCheckpoint: "20"},
		{name: "first item of page 2", breakAfter: 21, wantRequests: 2, wantCheckpoint: "40"},
		{name: "last item of the last page", breakAfter: 95, wantRequests: 5, wantCheckpoint: ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			api, _, c := setup(t, 95, nil)
			w := paginate.Walk(t.Context(), fetchItems(c, 20))

			got, err := walk(w, tt.breakAfter)

			if err != nil {
				t.Fatalf("walk: %v", err)
			}
			if want := ids(tt.breakAfter); !slices.Equal(got, want) {
				t.Errorf("walk ids = %v, want %v", got, want)
			}
			if got := api.listRequests.Load(); got != tt.wantRequests {
				t.Errorf("list requests after break = %d, want %d", got, tt.wantRequests)
			}
			if got := w.Checkpoint(); got != tt.wantCheckpoint {
				t.Errorf("Checkpoint() = %q, want %q", got, tt.wantCheckpoint)
			}
		})
	}
}

// TestWalkMaxPages checks that paginate.MaxPages stops a walk with ErrLimit
// after that many requests, and not when the last page comes first.
func TestWalkMaxPages(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name           string
		maxPages       int
		wantItems      int
		wantLimit      bool
		wantRequests   int64
		wantCheckpoint string
	}{
		{name: "stops before the end", maxPages: 2, wantItems: 40, wantLimit: true, wantRequests: 2, wantCheckpoint: "40"},
		{name: "one page", maxPages: 1, wantItems: 20, wantLimit: true, wantRequests: 1, wantCheckpoint: "20"},
		{name: "limit is the last page", maxPages: 5, wantItems: 95, wantRequests: 5},
		{name: "limit beyond the end", maxPages: 6, wantItems: 95, wantRequests: 5},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			api, _, c := setup(t, 95, nil)
			w := paginate.Walk(t.Context(), fetchItems(c, 20), paginate.MaxPages(tt.maxPages))

			got, err := walk(w, -1)

			if gotLimit := errors.Is(err, paginate.ErrLimit); gotLimit != tt.wantLimit {
				t.Errorf("walk error = %v, want ErrLimit: %t", err, tt.wantLimit)
			}
			if want := ids(tt.wantItems); !slices.Equal(got, want) {
				t.Errorf("walk ids = %v, want %v", got, want)
			}
			if got := api.listRequests.Load(); got != tt.wantRequests {
				t.Errorf("list requests = %d, want %d", got, tt.wantRequests)
			}
			if got := w.Checkpoint(); got != tt.wantCheckpoint {
				t.Errorf("Checkpoint() = %q, want %q", got, tt.wantCheckpoint)
			}
		})
	}
}

// TestWalkResume stops a walk at a page limit and resumes it from its
// checkpoint with a new walker, as a job that restarts would: together they
// yield every item once, and no page is fetched twice.
func TestWalkResume(t *testing.T) {
	t.Parallel()
	api, _, c := setup(t, 95, map[string]int{"60": 1})

	first := paginate.Walk(t.Context(), fetchItems(c, 20), paginate.MaxPages(2))
	got1, err := walk(first, -1)
	if !errors.Is(err, paginate.ErrLimit) {
		t.Fatalf("first walk error = %v, want ErrLimit", err)
	}
	checkpoint := first.Checkpoint()
	if checkpoint != "40" {
		t.Fatalf("first Checkpoint() = %q, want %q", checkpoint, "40")
	}

	second := paginate.Walk(t.Context(), fetchItems(c, 20), paginate.From(checkpoint))
	got2, err := walk(second, -1)
	if err != nil {
		t.Fatalf("second walk: %v", err)
	}

	if want := ids(40); !slices.Equal(got1, want) {
		t.Errorf("first walk ids = %v, want %v", got1, want)
	}
	if want := idRange(41, 95); !slices.Equal(got2, want) {
		t.Errorf("second walk ids = %v, want %v", got2, want)
	}
	if got := second.Checkpoint(); got != "" {
		t.Errorf("second Checkpoint() = %q, want \"\"", got)
	}
	// Two pages, then three with a 503 retried on the first of them.
	if got, want := api.listRequests.Load(), int64(6); got != want {
		t.Errorf("list requests = %d, want %d", got, want)
	}
	if got, want := api.pages.Load(), int64(5); got != want {
		t.Errorf("pages served = %d, want %d", got, want)
	}
}

// TestWalkErrors checks that the fetcher turns a status other than 200 into
// a *problemError that ends the walk, with the problem detail when the API
// sent one.
func TestWalkErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name         string
		limit        int
		fails        map[string]int
		wantItems    int
		wantStatus   int
		wantTitle    string // of the problem; "" when there is none
		wantRequests int64
	}{
		{name: "503 that retries do not cure", limit: 20, fails: map[string]int{"20": 10}, wantItems: 20, wantStatus: 503, wantRequests: 4},
		{name: "bad limit, a 400 problem", limit: 500, wantStatus: 400, wantTitle: "Bad Request", wantRequests: 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			api, _, c := setup(t, 95, tt.fails)

			got, err := walk(paginate.Walk(t.Context(), fetchItems(c, tt.limit)), -1)

			var pe *problemError
			if !errors.As(err, &pe) {
				t.Fatalf("walk error = %v, want a *problemError", err)
			}
			if pe.StatusCode != tt.wantStatus {
				t.Errorf("StatusCode = %d, want %d", pe.StatusCode, tt.wantStatus)
			}
			if got := problemTitle(pe.Problem); got != tt.wantTitle {
				t.Errorf("Problem.Title = %q, want %q", got, tt.wantTitle)
			}
			if want := ids(tt.wantItems); !slices.Equal(got, want) {
				t.Errorf("walk ids = %v, want %v", got, want)
			}
			if got := api.listRequests.Load(); got != tt.wantRequests {
				t.Errorf("list requests = %d, want %d", got, tt.wantRequests)
			}
		})
	}
}

// problemTitle returns p's title, or "" for nil.
func problemTitle(p *itemsapi.Problem) string {
	if p == nil {
		return ""
	}
	return p.Title
}

// problemText flattens p for comparison, or returns "" for nil.
func problemText(p *itemsapi.Problem) string {
	if p == nil {
		return ""
	}
	return strings.Join([]string{p.Type, p.Title, strconv.Itoa(p.Status), deref(p.Detail)}, "|")
}

// itemOf returns *it, or the zero Item for nil.
func itemOf(it *itemsapi.Item) itemsapi.Item {
	if it == nil {
		return itemsapi.Item{}
	}
	return *it
}

// TestGetItem checks that through the session's Client a 404 is a response,
// whose problem+json body the generated client decodes into its typed
// field.
func TestGetItem(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name            string
		id              int
		wantStatus      int
		wantContentType string
		wantItem        itemsapi.Item
		wantProblem     string // problemText of the 404 problem
	}{
		{name: "found", id: 42, wantStatus: 200, wantContentType: "application/json",
			wantItem: itemsapi.Item{Id: 42, Name: "item-042"}},
		{name: "missing", id: 999, wantStatus: 404, wantContentType: "application/problem+json",
			wantProblem: "about:blank|Not Found|404|no item has id 999"},
		{name: "id 0", id: 0, wantStatus: 404, wantContentType: "application/problem+json",
			wantProblem: "about:blank|Not Found|404|no item has id 0"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, s, c := setup(t, 95, nil)

			resp, err := c.GetItemWithResponse(t.Context(), tt.id)

			if err != nil {
				t.Fatalf("GetItemWithResponse(%d): %v", tt.id, err)
			}
			if got := resp.StatusCode(); got != tt.wantStatus {
				t.Errorf("GetItemWithResponse(%d).StatusCode() = %d, want %d", tt.id, got, tt.wantStatus)
			}
			if got := resp.ContentType(); got != tt.wantContentType {
				t.Errorf("GetItemWithResponse(%d).ContentType() = %q, want %q", tt.id, got, tt.wantContentType)
			}
			if got := itemOf(resp.JSON200); got != tt.wantItem {
				t.Errorf("GetItemWithResponse(%d).JSON200 = %+v, want %+v", tt.id, got, tt.wantItem)
			}
			if got := problemText(resp.ApplicationproblemJSON404); got != tt.wantProblem {
				t.Errorf("GetItemWithResponse(%d).ApplicationproblemJSON404 = %q, want %q", tt.id, got, tt.wantProblem)
			}
			// A 404 is the server's answer: the session does not retry it.
			if got := s.Stats().Attempts; got != 1 {
				t.Errorf("Stats().Attempts = %d, want 1", got)
			}
		})
	}
}

// TestRun runs the tour and checks what it prints.
func TestRun(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if err := run(t.Context(), &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"-> 95 items in 5 pages, item-001 to item-095",
		"6 list requests for 5 pages, Stats.RetriesByStatus[503] = 1",
		"-> 200 OK {Id:42 Name:item-042}",
		`-> 404 Not Found, application/problem+json: "Not Found" (no item has id 999)`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
