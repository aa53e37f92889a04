package redisstore_test

import (
	"context"
	"fmt"
	"log"
	"net/http"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/redisstore"
	"github.com/redis/go-redis/v9"
)

// Every process of a fleet shares the responses it caches for a tenant:
// what one fetched, the others serve from Redis while it is fresh. The
// request's own credentials still keep responses apart. This example
// needs a Redis, so it is not run.
func ExampleNewCache() {
	rdb := redis.NewClient(&redis.Options{
		Addr:                  "localhost:6379",
		ContextTimeoutEnabled: true, // so that the Timeout bounds each call
	})
	defer rdb.Close()

	cache, err := redisstore.NewCache(rdb, redisstore.Prefix("billing:"), redisstore.MaxValueBytes(16<<20))
	if err != nil {
		log.Fatal(err)
	}
	s, err := courier.New(
		courier.WithBaseURL("https://api.example.com"),
		courier.WithCache(courier.Cache{
			Store:    cache,
			Identity: func(*http.Request) string { return "tenant-42" },
		}),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close(context.Background())

	resp, err := s.Get(context.Background(), "/catalog")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.StatusCode, resp.Cache)
}
