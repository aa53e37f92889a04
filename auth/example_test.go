package auth_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/auth"
	"github.com/mccutchen/go-httpbin/v2/httpbin"
)

// Basic auth on a session: the credentials go to the base URL's origin.
func ExampleBasic() {
	srv := httptest.NewServer(httpbin.New().Handler())
	defer srv.Close()
	ctx := context.Background()

	s, err := courier.New(
		courier.WithBaseURL(srv.URL),
		courier.WithAuth(auth.Basic("ada", "lovelace")),
	)
	if err != nil {
		panic(err)
	}
	defer s.Close(ctx)

	var who struct {
		Authenticated bool   `json:"authenticated"`
		User          string `json:"user"`
	}
	resp, err := s.Get(ctx, "/basic-auth/ada/lovelace", courier.Into(&who))
	if err != nil {
		panic(err)
	}
	fmt.Println(resp.StatusCode, who.Authenticated, who.User)
	// Output:
	// 200 true ada
}

// Digest auth with a plain http.Client: the first request answers the
// server's challenge (two round trips), later ones reuse it (one).
func ExampleDigest() {
	var roundTrips atomic.Int64
	bin := httpbin.New().Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		roundTrips.Add(1)
		bin.ServeHTTP(w, r)
	}))
	defer srv.Close()

	client := &http.Client{Transport: auth.Digest("ada", "lovelace")(nil)}
	for range 2 {
		roundTrips.Store(0)
		resp, err := client.Get(srv.URL + "/digest-auth/auth/ada/lovelace/SHA-256")
		if err != nil {
			panic(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		fmt.Println(resp.StatusCode, "after", roundTrips.Load(), "round trip(s)")
	}
	// Output:
	// 200 after 2 round trip(s)
	// 200 after 1 round trip(s)
}

// A bearer token from a source of your own, asked for on every attempt.
func ExampleBearerSource() {
	srv := httptest.NewServer(httpbin.New().Handler())
	defer srv.Close()
	ctx := context.Background()

	tokens := auth.TokenSourceFunc(func(ctx context.Context) (string, error) {
		return "t0k3n", nil // a real source caches, and refreshes when needed
	})
	s, err := courier.New(courier.WithBaseURL(srv.URL), courier.WithAuth(auth.BearerSource(tokens)))
	if err != nil {
		panic(err)
	}
	defer s.Close(ctx)

	var out struct {
		Token string `json:"token"`
	}
	if _, err := s.Get(ctx, "/bearer", courier.Into(&out)); err != nil {
		panic(err)
	}
	fmt.Println(out.Token)
	// Output:
	// t0k3n
}

// An HMAC-SHA256 signature over the method, path and body, in X-Signature.
// Every attempt is signed anew.
func ExampleSign() {
	key := []byte("shared secret")
	mac := func(method, uri string, body []byte) string {
		h := hmac.New(sha256.New, key)
		io.WriteString(h, method+" "+uri+"\n")
		h.Write(body)
		return hex.EncodeToString(h.Sum(nil))
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !hmac.Equal([]byte(r.Header.Get("X-Signature")), []byte(mac(r.Method, r.URL.RequestURI(), body))) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, "verified %s", body)
	}))
	defer srv.Close()
	ctx := context.Background()

	signer := auth.SignerFunc(func(req *http.Request) error {
		body, err := auth.Body(req) // a copy: req.Body stays unread
		if err != nil {
			return err
		}
		req.Header.Set("X-Signature", mac(req.Method, req.URL.RequestURI(), body))
		return nil
	})
	s, err := courier.New(courier.WithBaseURL(srv.URL), courier.WithAuth(auth.Sign(signer)))
	if err != nil {
		panic(err)
	}
	defer s.Close(ctx)

	resp, err := s.Post(ctx, "/orders", courier.Body([]byte(`{"qty":2}`)))
	if err != nil {
		panic(err)
	}
	fmt.Println(string(resp.Bytes()))
	// Output:
	// verified {"qty":2}
}

// Credentials from a netrc file, chosen by host.
func ExampleNetrc() {
	srv := httptest.NewServer(httpbin.New().Handler())
	defer srv.Close()
	ctx := context.Background()

	dir, err := os.MkdirTemp("", "netrc")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, ".netrc")
	u, _ := url.Parse(srv.URL)
	content := "machine " + u.Hostname() + " login ada password lovelace\n" + // hosts, without ports
		"default login anonymous password guest\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		panic(err)
	}

	netrc, err := auth.Netrc(path)
	if err != nil {
		panic(err)
	}
	s, err := courier.New(courier.WithBaseURL(srv.URL), courier.WithAuth(netrc))
	if err != nil {
		panic(err)
	}
	defer s.Close(ctx)

	resp, err := s.Get(ctx, "/basic-auth/ada/lovelace")
	if err != nil {
		panic(err)
	}
	fmt.Println(resp.StatusCode)
	// Output:
	// 200
}
