package courier

import (
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"reflect"
	"strings"
)

// GetJSON sends a GET for path and decodes the JSON body of the successful
// response into a T, as [Into] does. On failure it returns the zero T with
// the error and, when one arrived, the [*Response]: a non-2xx status is a
// [*StatusError], a body that is not JSON or does not fit T an [*Error] of
// kind [ErrDecode].
//
//	repo, _, err := courier.GetJSON[Repo](ctx, s, "/repos/octo/hello")
func GetJSON[T any](ctx context.Context, s *Session, path string, opts ...RequestOption) (T, *Response, error) {
	return DoJSON[T](ctx, s, http.MethodGet, path, opts...)
}

// DoJSON is [GetJSON] for any method: send the request body with [JSON].
//
//	repo, _, err := courier.DoJSON[Repo](ctx, s, http.MethodPost, "/user/repos", courier.JSON(newRepo))
func DoJSON[T any](ctx context.Context, s *Session, method, path string, opts ...RequestOption) (T, *Response, error) {
	var v T
	resp, err := s.Do(ctx, method, path, append(opts[:len(opts):len(opts)], Into(&v))...)
	if err != nil {
		var zero T
		return zero, resp, err
	}
	return v, resp, nil
}

// ErrorBody makes courier decode the JSON body of a response it turns into
// a [*StatusError] into a new E, held in StatusError.Decoded as a *E. When
// *E implements error, errors.As reaches it through the StatusError:
//
//	s, _ := courier.New(courier.ErrorBody[GitHubError]())
//	...
//	var ge *GitHubError
//	if errors.As(err, &ge) { ... ge.Message ... }
//
// The body must be JSON (application/json, or any +json type, such as
// application/problem+json); otherwise, or when it does not fit E,
// Decoded is nil and StatusError.DecodeErr says why. Only the first 64 KiB
// of an error body are kept, so a longer one does not decode. As a request
// option it replaces the session's for that request.
//
// Without ErrorBody, an application/problem+json body is decoded into a
// [*Problem].
func ErrorBody[E any]() SharedOption {
	return errorBodyOption{decode: func(body []byte) (any, error) {
		v := new(E)
		if err := json.Unmarshal(body, v); err != nil {
			return nil, err
		}
		return v, nil
	}, name: reflect.TypeFor[*E]().String()}
}

type errorBodyOption struct {
	decode func([]byte) (any, error)
	name   string // *E, for the error that says it did not fit
}

func (o errorBodyOption) applySession(c *config) error {
	c.errorBody = o
	return nil
}

func (o errorBodyOption) applyRequest(r *requestConfig) error {
	r.errorBody = o
	return nil
}

// decodeErrorBody fills e.Decoded (or e.DecodeErr) from its body: into the
// type ErrorBody named, else into a *Problem for problem+json.
func decodeErrorBody(e *StatusError, named errorBodyOption) {
	ct := e.Header.Get("Content-Type")
	if named.decode == nil {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != problemMediaType {
			return
		}
		named = errorBodyOption{decode: decodeProblem, name: "*courier.Problem"}
	}
	if err := checkJSONContentType(ct); err != nil {
		e.DecodeErr = fmt.Errorf("error body not decoded into %s: %w", named.name, err)
		return
	}
	if len(e.Body) == 0 {
		e.DecodeErr = fmt.Errorf("error body not decoded into %s: the body is empty", named.name)
		return
	}
	v, err := named.decode(e.Body)
	if err != nil {
		e.DecodeErr = fmt.Errorf("error body not decoded into %s: %w", named.name, jsonErrorWithExcerpt(err, e.Body))
		return
	}
	e.Decoded = v
}

func decodeProblem(body []byte) (any, error) {
	p := new(Problem)
	if err := json.Unmarshal(body, p); err != nil {
		return nil, err
	}
	return p, nil
}

const problemMediaType = "application/problem+json"

// Problem is an RFC 9457 problem details object, which APIs send as
// application/problem+json with an error status. courier decodes one into
// StatusError.Decoded (unless [ErrorBody] names another type), where
// errors.As finds it:
//
//	var p *courier.Problem
//	if errors.As(err, &p) && p.Type == "https://example.com/probs/out-of-credit" {
//		...
//	}
//
// A member whose value has the wrong JSON type is ignored, as the RFC asks.
type Problem struct {
	// Type is a URI reference that identifies the problem type;
	// "about:blank" when the object has none.
	Type string
	// Title is a short, human-readable summary of the problem type.
	Title string
	// Status is the HTTP status code the server gave the problem, or 0.
	Status int
	// Detail explains this occurrence of the problem.
	Detail string
	// Instance is a URI reference that identifies this occurrence.
	Instance string
	// Extensions holds the other members, undecoded.
	Extensions map[string]json.RawMessage
}

// Error returns the problem's status, title and detail, such as
// "problem 403 You do not have enough credit: Your balance is 30, but that
// costs 50".
func (p *Problem) Error() string {
	var b strings.Builder
	b.WriteString("problem")
	if p.Status != 0 {
		fmt.Fprintf(&b, " %d", p.Status)
	}
	title := p.Title
	if title == "" {
		title = p.Type
	}
	if title != "" {
		b.WriteString(" " + title)
	}
	if p.Detail != "" {
		b.WriteString(": " + p.Detail)
	}
	return b.String()
}

// UnmarshalJSON decodes a problem details object: the five standard members
// into their fields, when their values have the right type, and every other
// member into Extensions.
func (p *Problem) UnmarshalJSON(data []byte) error {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(data, &members); err != nil {
		return err
	}
	if members == nil {
		return fmt.Errorf("courier: problem details must be a JSON object, not null")
	}
	*p = Problem{Type: "about:blank"}
	for name, raw := range members {
		var err error
		switch name {
		case "type":
			err = unmarshalMember(raw, &p.Type)
		case "title":
			err = unmarshalMember(raw, &p.Title)
		case "status":
			err = unmarshalMember(raw, &p.Status)
		case "detail":
			err = unmarshalMember(raw, &p.Detail)
		case "instance":
			err = unmarshalMember(raw, &p.Instance)
		default:
			if p.Extensions == nil {
				p.Extensions = map[string]json.RawMessage{}
			}
			p.Extensions[name] = raw
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// unmarshalMember decodes a standard member, leaving v as it was when the
// value has another JSON type (RFC 9457 section 3.1: ignore it).
func unmarshalMember[V any](raw json.RawMessage, v *V) error {
	var x V
	if err := json.Unmarshal(raw, &x); err != nil {
		if _, ok := err.(*json.UnmarshalTypeError); ok {
			return nil
		}
		return err
	}
	*v = x
	return nil
}

// MarshalJSON encodes the problem as one object: the standard members that
// are set, and the extensions (which cannot replace a standard member).
func (p *Problem) MarshalJSON() ([]byte, error) {
	members := make(map[string]any, len(p.Extensions)+5)
	for name, raw := range p.Extensions {
		members[name] = raw
	}
	set := func(name, v string) {
		if v != "" {
			members[name] = v
		} else {
			delete(members, name)
		}
	}
	set("type", p.Type)
	set("title", p.Title)
	set("detail", p.Detail)
	set("instance", p.Instance)
	delete(members, "status")
	if p.Status != 0 {
		members["status"] = p.Status
	}
	return json.Marshal(members)
}
