package paginate_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/couriertest"
	"github.com/courierhttp/courier/internal/testenv"
	"github.com/courierhttp/courier/paginate"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type item struct{ ID int }

// listAPI serves items 1..total, size per page, as a JSON array with a Link
// rel="next" per style: "relative", "absolute", or a header with several
// links and rels. fail, if set, answers page n with a status first.
type listAPI struct {
	total, size int
	style       string
	fail        func(page int) int // status to answer instead, or 0
	pages       atomic.Int32
}

func (a *listAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.pages.Add(1)
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	if page == 0 {
		page = 1
	}
	if a.fail != nil {
		if code := a.fail(page); code != 0 {
			w.WriteHeader(code)
			return
		}
	}
	var items []item
	for id := (page-1)*a.size + 1; id <= min(page*a.size, a.total); id++ {
		items = append(items, item{id})
	}
	if page*a.size < a.total {
		next := fmt.Sprintf("/items?page=%d", page+1)
		switch a.style {
		case "absolute":
			next = "http://" + r.Host + next
		case "loop":
			next = "/items?page=2"
		}
		w.Header().Set("Link", fmt.Sprintf(`<https://docs.example/x>; rel="help", <%s>; rel="next last"; title="p", </items?page=1>; rel=first`, next))
	}
	w.Header().Set("Content-Type", "application/json")
	if items == nil {
		items = []item{}
	}
	json.NewEncoder(w).Encode(items)
}

func collect(t *testing.T, w *paginate.Walker[item]) ([]int, error) {
	t.Helper()
	var ids []int
	for it, err := range w.All() {
		if err != nil {
			return ids, err
		}
		ids = append(ids, it.ID)
	}
	return ids, nil
}

func wantIDs(n int) []int {
	ids := make([]int, n)
	for i := range ids {
		ids[i] = i + 1
	}
	return ids
}

func TestLinks(t *testing.T) {
	t.Parallel()
	for _, style := range []string{"relative", "absolute"} {
		t.Run(style, func(t *testing.T) {
			t.Parallel()
			api := &listAPI{total: 25, size: 10, style: style}
			ts := testenv.NewServer(t, testenv.HTTP1, api)
			s := ts.Session(t, courier.WithBaseURL(ts.URL))
			ids, err := collect(t, paginate.Walk(t.Context(), paginate.Links[item](s, "/items")))
			if err != nil || !slices.Equal(ids, wantIDs(25)) {
				t.Errorf("walk = %v, %v; want items 1 to 25", ids, err)
			}
			if n := api.pages.Load(); n != 3 {
				t.Errorf("server served %d pages, want 3", n)
			}
		})
	}
}

// A next link seen before ends the walk with ErrLoop, not a loop forever.
func TestLinksLoop(t *testing.T) {
	t.Parallel()
	api := &listAPI{total: 100, size: 10, style: "loop"}
	ts := testenv.NewServer(t, testenv.HTTP1, api)
	s := ts.Session(t, courier.WithBaseURL(ts.URL))
	ids, err := collect(t, paginate.Walk(t.Context(), paginate.Links[item](s, "/items")))
	if !errors.Is(err, paginate.ErrLoop) || len(ids) != 20 {
		t.Errorf("walk = %d items, %v; want 20 items then ErrLoop", len(ids), err)
	}
}

// A 503 on page 3 is retried by the session: no item lost or repeated. A
// 404 on page 3 is the walk's error, after the items before it.
func TestLinksFailureMidway(t *testing.T) {
	t.Parallel()
	var failed atomic.Bool
	api := &listAPI{total: 50, size: 10, fail: func(page int) int {
		if page == 3 && failed.CompareAndSwap(false, true) {
			return http.StatusServiceUnavailable
		}
		return 0
	}}
	ts := testenv.NewServer(t, testenv.HTTP1, api)
	s := ts.Session(t, courier.WithBaseURL(ts.URL), courier.WithRetry(courier.RetryPolicy{Backoff: couriertest.NoBackoff}))
	ids, err := collect(t, paginate.Walk(t.Context(), paginate.Links[item](s, "/items")))
	if err != nil || !slices.Equal(ids, wantIDs(50)) {
		t.Errorf("walk through a retried 503 = %v, %v; want items 1 to 50 once each", ids, err)
	}

	gone := &listAPI{total: 50, size: 10, fail: func(page int) int {
		if page == 3 {
			return http.StatusNotFound
		}
		return 0
	}}
	ts = testenv.NewServer(t, testenv.HTTP1, gone)
	s = ts.Session(t, courier.WithBaseURL(ts.URL))
	w := paginate.Walk(t.Context(), paginate.Links[item](s, "/items"))
	ids, err = collect(t, w)
	var se *courier.StatusError
	if !errors.As(err, &se) || se.StatusCode != 404 || !slices.Equal(ids, wantIDs(20)) {
		t.Errorf("walk into a 404 = %d items, %v; want 20 items then the 404", len(ids), err)
	}
	if cp := w.Checkpoint(); cp == "" {
		t.Errorf("Checkpoint after a failed page = %q, want the failed page's URL to resume", cp)
	}
}

