package courier_test

// Typed helpers: GetJSON and DoJSON, error bodies decoded into the caller's
// type with ErrorBody, and RFC 9457 problem details.

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/internal/testenv"
)

type repo struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

// apiError is an API's own error body; *apiError is an error, so errors.As
// finds it through the StatusError.
type apiError struct {
	Message string `json:"message"`
	Code    string `json:"code"`
}

func (e *apiError) Error() string { return "api: " + e.Code + ": " + e.Message }

// plainError is an error body type that is not an error.
type plainError struct {
	Reason string `json:"reason"`
}

func TestGetJSONAndDoJSON(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T, m testenv.Mode) {
		ts := testenv.NewServer(t, m, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch {
			case r.Method == http.MethodGet && r.URL.Path == "/repos/1":
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, `{"id":1,"name":"hello"}`)
			case r.Method == http.MethodPost && r.URL.Path == "/repos":
				var in repo
				if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
					http.Error(w, err.Error(), http.StatusBadRequest)
					return
				}
				in.ID = 7
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusCreated)
				json.NewEncoder(w).Encode(in)
			case r.URL.Path == "/html":
				w.Header().Set("Content-Type", "text/html")
				io.WriteString(w, "<html>")
			default:
				http.NotFound(w, r)
			}
		}))
		s := ts.Session(t, noRetry)
		ctx := t.Context()

		got, resp, err := courier.GetJSON[repo](ctx, s, "/repos/1")
		if err != nil || got != (repo{1, "hello"}) || resp == nil || resp.StatusCode != http.StatusOK {
			t.Errorf("GetJSON = %+v, %v, %v; want {1 hello}, a 200, nil", got, resp, err)
		}

		made, resp, err := courier.DoJSON[repo](ctx, s, http.MethodPost, "/repos", courier.JSON(repo{Name: "new"}))
		if err != nil || made != (repo{7, "new"}) || resp.StatusCode != http.StatusCreated {
			t.Errorf("DoJSON POST = %+v, %v, %v; want {7 new}, a 201, nil", made, resp, err)
		}

		got, resp, err = courier.GetJSON[repo](ctx, s, "/repos/2")
		var se *courier.StatusError
		if !errors.As(err, &se) || se.StatusCode != http.StatusNotFound || got != (repo{}) || resp == nil {
			t.Errorf("GetJSON of a 404 = %+v, %v, %v; want the zero repo, the response, a *StatusError", got, resp, err)
		}

		_, _, err = courier.GetJSON[repo](ctx, s, "/html")
		requireIs(t, err, courier.ErrDecode)
		if err != nil && !strings.Contains(err.Error(), `"text/html", not JSON`) {
			t.Errorf("err = %v, want it to name the Content-Type", err)
		}
	})
}

// errorBodyServer answers every request with status, contentType and body,
// to a session made with opts.
func errorBodyServer(t *testing.T, status int, contentType, body string, opts ...courier.Option) *courier.Session {
	ts := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	return ts.Session(t, append([]courier.Option{noRetry}, opts...)...)
}

