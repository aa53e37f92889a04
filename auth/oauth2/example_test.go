package oauth2_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/auth/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// exampleServers starts an authorization server that grants client
// credentials to my-service, and an API that greets the bearer of its
// token.
func exampleServers() (tokens, api *httptest.Server) {
	tokens = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, secret, _ := r.BasicAuth()
		if r.FormValue("grant_type") != "client_credentials" || id != "my-service" || secret != "s3cret" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":"invalid_client"}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"access_token": "tok-" + id, "token_type": "Bearer", "expires_in": 3600,
		})
	}))
	api = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok-my-service" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, "hello, my-service")
	}))
	return tokens, api
}

// A session whose requests carry a client credentials token. The token is
// fetched on the first request and reused until shortly before it expires.
func Example() {
	tokens, api := exampleServers()
	defer tokens.Close()
	defer api.Close()
	ctx := context.Background()

	cfg := &clientcredentials.Config{
		ClientID:     "my-service",
		ClientSecret: "s3cret",
		TokenURL:     tokens.URL + "/oauth/token",
	}
	s, err := courier.New(
		courier.WithBaseURL(api.URL),
		courier.WithAuth(oauth2.New(oauth2.ClientCredentials(cfg))),
	)
	if err != nil {
		panic(err)
	}
	defer s.Close(ctx)

	resp, err := s.Get(ctx, "/whoami")
	if err != nil {
		panic(err)
	}
	fmt.Println(resp.StatusCode, string(resp.Bytes()))
	// Output: 200 hello, my-service
}

// The layer works under a plain http.Client too: a nil next round tripper
// is http.DefaultTransport.
func ExampleNew_httpClient() {
	tokens, api := exampleServers()
	defer tokens.Close()
	defer api.Close()

	cfg := &clientcredentials.Config{
		ClientID:     "my-service",
		ClientSecret: "s3cret",
		TokenURL:     tokens.URL + "/oauth/token",
	}
	c := &http.Client{Transport: oauth2.New(oauth2.ClientCredentials(cfg))(nil)}

	resp, err := c.Get(api.URL + "/whoami")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body))
	// Output: 200 hello, my-service
}
