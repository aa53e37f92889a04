package paginate_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/paginate"
)

// BenchmarkWalk walks a list of JSON items served in pages linked by
// Link rel="next" (relative targets, with rel="last", "first" and "prev"
// as GitHub sends them) three ways, and reports the cost per item:
//
//   - nethttp: the loop a careful engineer writes over net/http: a tuned
//     Transport, GET, status check, json.Decoder, drain and close, a
//     minimal Link parser, the next URL resolved against the response's.
//   - courier-links: paginate.Walk over paginate.Links.
//   - courier-fetcher: paginate.Walk over a hand-written Fetcher that calls
//     s.Get with courier.Into and paginate.LinkTarget.
//
// The server runs in this process, so its allocations (the same for every
// client) are in every figure: the ratios understate the clients'
// differences. Compare them within one run:
//
//	go test -run '^$' -bench BenchmarkWalk -benchmem -count 6 ./paginate/ | tee walk.txt
//	benchstat -col /client walk.txt
func BenchmarkWalk(b *testing.B) {
	for _, shape := range []struct{ total, size int }{{1000, 100}, {10000, 1000}} {
		b.Run(fmt.Sprintf("page=%d", shape.size), func(b *testing.B) {
			benchWalk(b, shape.total, shape.size)
		})
	}
}

func benchWalk(b *testing.B, total, size int) {
	api := newBenchList(total, size)
	ts := httptest.NewServer(api)
	b.Cleanup(ts.Close)

	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 100
	tr.MaxIdleConnsPerHost = 16
	b.Cleanup(tr.CloseIdleConnections) // before ts.Close: cleanups run last first
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}

	s, err := courier.New(courier.WithBaseURL(ts.URL))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := s.Close(context.Background()); err != nil {
			b.Error(err)
		}
	})

	walks := []struct {
		name string
		walk func(ctx context.Context) (n, sum int, err error)
	}{
		{"nethttp", func(ctx context.Context) (int, int, error) {
			return walkNetHTTP(ctx, client, ts.URL+"/items")
		}},
		{"courier-links", func(ctx context.Context) (int, int, error) {
			return walkSeq(paginate.Walk(ctx, paginate.Links[benchItem](s, "/items")))
		}},
		{"courier-fetcher", func(ctx context.Context) (int, int, error) {
			return walkSeq(paginate.Walk(ctx, linkFetcher(s, "/items")))
		}},
	}
	wantSum := total * (total + 1) / 2
	for _, w := range walks {
		b.Run("client="+w.name, func(b *testing.B) {
			ctx := b.Context()
			check := func() {
				n, sum, err := w.walk(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if n != total || sum != wantSum {
					b.Fatalf("walked %d items (ids summing to %d), want %d (%d)", n, sum, total, wantSum)
				}
			}
			check() // warm the connection pool outside the measure
			b.ReportAllocs()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for b.Loop() {
				check()
			}
			runtime.ReadMemStats(&after)
			items := float64(b.N) * float64(total)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/items, "ns/item")
			b.ReportMetric(float64(after.Mallocs-before.Mallocs)/items, "allocs/item")
			b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/items, "B/item")
		})
	}
}

// benchItem is one item of the list.
type benchItem struct {
	ID   int      `json:"id"`
	Name string   `json:"name"`
	Tags []string `json:"tags"`
}

// benchList serves items 1..total, size per page, from bodies and headers
// built once, so that the server allocates as little as net/http lets it.
type benchList struct {
	pages map[string]benchPage // by raw query; the first page is ""
}

type benchPage struct {
	body                []byte
	link, ctype, length []string
}

