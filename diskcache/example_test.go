package diskcache_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/diskcache"
)

// A session whose HTTP cache is on disk: the second GET is answered from
// it, and so would a GET from the next run of the program be.
func Example() {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprintln(w, "hello")
	}))
	defer origin.Close()

	dir, err := os.MkdirTemp("", "courier-cache")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	store, err := diskcache.New(dir, 64<<20)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	s, err := courier.New(
		courier.WithBaseURL(origin.URL),
		courier.WithCache(courier.Cache{Store: store}),
	)
	if err != nil {
		panic(err)
	}
	defer s.Close(ctx)

	for range 2 {
		resp, err := s.Get(ctx, "/greeting")
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s %s", resp.Cache, resp.Bytes())
	}
	// Output:
	// miss hello
	// hit hello
}