// Breaking out of the loop stops the walk: the server sees no further
// request, and the session has nothing left in flight.
func TestEarlyBreak(t *testing.T) {
	t.Parallel()
	api := &listAPI{total: 100, size: 10}
	ts := testenv.NewServer(t, testenv.HTTP1, api)
	s := ts.Session(t, courier.WithBaseURL(ts.URL))
	n := 0
	for _, err := range paginate.Walk(t.Context(), paginate.Links[item](s, "/items")).All() {
		if err != nil {
			t.Fatal(err)
		}
		if n++; n == 5 {
			break
		}
	}
	if got := api.pages.Load(); got != 1 {
		t.Errorf("server served %d pages after a break on page 1, want 1", got)
	}
	if st := s.Stats(); st.InFlight != 0 {
		t.Errorf("%d requests still in flight after the break", st.InFlight)
	}
}

// The caller's context bounds every page.
func TestContextCanceledMidway(t *testing.T) {
	t.Parallel()
	api := &listAPI{total: 100, size: 10}
	ts := testenv.NewServer(t, testenv.HTTP1, api)
	s := ts.Session(t, courier.WithBaseURL(ts.URL))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	n := 0
	var err error
	for _, e := range paginate.Walk(ctx, paginate.Links[item](s, "/items")).All() {
		if e != nil {
			err = e
			break
		}
		if n++; n == 15 {
			cancel()
		}
	}
	if !errors.Is(err, context.Canceled) || n != 20 {
		t.Errorf("walk canceled on item 15 = %d items, %v; want the page's 20 then context.Canceled", n, err)
	}
	if got := api.pages.Load(); got != 2 {
		t.Errorf("server served %d pages, want 2: none after the cancel", got)
	}
}

// A next link to another origin is not followed.
func TestLinksToAnotherOrigin(t *testing.T) {
	t.Parallel()
	other := testenv.NewServer(t, testenv.HTTP1, &listAPI{total: 10, size: 10})
	ts := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "<"+other.URL+"/items>; rel=next")
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `[{"ID":1}]`)
	}))
	s := ts.Session(t, courier.WithBaseURL(ts.URL))
	_, err := collect(t, paginate.Walk(t.Context(), paginate.Links[item](s, "/items")))
	if !errors.Is(err, paginate.ErrOtherOrigin) || other.Requests.Load() != 0 {
		t.Errorf("walk = %v, other origin got %d requests; want ErrOtherOrigin and none", err, other.Requests.Load())
	}
}

// AllowOrigins lets a walk follow a next link to a listed origin, where
// the session's credentials do not go.
func TestLinksToAnAllowedOrigin(t *testing.T) {
	t.Parallel()
	var otherAuth atomic.Int32
	other := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			otherAuth.Add(1)
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `[{"ID":2},{"ID":3}]`)
	}))
	var homeAuth atomic.Int32
	ts := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "Bearer s3cret" {
			homeAuth.Add(1)
		}
		w.Header().Set("Link", "<"+other.URL+"/more>; rel=next")
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `[{"ID":1}]`)
	}))
	s := ts.Session(t, courier.WithBaseURL(ts.URL), courier.Header("Authorization", "Bearer s3cret"))
	got, err := collect(t, paginate.Walk(t.Context(), paginate.Links[item](s, "/items"), paginate.AllowOrigins(other.URL)))
	if err != nil || !slices.Equal(got, []int{1, 2, 3}) {
		t.Fatalf("walk = %v, %v; want [1 2 3], nil", got, err)
	}
	if homeAuth.Load() != 1 || otherAuth.Load() != 0 {
		t.Errorf("Authorization sent to the first origin %d times, to the other %d; want 1 and 0", homeAuth.Load(), otherAuth.Load())
	}
	for _, bad := range []string{"example.com", "ftp://example.com", "https://user@example.com", "https://example.com/path", "https://example.com?q=1", "::"} {
		_, err := collect(t, paginate.Walk(t.Context(), paginate.Links[item](s, "/items"), paginate.AllowOrigins(bad)))
		if err == nil || !strings.Contains(err.Error(), "is not an origin") {
			t.Errorf("AllowOrigins(%q): walk = %v, want an error naming it", bad, err)
		}
	}
}