func newBenchList(total, size int) *benchList {
	l := &benchList{pages: map[string]benchPage{}}
	last := (total + size - 1) / size
	query := func(n int) string { return fmt.Sprintf("page=%d&per_page=%d", n, size) }
	for n := 1; n <= last; n++ {
		items := make([]benchItem, 0, size)
		for id := (n-1)*size + 1; id <= min(n*size, total); id++ {
			items = append(items, benchItem{ID: id, Name: "item-" + strconv.Itoa(id), Tags: []string{"a", "b"}})
		}
		body, err := json.Marshal(items)
		if err != nil {
			panic(err)
		}
		var links []string
		if n < last {
			links = append(links, fmt.Sprintf(`</items?%s>; rel="next"`, query(n+1)), fmt.Sprintf(`</items?%s>; rel="last"`, query(last)))
		}
		if n > 1 {
			links = append(links, fmt.Sprintf(`</items?%s>; rel="first"`, query(1)), fmt.Sprintf(`</items?%s>; rel="prev"`, query(n-1)))
		}
		p := benchPage{body: body, ctype: []string{"application/json; charset=utf-8"}, length: []string{strconv.Itoa(len(body))}}
		if links != nil {
			p.link = []string{strings.Join(links, ", ")}
		}
		key := query(n)
		if n == 1 {
			key = ""
		}
		l.pages[key] = p
	}
	return l
}

func (l *benchList) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p, ok := l.pages[r.URL.RawQuery]
	if r.URL.Path != "/items" || !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	if p.link != nil {
		h["Link"] = p.link
	}
	h["Content-Type"] = p.ctype
	h["Content-Length"] = p.length
	w.Write(p.body)
}

// walkNetHTTP walks the list from first with net/http alone, and returns
// the number of items and the sum of their ids.
func walkNetHTTP(ctx context.Context, c *http.Client, first string) (n, sum int, err error) {
	for next := first; next != ""; {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, next, nil)
		if err != nil {
			return n, sum, err
		}
		resp, err := c.Do(req)
		if err != nil {
			return n, sum, err
		}
		var page []benchItem
		if resp.StatusCode == http.StatusOK {
			err = json.NewDecoder(resp.Body).Decode(&page)
		} else {
			err = fmt.Errorf("GET %s: %s", next, resp.Status)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			return n, sum, err
		}
		for _, it := range page {
			n++
			sum += it.ID
		}
		next = ""
		if target := nextLink(resp.Header.Values("Link")); target != "" {
			u, err := resp.Request.URL.Parse(target)
			if err != nil {
				return n, sum, err
			}
			next = u.String()
		}
	}
	return n, sum, nil
}

// nextLink is the minimal Link parser a hand-written loop carries: the
// target of the first link with rel="next" or rel=next.
func nextLink(values []string) string {
	for _, v := range values {
		for link := range strings.SplitSeq(v, ",") {
			target, params, _ := strings.Cut(link, ";")
			target = strings.TrimSpace(target)
			if len(target) < 2 || target[0] != '<' || target[len(target)-1] != '>' {
				continue
			}
			for p := range strings.SplitSeq(params, ";") {
				if p = strings.TrimSpace(p); p == `rel="next"` || p == "rel=next" {
					return target[1 : len(target)-1]
				}
			}
		}
	}
	return ""
}

// linkFetcher is the Fetcher a caller writes over a courier session without
// paginate.Links: Get with Into, and the next link resolved by hand.
func linkFetcher(s *courier.Session, first string) paginate.Fetcher[benchItem] {
	return func(ctx context.Context, cursor string) (paginate.Page[benchItem], error) {
		path := first
		if cursor != "" {
			path = cursor
		}
		var items []benchItem
		resp, err := s.Get(ctx, path, courier.Into(&items))
		if err != nil {
			return paginate.Page[benchItem]{}, err
		}
		page := paginate.Page[benchItem]{Items: items}
		if next := paginate.LinkTarget(resp.Header.Values("Link"), "next"); next != "" {
			u, err := resp.URL.Parse(next)
			if err != nil {
				return paginate.Page[benchItem]{}, err
			}
			page.Next = u.String()
		}
		return page, nil
	}
}

// walkSeq ranges over a walk and returns the number of items and the sum
// of their ids.
func walkSeq(w *paginate.Walker[benchItem]) (n, sum int, err error) {
	for it, err := range w.All() {
		if err != nil {
			return n, sum, err
		}
		n++
		sum += it.ID
	}
	return n, sum, nil
}