func TestErrorBody(t *testing.T) {
	t.Parallel()
	const problem = `{"type":"https://example.com/probs/out-of-credit","title":"You do not have enough credit.",` +
		`"status":403,"detail":"Your current balance is 30, but that costs 50.","instance":"/account/12345/msgs/abc",` +
		`"balance":30,"accounts":["/account/12345","/account/67890"]}`
	tests := []struct {
		name        string
		status      int
		contentType string
		body        string
		session     []courier.Option
		request     []courier.RequestOption
		check       func(t *testing.T, se *courier.StatusError, err error)
	}{
		{
			name: "session type, error body", status: 422, contentType: "application/json",
			body:    `{"message":"Validation Failed","code":"invalid"}`,
			session: []courier.Option{courier.ErrorBody[apiError]()},
			check: func(t *testing.T, se *courier.StatusError, err error) {
				var ae *apiError
				if !errors.As(err, &ae) || ae.Message != "Validation Failed" || ae.Code != "invalid" {
					t.Errorf("errors.As(*apiError) = %+v, want {Validation Failed invalid}", ae)
				}
				if se.Decoded != any(ae) || se.DecodeErr != nil {
					t.Errorf("Decoded, DecodeErr = %v, %v; want the *apiError, nil", se.Decoded, se.DecodeErr)
				}
			},
		},
		{
			name: "request type replaces the session's", status: 400, contentType: "application/json; charset=utf-8",
			body:    `{"reason":"no"}`,
			session: []courier.Option{courier.ErrorBody[apiError]()},
			request: []courier.RequestOption{courier.ErrorBody[plainError]()},
			check: func(t *testing.T, se *courier.StatusError, err error) {
				pe, ok := se.Decoded.(*plainError)
				if !ok || pe.Reason != "no" {
					t.Errorf("Decoded = %#v, want &plainError{no}", se.Decoded)
				}
				var ae *apiError
				if errors.As(err, &ae) {
					t.Errorf("errors.As found an *apiError: %v", ae)
				}
			},
		},
		{
			name: "wrong content type", status: 502, contentType: "text/html",
			body:    `<html><body>Bad Gateway</body></html>`,
			session: []courier.Option{courier.ErrorBody[apiError]()},
			check: func(t *testing.T, se *courier.StatusError, err error) {
				var ae *apiError
				if se.Decoded != nil || errors.As(err, &ae) {
					t.Errorf("Decoded = %v, want nil for an HTML body", se.Decoded)
				}
				if se.DecodeErr == nil || !strings.Contains(se.DecodeErr.Error(), `*courier_test.apiError: Content-Type is "text/html", not JSON`) {
					t.Errorf("DecodeErr = %v, want it to name the type and the Content-Type", se.DecodeErr)
				}
				if string(se.Body) != `<html><body>Bad Gateway</body></html>` {
					t.Errorf("Body = %q, want the HTML kept", se.Body)
				}
			},
		},
		{
			name: "JSON that does not fit", status: 500, contentType: "application/json",
			body:    `{"message": 42}`,
			session: []courier.Option{courier.ErrorBody[apiError]()},
			check: func(t *testing.T, se *courier.StatusError, err error) {
				if se.Decoded != nil || se.DecodeErr == nil || !strings.Contains(se.DecodeErr.Error(), `body starts "{\"message\": 42}"`) {
					t.Errorf("Decoded, DecodeErr = %v, %v; want nil and an error quoting the body", se.Decoded, se.DecodeErr)
				}
			},
		},
		{
			name: "empty body", status: 500, contentType: "application/json",
			session: []courier.Option{courier.ErrorBody[apiError]()},
			check: func(t *testing.T, se *courier.StatusError, err error) {
				if se.Decoded != nil || se.DecodeErr == nil || !strings.Contains(se.DecodeErr.Error(), "empty") {
					t.Errorf("Decoded, DecodeErr = %v, %v; want nil and an error saying the body is empty", se.Decoded, se.DecodeErr)
				}
			},
		},
		{
			name: "problem details with extensions", status: 403, contentType: "application/problem+json",
			body: problem,
			check: func(t *testing.T, se *courier.StatusError, err error) {
				var p *courier.Problem
				if !errors.As(err, &p) {
					t.Fatalf("errors.As(*Problem) = false; Decoded = %v, DecodeErr = %v", se.Decoded, se.DecodeErr)
				}
				if p.Type != "https://example.com/probs/out-of-credit" || p.Title != "You do not have enough credit." ||
					p.Status != 403 || p.Detail != "Your current balance is 30, but that costs 50." || p.Instance != "/account/12345/msgs/abc" {
					t.Errorf("Problem = %+v", p)
				}
				var balance int
				var accounts []string
				if err := json.Unmarshal(p.Extensions["balance"], &balance); err != nil || balance != 30 {
					t.Errorf("Extensions[balance] = %s, want 30", p.Extensions["balance"])
				}
				if err := json.Unmarshal(p.Extensions["accounts"], &accounts); err != nil || len(accounts) != 2 {
					t.Errorf("Extensions[accounts] = %s, want two accounts", p.Extensions["accounts"])
				}
				if len(p.Extensions) != 2 {
					t.Errorf("Extensions = %v, want balance and accounts only", p.Extensions)
				}
				if want := "problem 403 You do not have enough credit.: Your current balance is 30, but that costs 50."; p.Error() != want {
					t.Errorf("Problem.Error() = %q, want %q", p.Error(), want)
				}
			},
		},
		{
			name: "problem details with members of the wrong type", status: 404,
			contentType: "application/problem+json; charset=utf-8",
			body:        `{"title":"Not here","status":"404","detail":["x"]}`,
			check: func(t *testing.T, se *courier.StatusError, err error) {
				var p *courier.Problem
				if !errors.As(err, &p) || p.Title != "Not here" || p.Status != 0 || p.Detail != "" || p.Type != "about:blank" {
					t.Errorf("Problem = %+v, want the title only, type about:blank (members of the wrong type ignored)", p)
				}
			},
		},
		{
			name: "problem details not an object", status: 500, contentType: "application/problem+json",
			body: `["nope"]`,
			check: func(t *testing.T, se *courier.StatusError, err error) {
				if se.Decoded != nil || se.DecodeErr == nil || !strings.Contains(se.DecodeErr.Error(), "*courier.Problem") {
					t.Errorf("Decoded, DecodeErr = %v, %v; want nil and an error naming *courier.Problem", se.Decoded, se.DecodeErr)
				}
			},
		},
		{
			name: "a named type takes problem details too", status: 400, contentType: "application/problem+json",
			body:    `{"title":"Bad","message":"m","code":"c"}`,
			session: []courier.Option{courier.ErrorBody[apiError]()},
			check: func(t *testing.T, se *courier.StatusError, err error) {
				var ae *apiError
				var p *courier.Problem
				if !errors.As(err, &ae) || ae.Code != "c" || errors.As(err, &p) {
					t.Errorf("Decoded = %#v, want the *apiError and no *Problem", se.Decoded)
				}
			},
		},
		{
			name: "plain JSON without a named type is left alone", status: 500, contentType: "application/json",
			body: `{"message":"x"}`,
			check: func(t *testing.T, se *courier.StatusError, err error) {
				if se.Decoded != nil || se.DecodeErr != nil {
					t.Errorf("Decoded, DecodeErr = %v, %v; want nil, nil", se.Decoded, se.DecodeErr)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := errorBodyServer(t, tt.status, tt.contentType, tt.body, tt.session...)
			_, err := s.Get(t.Context(), "/x", tt.request...)
			var se *courier.StatusError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want a *StatusError", err)
			}
			if strings.Contains(err.Error(), tt.body) && tt.body != "" {
				t.Errorf("err = %q quotes the body", err)
			}
			tt.check(t, se, err)
		})
	}
}