// Limits stop a walk with ErrLimit; a checkpoint resumes it where it
// stopped.
func TestLimitsAndResume(t *testing.T) {
	t.Parallel()
	api := &listAPI{total: 45, size: 10}
	ts := testenv.NewServer(t, testenv.HTTP1, api)
	s := ts.Session(t, courier.WithBaseURL(ts.URL))
	w := paginate.Walk(t.Context(), paginate.Links[item](s, "/items"), paginate.MaxPages(2))
	ids, err := collect(t, w)
	if !errors.Is(err, paginate.ErrLimit) || !slices.Equal(ids, wantIDs(20)) {
		t.Fatalf("walk with MaxPages(2) = %v, %v; want 20 items then ErrLimit", ids, err)
	}
	rest, err := collect(t, paginate.Walk(t.Context(), paginate.Links[item](s, "/items"), paginate.From(w.Checkpoint())))
	if err != nil || !slices.Equal(append(ids, rest...), wantIDs(45)) {
		t.Errorf("resumed from %q = %v, %v; want items 21 to 45", w.Checkpoint(), rest, err)
	}
	ids, err = collect(t, paginate.Walk(t.Context(), paginate.Links[item](s, "/items"), paginate.MaxItems(15)))
	if !errors.Is(err, paginate.ErrLimit) || len(ids) != 15 {
		t.Errorf("walk with MaxItems(15) = %d items, %v; want 15 then ErrLimit", len(ids), err)
	}
	if _, err := collect(t, paginate.Walk(t.Context(), paginate.Links[item](s, "/items"), paginate.MaxPages(-1))); err == nil {
		t.Errorf("MaxPages(-1) = no error")
	}
}

// Cursor in the body, as Stripe pages: has_more and starting_after the last
// id.
func TestCursor(t *testing.T) {
	t.Parallel()
	type list struct {
		Data    []item `json:"data"`
		HasMore bool   `json:"has_more"`
	}
	ts := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		after, _ := strconv.Atoi(r.URL.Query().Get("starting_after"))
		var l list
		for id := after + 1; id <= min(after+7, 30); id++ {
			l.Data = append(l.Data, item{id})
		}
		l.HasMore = after+7 < 30
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(l)
	}))
	s := ts.Session(t, courier.WithBaseURL(ts.URL))
	next := func(l list) ([]item, string) {
		if !l.HasMore || len(l.Data) == 0 {
			return l.Data, ""
		}
		return l.Data, strconv.Itoa(l.Data[len(l.Data)-1].ID)
	}
	ids, err := collect(t, paginate.Walk(t.Context(), paginate.Cursor(s, "/charges", "starting_after", next)))
	if err != nil || !slices.Equal(ids, wantIDs(30)) {
		t.Errorf("cursor walk = %v, %v; want items 1 to 30", ids, err)
	}
}

// Slack's style: response_metadata.next_cursor. A server that sends a
// cursor it sent before ends the walk with ErrLoop after that page.
func TestCursorRepeated(t *testing.T) {
	t.Parallel()
	type list struct {
		Members  []item `json:"members"`
		Metadata struct {
			NextCursor string `json:"next_cursor"`
		} `json:"response_metadata"`
	}
	var requests atomic.Int32
	ts := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		var l list
		switch r.URL.Query().Get("cursor") {
		case "":
			l.Members, l.Metadata.NextCursor = []item{{1}, {2}}, "dXNlcjoy"
		case "dXNlcjoy":
			l.Members, l.Metadata.NextCursor = []item{{3}, {4}}, "dXNlcjo0"
		case "dXNlcjo0":
			l.Members, l.Metadata.NextCursor = []item{{5}}, "dXNlcjoy" // back to page 2
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(l)
	}))
	s := ts.Session(t, courier.WithBaseURL(ts.URL))
	next := func(l list) ([]item, string) { return l.Members, l.Metadata.NextCursor }
	ids, err := collect(t, paginate.Walk(t.Context(), paginate.Cursor(s, "/users.list", "cursor", next)))
	if !errors.Is(err, paginate.ErrLoop) || !slices.Equal(ids, wantIDs(5)) || requests.Load() != 3 {
		t.Errorf("walk = %v, %v after %d requests; want items 1 to 5, then ErrLoop, after 3", ids, err, requests.Load())
	}
	if strings.Contains(err.Error(), "dXNlcjoy") {
		t.Errorf("err = %q quotes the cursor", err)
	}
}

