package jsonl_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/jsonl"
)

// An NDJSON export, read one record at a time.
func ExampleGet() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		fmt.Fprintln(w, `{"id":1,"email":"ada@example.com"}`)
		fmt.Fprintln(w, `{"id":2,"email":"grace@example.com"}`)
		fmt.Fprintln(w, `{"id":3,"email":"edsger@example.com"}`)
	}))
	defer srv.Close()

	ctx := context.Background()
	s, err := courier.New(courier.WithBaseURL(srv.URL))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close(ctx)

	type user struct {
		ID    int    `json:"id"`
		Email string `json:"email"`
	}
	for u, err := range jsonl.Get[user](ctx, s, "/users/export", jsonl.Request(courier.Query("format", "ndjson"))) {
		if err != nil {
			fmt.Println("export:", err)
			return
		}
		fmt.Println(u.ID, u.Email)
	}
	// Output:
	// 1 ada@example.com
	// 2 grace@example.com
	// 3 edsger@example.com
}
