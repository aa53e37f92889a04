package courier_test

// Responses: Bytes/Text/Decode/Into, the body size limit, and non-2xx
// statuses as *StatusError.

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/internal/testenv"
)

// jsonHandler answers with body and the given Content-Type ("": none).
func jsonHandler(contentType, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		} else {
			w.Header()["Content-Type"] = nil // no sniffing: send none
		}
		io.WriteString(w, body)
	}
}

func TestResponseBytesTextDecode(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T, m testenv.Mode) {
		const body = `{"id":42,"name":"Ada"}`
		ts := testenv.NewServer(t, m, jsonHandler("application/json; charset=utf-8", body))
		s := ts.Session(t)
		resp, err := s.Get(t.Context(), "/")
		if err != nil {
			t.Fatalf("Get = %v", err)
		}
		if resp.StatusCode != http.StatusOK || resp.Status != "200 OK" {
			t.Errorf("StatusCode, Status = %d, %q; want 200, %q", resp.StatusCode, resp.Status, "200 OK")
		}
		if wantProto := map[testenv.Mode]string{testenv.HTTP1: "HTTP/1.1", testenv.HTTP2: "HTTP/2.0"}[m]; resp.Proto != wantProto {
			t.Errorf("Proto = %q, want %q", resp.Proto, wantProto)
		}
		if string(resp.Bytes()) != body {
			t.Errorf("Bytes = %q, want %q", resp.Bytes(), body)
		}
		if resp.Attempts != 1 || resp.URL == nil || resp.URL.Path != "/" {
			t.Errorf("Attempts, URL = %d, %v; want 1, %s/", resp.Attempts, resp.URL, ts.URL)
		}
		var v struct {
			ID   int
			Name string
		}
		if err := resp.Decode(&v); err != nil || v.ID != 42 || v.Name != "Ada" {
			t.Errorf("Decode = %+v, %v; want {42 Ada}, nil", v, err)
		}
		// A buffered body can be read as often as wanted.
		b, _ := io.ReadAll(resp.Body())
		if string(b) != body {
			t.Errorf("Body() = %q, want %q", b, body)
		}
		if err := resp.Close(); err != nil {
			t.Errorf("Close on a buffered response = %v, want nil", err)
		}
	})
}

func TestDecodeContentTypes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		contentType string
		wantErr     error
	}{
		{"application/json", nil},
		{"application/json; charset=utf-8", nil},
		{"application/problem+json", nil},
		{"application/vnd.api+json", nil},
		{"text/json", nil},
		{"", nil},
		{"text/html; charset=utf-8", courier.ErrDecode},
		{"text/plain", courier.ErrDecode},
		{"application/xml", courier.ErrDecode},
		{"application/json; =broken", courier.ErrDecode},
		// The fast path for the usual forms, and its edges.
		{"Application/JSON;charset=UTF-8", nil},
		{"application/json ; charset=utf-8", nil},
		{"application/json; charset=iso-8859-1", nil},
		{"application/jsonx", courier.ErrDecode},
		{"application/json; charset", courier.ErrDecode},
	}
	for _, tt := range tests {
		t.Run(tt.contentType, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, testenv.HTTP1, jsonHandler(tt.contentType, `{"ok":true}`))
			s := ts.Session(t)
			resp, err := s.Get(t.Context(), "/")
			if err != nil {
				t.Fatalf("Get = %v", err)
			}
			var v map[string]bool
			if err := resp.Decode(&v); !errors.Is(err, tt.wantErr) {
				t.Errorf("Decode with Content-Type %q = %v, want %v", tt.contentType, err, tt.wantErr)
			}
			// Into fails the same way, and returns the response.
			resp, err = s.Get(t.Context(), "/", courier.Into(&v))
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Get(Into) with Content-Type %q = %v, want %v", tt.contentType, err, tt.wantErr)
			}
			if resp == nil {
				t.Errorf("Get(Into) returned no response with its decode error")
			}
		})
	}
}

const secretCanary = "CANARY-7f3a9c1e5b"

func TestDecodeInvalidJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
	}{
		{"truncated secret", `{"access_token":"` + secretCanary + `-and-more-of-it`},
		{"truncated after secret", `{"access_token":"` + secretCanary + `","expires_in":`},
		{"syntax error", `{"refresh_token":"` + secretCanary + `", oops}`},
		{"bare secret", `{"api_key":` + secretCanary + `}`},
		{"long", `{"password":"` + secretCanary + `","data":"` + strings.Repeat("x", 10000) + `"`},
		{"wrong type", `{"token":"` + secretCanary + `","n":"not a number"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, testenv.HTTP1, jsonHandler("application/json", tt.body))
			s := ts.Session(t)
			var v struct{ N int }
			resp, err := s.Get(t.Context(), "/", courier.Into(&v))
			requireIs(t, err, courier.ErrDecode)
			if resp == nil {
				t.Fatalf("Get(Into) returned no response with its decode error")
			}
			err2 := resp.Decode(&v)
			requireIs(t, err2, courier.ErrDecode)
			for _, e := range []error{err, err2} {
				msg := e.Error()
				if strings.Contains(msg, secretCanary) {
					t.Errorf("decode error quotes the secret: %s", msg)
				}
				if len(msg) > 400 {
					t.Errorf("decode error is %d bytes long, want a short excerpt: %.100s...", len(msg), msg)
				}
			}
			var ce *courier.Error
			if !errors.As(err, &ce) || ce.Op != "decode" || ce.Method != http.MethodGet {
				t.Errorf("errors.As(%v, *courier.Error): Op %q, Method %q; want decode, GET", err, ce.Op, ce.Method)
			}
		})
	}
	// The excerpt is there, with the secret masked.
	ts := testenv.NewServer(t, testenv.HTTP1, jsonHandler("application/json", `{"access_token":"`+secretCanary))
	s := ts.Session(t)
	_, err := s.Get(t.Context(), "/", courier.Into(new(map[string]any)))
	if msg := err.Error(); !strings.Contains(msg, `access_token`) || !strings.Contains(msg, "REDACTED") {
		t.Errorf("decode error %q, want an excerpt with the access_token value REDACTED", msg)
	}
}

func TestDecodeStreamInvalidJSON(t *testing.T) {
	t.Parallel()
	ts := testenv.NewServer(t, testenv.HTTP1, jsonHandler("application/json", `{"access_token":"`+secretCanary))
	s := ts.Session(t)
	resp, err := s.Get(t.Context(), "/", courier.Stream())
	if err != nil {
		t.Fatalf("Get(Stream) = %v", err)
	}
	var v map[string]any
	err = resp.Decode(&v)
	requireIs(t, err, courier.ErrDecode)
	if strings.Contains(err.Error(), secretCanary) {
		t.Errorf("decode error quotes the secret: %v", err)
	}
	// Decode closed the stream: a Close after it is harmless.
	if err := resp.Close(); err != nil {
		t.Errorf("Close after Decode = %v", err)
	}
}

// Into leaves its target alone when there is nothing to decode; an explicit
// Decode of an empty body is still an error.
func TestIntoWithoutContent(t *testing.T) {
	t.Parallel()
	ts := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/204":
			w.WriteHeader(http.StatusNoContent)
		case "/empty":
		default:
			w.Write([]byte(`{"n":1}`))
		}
	}))
	s := ts.Session(t)
	for _, c := range []struct{ method, path string }{{"DELETE", "/204"}, {"POST", "/empty"}, {"HEAD", "/full"}} {
		v := map[string]int{"kept": 7}
		if _, err := s.Do(t.Context(), c.method, c.path, courier.Into(&v)); err != nil || v["kept"] != 7 {
			t.Errorf("%s %s with Into = %v, target %v; want no error and the target untouched", c.method, c.path, err, v)
		}
	}
	resp, err := s.Post(t.Context(), "/empty")
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]int
	if err := resp.Decode(&v); !errors.Is(err, courier.ErrDecode) {
		t.Errorf("Decode of an empty body = %v, want ErrDecode", err)
	}
}

