package redisstore_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"time"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/redisstore"
	"github.com/redis/go-redis/v9"
)

// Every process of a fleet shares one circuit breaker per upstream: five
// failures in a row, whichever processes see them, open it for all for
// 30 seconds. This example needs a Redis, so it is not run.
func ExampleNewBreakers() {
	rdb := redis.NewClient(&redis.Options{
		Addr:                  "localhost:6379",
		ContextTimeoutEnabled: true, // so that the Timeout bounds each call
	})
	defer rdb.Close()

	breakers, err := redisstore.NewBreakers(rdb,
		redisstore.Timeout(50*time.Millisecond),
		redisstore.Logger(slog.Default()),
		// Without Redis, attempts go through (the default); say
		// FailClosed(true) to refuse them instead.
		redisstore.FailClosed(false),
	)
	if err != nil {
		log.Fatal(err)
	}
	s, err := courier.New(
		courier.WithBaseURL("https://api.example.com"),
		courier.WithBreaker(courier.BreakerPolicy{ConsecutiveFailures: 5, OpenFor: 30 * time.Second, Store: breakers}),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close(context.Background())

	resp, err := s.Get(context.Background(), "/users/42")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.StatusCode)
	fmt.Printf("%+v\n", breakers.Stats())
}
