package oauth2_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/auth/oauth2"
	xoauth2 "golang.org/x/oauth2"
)

// Two sessions share a token through a MemoryStore, seeded with a refresh
// token from an earlier authorization. The first request redeems it, once
// for both sessions; the server rotates refresh tokens, and the store keeps
// the new one for the next refresh. A store in Redis shares a token across
// processes the same way.
func ExampleWithStore() {
	var mu sync.Mutex
	refreshes, refresh := 0, "rt-1" // the refresh token the server accepts
	tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if r.FormValue("refresh_token") != refresh {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":"invalid_grant"}`)
			return
		}
		refreshes++
		refresh = fmt.Sprintf("rt-%d", refreshes+1)
		json.NewEncoder(w).Encode(map[string]any{
			"access_token": "tok-1", "token_type": "Bearer", "expires_in": 3600,
			"refresh_token": refresh,
		})
	}))
	defer tokens.Close()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok-1" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, "hello")
	}))
	defer api.Close()
	ctx := context.Background()

	cfg := &xoauth2.Config{ClientID: "my-app", Endpoint: xoauth2.Endpoint{TokenURL: tokens.URL + "/oauth/token"}}
	store := oauth2.NewMemoryStore(&xoauth2.Token{RefreshToken: "rt-1"})
	for _, name := range []string{"first", "second"} {
		s, err := courier.New(
			courier.WithBaseURL(api.URL),
			courier.WithAuth(oauth2.New(oauth2.RefreshToken(cfg, nil), oauth2.WithStore(store))),
		)
		if err != nil {
			panic(err)
		}
		defer s.Close(ctx)
		resp, err := s.Get(ctx, "/")
		if err != nil {
			panic(err)
		}
		fmt.Println(name, resp.StatusCode, string(resp.Bytes()))
	}

	tok, err := store.Load(ctx)
	if err != nil {
		panic(err)
	}
	mu.Lock()
	defer mu.Unlock()
	fmt.Println("refreshes:", refreshes)
	fmt.Println("stored refresh token is the rotated one:", tok.RefreshToken == refresh)
	// Output:
	// first 200 hello
	// second 200 hello
	// refreshes: 1
	// stored refresh token is the rotated one: true
}