// sized answers with n bytes, with a Content-Length or chunked.
func sized(n int, chunked bool) http.HandlerFunc {
	body := bytes.Repeat([]byte("a"), n)
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		if !chunked {
			w.Header().Set("Content-Length", strconv.Itoa(n))
			w.Write(body)
			return
		}
		for rest := body; len(rest) > 0; {
			k := min(len(rest), 256)
			w.Write(rest[:k])
			w.(http.Flusher).Flush()
			rest = rest[k:]
		}
	}
}

func TestBodyTooLarge(t *testing.T) {
	t.Parallel()
	const limit = 1024
	tests := []struct {
		name    string
		size    int
		chunked bool
		wantErr error
	}{
		{"Content-Length over", 2 * limit, false, courier.ErrBodyTooLarge},
		{"chunked over", 2 * limit, true, courier.ErrBodyTooLarge},
		{"Content-Length one over", limit + 1, false, courier.ErrBodyTooLarge},
		{"chunked one over", limit + 1, true, courier.ErrBodyTooLarge},
		{"Content-Length exactly", limit, false, nil},
		{"chunked exactly", limit, true, nil},
		{"empty", 0, false, nil},
	}
	run(t, func(t *testing.T, m testenv.Mode) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				ts := testenv.NewServer(t, m, sized(tt.size, tt.chunked))
				s := ts.Session(t, courier.WithMaxBodySize(limit))
				start := time.Now()
				resp, err := s.Get(t.Context(), "/")
				requireWithin(t, start, slack)
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Get of %d bytes with a %d-byte limit = %v, want %v", tt.size, limit, err, tt.wantErr)
				}
				if err != nil {
					requireNotIs(t, err, courier.ErrConnLost, courier.ErrCanceled, courier.ErrDecode)
					if resp != nil {
						t.Errorf("Get returned a response with ErrBodyTooLarge")
					}
					return
				}
				if len(resp.Bytes()) != tt.size {
					t.Errorf("Get body = %d bytes, want %d", len(resp.Bytes()), tt.size)
				}
			})
		}
	})
}

func TestBodyTooLargeStreamDecode(t *testing.T) {
	t.Parallel()
	const limit = 1024
	big := `["` + strings.Repeat("a", 2*limit) + `"]`
	tests := []struct {
		name    string
		body    string
		wantErr error
	}{
		{"over", big, courier.ErrBodyTooLarge},
		{"exactly", `["` + strings.Repeat("a", limit-4) + `"]`, nil},
	}
	run(t, func(t *testing.T, m testenv.Mode) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				ts := testenv.NewServer(t, m, jsonHandler("application/json", tt.body))
				s := ts.Session(t, courier.WithMaxBodySize(limit))
				resp, err := s.Get(t.Context(), "/", courier.Stream())
				if err != nil {
					t.Fatalf("Get(Stream) = %v", err)
				}
				var v []string
				if err := resp.Decode(&v); !errors.Is(err, tt.wantErr) {
					t.Errorf("Decode of %d bytes with a %d-byte limit = %v, want %v", len(tt.body), limit, err, tt.wantErr)
				}
				var w []string
				if _, err := s.Get(t.Context(), "/", courier.Stream(), courier.Into(&w)); !errors.Is(err, tt.wantErr) {
					t.Errorf("Get(Stream, Into) of %d bytes with a %d-byte limit = %v, want %v", len(tt.body), limit, err, tt.wantErr)
				}
			})
		}
	})
}

// failing answers with a status, a body that holds a secret, and headers.
func failing(code int, retryAfter string, body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Request-Id", "req-1234")
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.WriteHeader(code)
		w.Write(body)
	}
}

