package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"strings"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/redisstore"
	"github.com/redis/go-redis/v9"
)

// A fleet of six processes shares 100 requests a second to the example
// API, wherever it is served from. This example needs a Redis, so it is
// not run.
func ExampleNewPacer() {
	rdb := redis.NewClient(&redis.Options{
		Addr:                  "localhost:6379",
		ContextTimeoutEnabled: true, // so that the pacer's Timeout bounds its calls
	})
	defer rdb.Close()

	pacer, err := redisstore.NewPacer(rdb, courier.RateLimit{PerSecond: 100, Burst: 10},
		// Both API hosts draw from one quota.
		redisstore.Upstream(func(host string) string {
			if strings.HasSuffix(host, ".example.com") {
				return "example-api"
			}
			return ""
		}),
		// Without Redis, each of the six paces itself at 100/6 a second.
		redisstore.FailOpen(6),
		redisstore.Logger(slog.Default()),
	)
	if err != nil {
		log.Fatal(err)
	}
	s, err := courier.New(courier.WithBaseURL("https://api.example.com"), courier.WithPacer(pacer))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close(context.Background())

	resp, err := s.Get(context.Background(), "/users/42")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.StatusCode)
}

func ExampleConfigError() {
	rdb := redis.NewClient(&redis.Options{Addr: "localhost:6379", ContextTimeoutEnabled: true})
	defer rdb.Close()

	_, err := redisstore.NewPacer(rdb, courier.RateLimit{PerSecond: 100}, redisstore.Timeout(0))
	var ce *redisstore.ConfigError
	if errors.As(err, &ce) {
		fmt.Println("bad setting:", ce.Field)
	}
	fmt.Println(err)
	// Output:
	// bad setting: Timeout
	// redisstore: Timeout: must be positive, got 0s
}
