package redisstore_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"log"
	"os"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/auth/oauth2"
	"github.com/courierhttp/courier/redisstore"
	"github.com/redis/go-redis/v9"
	xoauth2 "golang.org/x/oauth2"
)

// Every instance of a service shares the token of its OAuth 2.0 client
// through Redis: the fleet refreshes it once per expiry, and redeems each
// rotated refresh token once. The token is encrypted at rest. This
// example needs a Redis, so it is not run.
func ExampleNewTokenStore() {
	rdb := redis.NewClient(&redis.Options{
		Addr:                  "localhost:6379",
		ContextTimeoutEnabled: true, // so that the store's Timeout bounds its calls
	})
	defer rdb.Close()

	key, err := hex.DecodeString(os.Getenv("TOKEN_KEY")) // 32 bytes, the same in every instance
	if err != nil {
		log.Fatal(err)
	}
	store, err := redisstore.NewTokenStore(rdb, "billing-api/my-client", redisstore.EncryptionKey(key))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	// Once, after the authorization: seed the store with the refresh
	// token.
	if err := store.Save(ctx, &xoauth2.Token{RefreshToken: os.Getenv("REFRESH_TOKEN")}); err != nil {
		log.Fatal(err)
	}

	cfg := &xoauth2.Config{
		ClientID:     "my-client",
		ClientSecret: os.Getenv("CLIENT_SECRET"),
		Endpoint:     xoauth2.Endpoint{TokenURL: "https://auth.example.com/oauth/token"},
	}
	s, err := courier.New(
		courier.WithBaseURL("https://billing.example.com"),
		courier.WithAuth(oauth2.New(oauth2.RefreshToken(cfg, nil), oauth2.WithStore(store))),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close(ctx)

	resp, err := s.Get(ctx, "/invoices")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.StatusCode)
}

// The key options print the IDs of their keys, never the keys. A key
// rotates in three steps, each rolled out to every instance: the new key
// decrypts, then it encrypts while the old one still decrypts, then the
// old one goes.
func ExampleDecryptionKeys() {
	oldKey := []byte("0123456789abcdef0123456789abcdef")
	newKey := []byte("fedcba9876543210fedcba9876543210")
	steps := [][]redisstore.Option{
		{redisstore.EncryptionKey(oldKey), redisstore.DecryptionKeys(newKey)},
		{redisstore.EncryptionKey(newKey), redisstore.DecryptionKeys(oldKey)},
		{redisstore.EncryptionKey(newKey)},
	}
	for i, opts := range steps {
		fmt.Println(i+1, opts)
	}
	// Output:
	// 1 [EncryptionKey(id 0x6d) DecryptionKeys(id 0xed)]
	// 2 [EncryptionKey(id 0xed) DecryptionKeys(id 0x6d)]
	// 3 [EncryptionKey(id 0xed)]
}
