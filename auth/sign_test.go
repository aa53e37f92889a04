package auth_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/auth"
	"github.com/courierhttp/courier/couriertest"
	"github.com/courierhttp/courier/internal/testenv"
)

// hmacSigner signs method, request URI, a fresh nonce and the body with
// HMAC-SHA256.
type hmacSigner struct{ key []byte }

func (s hmacSigner) Sign(req *http.Request) error {
	body, err := auth.Body(req)
	if err != nil {
		return err
	}
	nonce := rand.Text()
	req.Header.Set("X-Nonce", nonce)
	req.Header.Set("X-Signature", signature(s.key, req.Method, req.URL.RequestURI(), nonce, body))
	return nil
}

func signature(key []byte, method, uri, nonce string, body []byte) string {
	mac := hmac.New(sha256.New, key)
	io.WriteString(mac, method+"\n"+uri+"\n"+nonce+"\n")
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// verifying is a server that checks hmacSigner's signatures: 401 for a bad
// one, then next for a good one.
func verifying(key []byte, rec *recorder, next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.record(r)
		body, _ := io.ReadAll(r.Body)
		want := signature(key, r.Method, r.URL.RequestURI(), r.Header.Get("X-Nonce"), body)
		if !hmac.Equal([]byte(r.Header.Get("X-Signature")), []byte(want)) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		if next != nil {
			next(w, r)
		}
	})
}

func TestSign(t *testing.T) {
	t.Parallel()
	key := []byte("k")
	rec := &recorder{}
	srv := testenv.NewServer(t, testenv.HTTP1, verifying(key, rec, nil))
	s := srv.Session(t, courier.WithAuth(auth.Sign(hmacSigner{key})))
	if _, err := s.Post(t.Context(), "/orders?id=7", courier.JSON(map[string]int{"qty": 2})); err != nil {
		t.Errorf("session: Post = %v, want a verified signature", err)
	}
	rt := auth.Sign(hmacSigner{key})(newTransport(t, nil))
	resp, err := (&http.Client{Transport: rt}).Post(srv.URL+"/orders", "text/plain", strings.NewReader("body"))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("client: Post = %v, %v; want 200", resp, err)
	}
	resp.Body.Close()
}

// A retried attempt is signed again.
func TestSignRetried(t *testing.T) {
	t.Parallel()
	key := []byte("k")
	rec := &recorder{}
	var n atomic.Int64
	srv := testenv.NewServer(t, testenv.HTTP1, verifying(key, rec, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	s := srv.Session(t, courier.WithAuth(auth.Sign(hmacSigner{key})),
		courier.WithRetry(courier.RetryPolicy{Backoff: couriertest.NoBackoff}))
	if _, err := s.Get(t.Context(), "/"); err != nil {
		t.Fatalf("Get: %v", err)
	}
	hits := rec.all()
	if len(hits) != 2 || n.Load() != 2 || hits[0].Signature == hits[1].Signature {
		t.Errorf("server saw %+v (%d verified), want two attempts with two different valid signatures", hits, n.Load())
	}
}

// A signer may replace the body; the one given to RoundTrip is closed.
func TestSignReplacesBody(t *testing.T) {
	t.Parallel()
	var got atomic.Value
	srv := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.Store(string(b))
	}))
	rt := auth.Sign(auth.SignerFunc(func(r *http.Request) error {
		r.Body = io.NopCloser(strings.NewReader("signed body"))
		r.ContentLength = int64(len("signed body"))
		return nil
	}))(newTransport(t, nil))
	body := newBody("body")
	req, _ := http.NewRequestWithContext(t.Context(), "POST", srv.URL, body)
	req.ContentLength = 4
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got.Load() != "signed body" || !body.closed.Load() {
		t.Errorf("server got %q, caller's body closed %v; want %q, true", got.Load(), body.closed.Load(), "signed body")
	}
}

func TestBody(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	replayable, _ := http.NewRequest("POST", "http://x/", strings.NewReader("payload"))
	empty, _ := http.NewRequest("GET", "http://x/", nil)
	noBody, _ := http.NewRequest("POST", "http://x/", http.NoBody)
	oneShot, _ := http.NewRequest("POST", "http://x/", io.NopCloser(strings.NewReader("payload")))
	broken, _ := http.NewRequest("POST", "http://x/", strings.NewReader("payload"))
	broken.GetBody = func() (io.ReadCloser, error) { return nil, boom }
	tests := []struct {
		name    string
		req     *http.Request
		want    []byte
		wantErr error
	}{
		{"replayable", replayable, []byte("payload"), nil},
		{"no body", empty, nil, nil},
		{"NoBody", noBody, nil, nil},
		{"not replayable", oneShot, nil, courier.ErrBodyNotReplayable},
		{"GetBody fails", broken, nil, boom},
	}
	for _, tt := range tests {
		got, err := auth.Body(tt.req)
		if !bytes.Equal(got, tt.want) || !errors.Is(err, tt.wantErr) {
			t.Errorf("Body(%s) = %q, %v; want %q, %v", tt.name, got, err, tt.want, tt.wantErr)
		}
	}
	// The request's own body is still unread.
	if b, _ := io.ReadAll(replayable.Body); string(b) != "payload" {
		t.Errorf("after Body, req.Body reads %q, want %q", b, "payload")
	}
}