func TestStatusError(t *testing.T) {
	t.Parallel()
	body := []byte(`{"error":"try later","session":"` + secretCanary + `"}`)
	run(t, func(t *testing.T, m testenv.Mode) {
		ts := testenv.NewServer(t, m, failing(http.StatusServiceUnavailable, "2", body))
		// One attempt: this test is about the error's fields (retries of a
		// 503 are retry_test.go's).
		s := ts.Session(t, courier.WithRetry(courier.RetryPolicy{MaxAttempts: 1}))
		resp, err := s.Get(t.Context(), "/items", courier.Query("token", secretCanary))
		var se *courier.StatusError
		if !errors.As(err, &se) {
			t.Fatalf("errors.As(%v, *StatusError) = false", err)
		}
		if resp == nil || resp.StatusCode != http.StatusServiceUnavailable || !bytes.Equal(resp.Bytes(), body) {
			t.Errorf("the Response must come with the StatusError, with its body; got %+v", resp)
		}
		if se.Method != http.MethodGet {
			t.Errorf("Method = %q, want GET", se.Method)
		}
		if strings.Contains(se.URL, secretCanary) || !strings.Contains(se.URL, "token=REDACTED") || !strings.HasPrefix(se.URL, ts.URL+"/items?") {
			t.Errorf("URL = %q, want %s/items?token=REDACTED", se.URL, ts.URL)
		}
		if se.StatusCode != 503 || se.Status != "503 Service Unavailable" {
			t.Errorf("StatusCode, Status = %d, %q; want 503, %q", se.StatusCode, se.Status, "503 Service Unavailable")
		}
		if se.Header.Get("X-Request-Id") != "req-1234" || se.RequestID != "req-1234" {
			t.Errorf("Header X-Request-Id, RequestID = %q, %q; want req-1234", se.Header.Get("X-Request-Id"), se.RequestID)
		}
		if !bytes.Equal(se.Body, body) {
			t.Errorf("Body = %q, want %q", se.Body, body)
		}
		if se.Attempts != 1 {
			t.Errorf("Attempts = %d, want 1", se.Attempts)
		}
		if d, ok := se.RetryAfter(); !ok || d != 2*time.Second {
			t.Errorf("RetryAfter() = %v, %v; want 2s, true", d, ok)
		}
		if msg := err.Error(); strings.Contains(msg, secretCanary) || strings.Contains(msg, "try later") {
			t.Errorf("Error() = %q, must not hold the body or the secret query value", msg)
		}
		if !testenv.HasStatus(err, 503) || testenv.HasStatus(err, 404) {
			t.Errorf("testenv.HasStatus(err, 503), testenv.HasStatus(err, 404) = %v, %v; want true, false", testenv.HasStatus(err, 503), testenv.HasStatus(err, 404))
		}
		for _, kind := range []error{courier.ErrConnLost, courier.ErrTimeout, courier.ErrDecode} {
			if errors.Is(err, kind) {
				t.Errorf("errors.Is(StatusError, %v) = true, want false", kind)
			}
		}
	})
}

func TestStatusErrorRetryAfterDate(t *testing.T) {
	t.Parallel()
	when := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	ts := testenv.NewServer(t, testenv.HTTP1, failing(http.StatusTooManyRequests, when, nil))
	s := ts.Session(t)
	_, err := s.Get(t.Context(), "/")
	var se *courier.StatusError
	if !errors.As(err, &se) {
		t.Fatalf("errors.As(%v, *StatusError) = false", err)
	}
	// Counted from when the response arrived; the date has 1s precision.
	if d, ok := se.RetryAfter(); !ok || d < 85*time.Second || d > 91*time.Second {
		t.Errorf("RetryAfter() for %q = %v, %v; want about 90s, true", when, d, ok)
	}
	if len(se.Body) != 0 {
		t.Errorf("Body = %q, want empty", se.Body)
	}
}

func TestStatusErrorBodyCapped(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T, m testenv.Mode) {
		body := bytes.Repeat([]byte("e"), courier.MaxErrorBody+5000)
		ts := testenv.NewServer(t, m, failing(http.StatusInternalServerError, "", body))
		s := ts.Session(t, courier.WithMiddleware(servedInFull(ts)))
		for _, opts := range [][]courier.RequestOption{nil, {courier.Stream()}} {
			resp, err := s.Get(t.Context(), "/", opts...)
			var se *courier.StatusError
			if !errors.As(err, &se) {
				t.Fatalf("errors.As(%v, *StatusError) = false", err)
			}
			if len(se.Body) != courier.MaxErrorBody || !bytes.Equal(se.Body, body[:courier.MaxErrorBody]) {
				t.Errorf("Body = %d bytes, want the first %d", len(se.Body), courier.MaxErrorBody)
			}
			if errors.Is(err, courier.ErrBodyTooLarge) {
				t.Errorf("a long error body is cut, not an ErrBodyTooLarge")
			}
			resp.Close()
		}
		// The rest was drained: one connection for both.
		if n := ts.NewConns.Load(); n != 1 {
			t.Errorf("server saw %d connections, want 1", n)
		}
	})
}