// The error body decodes with the retry budget's Stop still matched.
func TestErrorBodyKeepsStop(t *testing.T) {
	t.Parallel()
	ts := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `{"title":"Down for maintenance"}`)
	}))
	s := ts.Session(t, fast)
	_, err := s.Get(t.Context(), "/")
	requireIs(t, err, courier.ErrRetryAfterTooLong)
	var p *courier.Problem
	if !errors.As(err, &p) || p.Title != "Down for maintenance" {
		t.Errorf("errors.As(*Problem) = %v, want the problem", p)
	}
}

func TestProblemJSONRoundTrip(t *testing.T) {
	t.Parallel()
	in := &courier.Problem{Type: "https://example.com/probs/x", Title: "X", Status: 409, Detail: "d",
		Extensions: map[string]json.RawMessage{"balance": json.RawMessage(`30`), "title": json.RawMessage(`"shadow"`)}}
	data, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"balance":30,"detail":"d","status":409,"title":"X","type":"https://example.com/probs/x"}`
	if string(data) != want {
		t.Errorf("Marshal = %s, want %s (a standard member wins over an extension)", data, want)
	}
	var out courier.Problem
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	if out.Type != in.Type || out.Title != "X" || out.Status != 409 || out.Detail != "d" || string(out.Extensions["balance"]) != "30" {
		t.Errorf("round trip = %+v", out)
	}
	for _, bad := range []string{`null`, `"x"`, `[1]`, `{`} {
		var p courier.Problem
		if err := json.Unmarshal([]byte(bad), &p); err == nil {
			t.Errorf("Unmarshal(%s) = nil error, want one", bad)
		}
	}
}
