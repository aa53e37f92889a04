package fanout_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/fanout"
)

// Fetch many URLs, at most 20 at a time and 5 per host, and print each
// result as it arrives (sorted here, so that the output is stable).
func ExampleRun() {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, "hello from ", r.URL.Path)
	}))
	defer api.Close()
	ctx := context.Background()
	s, _ := courier.New()
	defer s.Close(ctx)

	urls := []string{api.URL + "/a", api.URL + "/b", api.URL + "/missing", api.URL + "/c"}
	fetch := func(ctx context.Context, u string) (string, error) {
		resp, err := s.Get(ctx, u)
		if err != nil {
			return "", err
		}
		return string(resp.Bytes()), nil
	}
	var lines []string
	for r := range fanout.Run(ctx, slices.Values(urls), fetch, fanout.Limit(20), fanout.PerHost(5)) {
		if r.Err != nil {
			lines = append(lines, fmt.Sprintf("%d: error: %v", r.Index, r.Err != nil))
			continue
		}
		lines = append(lines, fmt.Sprintf("%d: %s", r.Index, r.Value))
	}
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Println(l)
	}
	// Output:
	// 0: hello from /a
	// 1: hello from /b
	// 2: error: true
	// 3: hello from /c
}
