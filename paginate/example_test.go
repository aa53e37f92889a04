package paginate_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/paginate"
)

// Walk a list that a server sends in pages linked by Link rel="next".
func ExampleWalk() {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Query().Get("page") {
		case "":
			w.Header().Set("Link", `</repos?page=2>; rel="next"`)
			fmt.Fprint(w, `[{"name":"courier"},{"name":"paginate"}]`)
		case "2":
			fmt.Fprint(w, `[{"name":"sessionfile"}]`)
		}
	}))
	defer api.Close()
	ctx := context.Background()
	s, _ := courier.New(courier.WithBaseURL(api.URL))
	defer s.Close(ctx)

	type repo struct {
		Name string `json:"name"`
	}
	w := paginate.Walk(ctx, paginate.Links[repo](s, "/repos"))
	for r, err := range w.All() {
		if err != nil {
			fmt.Println("error:", err)
			break
		}
		fmt.Println(r.Name)
	}
	fmt.Printf("checkpoint %q\n", w.Checkpoint())
	// Output:
	// courier
	// paginate
	// sessionfile
	// checkpoint ""
}
