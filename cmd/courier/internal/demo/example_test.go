package demo_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/cmd/courier/internal/demo"
)

// Run is what "courier demo" does: it prints the tour to a writer and says
// whether every step behaved.
func ExampleRun() {
	if err := demo.Run(context.Background(), os.Stdout, demo.Options{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
}

// The demo API works with any client; here a courier session logs in and
// the session's jar carries the cookie to the next request.
func ExampleAPI() {
	ctx := context.Background()
	srv := httptest.NewServer(demo.API())
	defer srv.Close()
	s, err := courier.New(courier.WithBaseURL(srv.URL))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close(ctx)

	_, err = s.Get(ctx, "/api/me")
	var se *courier.StatusError
	fmt.Println("before login:", errors.As(err, &se) && se.StatusCode == 401)

	creds := map[string]string{"user": demo.User, "password": demo.Password}
	if _, err := s.Post(ctx, "/api/login", courier.JSON(creds)); err != nil {
		fmt.Println(err)
		return
	}
	var me struct{ User string }
	if _, err := s.Get(ctx, "/api/me", courier.Into(&me)); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("after login:", me.User)
	// Output:
	// before login: true
	// after login: ada
}
