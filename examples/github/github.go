// Package github is a small typed client for a GitHub-like REST API, built
// on a courier session in a few lines per endpoint. It is an example of
// courier's API-client layer, not a complete GitHub client:
//
//   - Repos pages through a user's repositories with package paginate
//     (RFC 8288 Link headers), one courier request per page;
//   - Repo and CreateRepo decode into typed results with courier.GetJSON and
//     courier.DoJSON;
//   - an error status decodes into *Error (GitHub's error body), found with
//     errors.As, beside courier's *StatusError;
//   - CreateRepo sends an Idempotency-Key, the same on every attempt, so a
//     failed create is retried safely;
//   - the session paces requests by the X-RateLimit-Remaining and
//     X-RateLimit-Reset headers GitHub sends: when none are left it waits
//     for the reset instead of provoking a 403 or 429.
package github

import (
	"context"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strings"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/auth"
	"github.com/courierhttp/courier/paginate"
)

// Client calls the API at one base URL with one token. Make one with New,
// share it, and Close it when done.
type Client struct {
	s *courier.Session
}

// New returns a client for the API at baseURL (such as
// "https://api.github.com"), authenticated with token when it is not
// empty. opts are added to the session's, after the client's own.
func New(baseURL, token string, opts ...courier.Option) (*Client, error) {
	base := []courier.Option{
		courier.WithBaseURL(baseURL),
		courier.Header("Accept", "application/vnd.github+json"),
		courier.Header("X-GitHub-Api-Version", "2022-11-28"),
		courier.ErrorBody[Error](),
		courier.WithIdempotencyKeys(true),
	}
	if token != "" {
		base = append(base, courier.WithAuth(auth.Bearer(token)))
	}
	s, err := courier.New(append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("github: %w", err)
	}
	return &Client{s: s}, nil
}

// Close closes the client's session, waiting for requests in flight until
// ctx ends.
func (c *Client) Close(ctx context.Context) error { return c.s.Close(ctx) }

// Stats returns the session's counters: requests, retries, paced attempts.
func (c *Client) Stats() courier.Stats { return c.s.Stats() }

// Repo is a repository.
type Repo struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	FullName    string `json:"full_name"`
	Private     bool   `json:"private"`
	Description string `json:"description"`
}

// NewRepo is what CreateRepo sends.
type NewRepo struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Private     bool   `json:"private"`
}

// Error is the API's error body, as GitHub sends it with a 4xx or 5xx
// status. Find it with errors.As(err, &e) where e is a *Error.
type Error struct {
	Message          string       `json:"message"`
	DocumentationURL string       `json:"documentation_url"`
	Errors           []FieldError `json:"errors"`
}

// FieldError says what was wrong with one field of a request (a 422).
type FieldError struct {
	Resource string `json:"resource"`
	Field    string `json:"field"`
	Code     string `json:"code"`
}

// Error returns the message and the fields' errors.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("github: " + e.Message)
	for i, f := range e.Errors {
		if i == 0 {
			b.WriteString(":")
		}
		fmt.Fprintf(&b, " %s.%s %s", f.Resource, f.Field, f.Code)
	}
	return b.String()
}

// Repos yields every repository of owner, a page of 100 at a time, and
// stops at the first error, which it yields.
func (c *Client) Repos(ctx context.Context, owner string, opts ...paginate.Option) iter.Seq2[Repo, error] {
	path := "/users/" + url.PathEscape(owner) + "/repos?per_page=100"
	return paginate.Walk(ctx, paginate.Links[Repo](c.s, path), opts...).All()
}

// Repo returns owner's repository name.
func (c *Client) Repo(ctx context.Context, owner, name string) (Repo, error) {
	r, _, err := courier.GetJSON[Repo](ctx, c.s, "/repos/"+url.PathEscape(owner)+"/"+url.PathEscape(name))
	return r, err
}

// CreateRepo creates a repository for the authenticated user. The session
// gives the POST an Idempotency-Key, the same on each attempt, so a create
// that failed on the way (a 502, a reset) is retried without making two.
func (c *Client) CreateRepo(ctx context.Context, in NewRepo) (Repo, error) {
	r, _, err := courier.DoJSON[Repo](ctx, c.s, http.MethodPost, "/user/repos", courier.JSON(in))
	return r, err
}