func TestStatusErrorSmallSessionLimit(t *testing.T) {
	t.Parallel()
	body := bytes.Repeat([]byte("e"), 300)
	ts := testenv.NewServer(t, testenv.HTTP1, failing(http.StatusBadRequest, "", body))
	s := ts.Session(t, courier.WithMaxBodySize(100))
	_, err := s.Get(t.Context(), "/")
	var se *courier.StatusError
	if !errors.As(err, &se) {
		t.Fatalf("errors.As(%v, *StatusError) = false", err)
	}
	if len(se.Body) != 100 {
		t.Errorf("Body = %d bytes, want 100 (the session's limit is smaller than MaxErrorBodySize)", len(se.Body))
	}
}

func TestExpectedStatus(t *testing.T) {
	t.Parallel()
	ts := testenv.NewServer(t, testenv.HTTP1, failing(http.StatusNotFound, "", []byte(`{"error":"none"}`)))
	s := ts.Session(t)
	tests := []struct {
		name    string
		opts    []courier.RequestOption
		wantErr bool
	}{
		{"default", nil, true},
		{"ExpectStatus(404)", []courier.RequestOption{courier.ExpectStatus(404)}, false},
		{"ExpectStatus(409, 404)", []courier.RequestOption{courier.ExpectStatus(409, 404)}, false},
		{"ExpectStatus(409)", []courier.RequestOption{courier.ExpectStatus(409)}, true},
		{"AnyStatus", []courier.RequestOption{courier.AnyStatus()}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, err := s.Get(t.Context(), "/", tt.opts...)
			if got := testenv.HasStatus(err, 404); got != tt.wantErr {
				t.Errorf("HasStatus(err, 404) = %v (err %v), want %v", got, err, tt.wantErr)
			}
			if resp == nil || resp.StatusCode != 404 || string(resp.Bytes()) != `{"error":"none"}` {
				t.Errorf("Response = %+v, want the 404 with its body", resp)
			}
		})
	}
	// An expected status can be decoded with Into.
	var v struct{ Error string }
	if _, err := s.Get(t.Context(), "/", courier.ExpectStatus(404), courier.Into(&v)); err != nil || v.Error != "none" {
		t.Errorf("Get(ExpectStatus(404), Into) = %+v, %v; want {none}, nil", v, err)
	}
}

func TestStatusErrorHTTPBin(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T, m testenv.Mode) {
		ts := testenv.HTTPBin(t, m)
		s := ts.Session(t)
		for _, code := range []int{503, 418, 404, 500} {
			resp, err := s.Get(t.Context(), "/status/"+strconv.Itoa(code))
			var se *courier.StatusError
			if !errors.As(err, &se) || se.StatusCode != code || resp == nil || resp.StatusCode != code {
				t.Errorf("Get(/status/%d) = %v, want a *StatusError %d with the response", code, err, code)
			}
		}
		resp, err := s.Get(t.Context(), "/status/418")
		var se *courier.StatusError
		if errors.As(err, &se) && !bytes.Equal(se.Body, resp.Bytes()) {
			t.Errorf("StatusError.Body = %q, Response.Bytes() = %q; want the same", se.Body, resp.Bytes())
		}
		if _, err := s.Get(t.Context(), "/status/201"); err != nil {
			t.Errorf("Get(/status/201) = %v, want nil", err)
		}
	})
}

// A status error is a response, not a failure: it carries no error kind and
// takes no longer than the exchange.
func TestStatusErrorIsNotAKind(t *testing.T) {
	t.Parallel()
	ts := testenv.NewServer(t, testenv.HTTP1, failing(http.StatusBadGateway, "", nil))
	s := ts.Session(t)
	_, err := s.Get(t.Context(), "/")
	var ce *courier.Error
	if errors.As(err, &ce) {
		t.Errorf("errors.As(StatusError, *courier.Error) = true, want false: %v", err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("errors.Is(StatusError, DeadlineExceeded) = true")
	}
}