// Page numbers until an empty page, and offsets.
func TestPages(t *testing.T) {
	t.Parallel()
	ts := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		start := 0
		if p := q.Get("page"); p != "" {
			n, _ := strconv.Atoi(p)
			start = (n - 1) * 10
		} else {
			start, _ = strconv.Atoi(q.Get("offset"))
		}
		items := []item{}
		for id := start + 1; id <= min(start+10, 23); id++ {
			items = append(items, item{id})
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"results": items})
	}))
	s := ts.Session(t, courier.WithBaseURL(ts.URL))
	results := func(b struct{ Results []item }) []item { return b.Results }
	ids, err := collect(t, paginate.Walk(t.Context(), paginate.Pages(s, "/p", "page", 1, false, results)))
	if err != nil || !slices.Equal(ids, wantIDs(23)) || ts.Requests.Load() != 4 {
		t.Errorf("page walk = %v, %v after %d requests; want 1 to 23 after 4 (the last empty)", ids, err, ts.Requests.Load())
	}
	ids, err = collect(t, paginate.Walk(t.Context(), paginate.Pages(s, "/o", "offset", 0, true, results)))
	if err != nil || !slices.Equal(ids, wantIDs(23)) {
		t.Errorf("offset walk = %v, %v; want 1 to 23", ids, err)
	}
}

// A plain function pages too: a generated client's call wrapped in a
// Fetcher.
func TestPlainFetcher(t *testing.T) {
	t.Parallel()
	calls := 0
	fetch := func(ctx context.Context, cursor string) (paginate.Page[int], error) {
		calls++
		n, _ := strconv.Atoi(cursor)
		if n >= 3 {
			return paginate.Page[int]{Items: []int{n}}, nil
		}
		return paginate.Page[int]{Items: []int{n}, Next: strconv.Itoa(n + 1)}, nil
	}
	var got []int
	for v, err := range paginate.Walk(t.Context(), fetch).All() {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, v)
	}
	if !slices.Equal(got, []int{0, 1, 2, 3}) || calls != 4 {
		t.Errorf("walk = %v over %d calls, want 0..3 over 4", got, calls)
	}
}

// A walk holds one page at a time: 10,000 items of 200 bytes over 100
// pages (2 MB in all) grow the live heap by about a page, not by the list.
//
// Not parallel: it measures the process's heap.
func TestWalkHeapBoundedByAPage(t *testing.T) {
	type fat struct {
		ID   int
		Note string
	}
	note := strings.Repeat("n", 200)
	ts := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		items := make([]fat, 100)
		for i := range items {
			items[i] = fat{page*100 + i, note}
		}
		if page < 99 {
			w.Header().Set("Link", fmt.Sprintf("</items?page=%d>; rel=next", page+1))
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(items)
	}))
	s := ts.Session(t, courier.WithBaseURL(ts.URL))
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	heap := func() int64 {
		metrics.Read(sample)
		return int64(sample[0].Value.Uint64())
	}
	runtime.GC()
	base := heap()
	var peak int64
	n := 0
	for _, err := range paginate.Walk(t.Context(), paginate.Links[fat](s, "/items?page=0")).All() {
		if err != nil {
			t.Fatal(err)
		}
		if n++; n%50 == 0 {
			runtime.GC() // what is live now, not garbage not yet swept
			peak = max(peak, heap()-base)
		}
	}
	t.Logf("10,000 items of 200 bytes over 100 pages: the live heap grew by at most %d KiB (a page is about 21 KiB)", peak>>10)
	if n != 10000 || peak > 512<<10 {
		t.Errorf("walked %d items with the live heap up to %d KiB, want 10000 items within 512 KiB (the list is 2 MB)", n, peak>>10)
	}
}
