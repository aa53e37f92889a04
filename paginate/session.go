package paginate

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/courierhttp/courier"
)

// ErrOtherOrigin: a Link rel="next" led to another origin (scheme, host or
// port) than its page's, and not to one given to [AllowOrigins]. A walk
// does not follow it: the pages of one list come from one API, and a link
// elsewhere is a bug or an attack.
var ErrOtherOrigin = errors.New("paginate: next page on another origin")

// Links fetches pages whose body is a JSON array of T, following the
// response's Link rel="next" (GitHub, GitLab). The first page is path
// (resolved against the session's base URL, query included); every next
// link is resolved against the URL of the page that gave it, and must stay
// on that page's origin ([ErrOtherOrigin]) unless the walk allows its
// origin with [AllowOrigins]. opts apply to every page:
// give the first page's query in path rather than with courier.Query, since
// next links carry their own.
func Links[T any](s *courier.Session, path string, opts ...courier.RequestOption) Fetcher[T] {
	return LinksOf(s, path, func(items []T) []T { return items }, opts...)
}

// LinksOf is [Links] for a body that decodes into P, whose items returns
// the page's items: an object that wraps its list, such as {"items": [...]}.
func LinksOf[T, P any](s *courier.Session, path string, items func(P) []T, opts ...courier.RequestOption) Fetcher[T] {
	return func(ctx context.Context, cursor string) (Page[T], error) {
		target := path
		if cursor != "" {
			target = cursor
		}
		var body P
		resp, err := s.Get(ctx, target, append(opts[:len(opts):len(opts)], courier.Into(&body))...)
		if err != nil {
			return Page[T]{}, err
		}
		page := Page[T]{Items: items(body)}
		next := LinkTarget(resp.Header.Values("Link"), "next")
		if next == "" {
			return page, nil
		}
		u, err := resp.URL.Parse(next)
		if err != nil {
			return Page[T]{}, fmt.Errorf("paginate: Link rel=\"next\": %w", err)
		}
		// Each page stays on the origin of the one before, so all on the
		// first page's, unless the walk allows the next one's.
		if !sameOrigin(resp.URL, u) && !allowedOrigin(ctx, u) {
			return Page[T]{}, fmt.Errorf("%w: %s", ErrOtherOrigin, courier.RedactURL(u))
		}
		page.Next = u.String()
		return page, nil
	}
}

// Cursor fetches pages whose body decodes into P, where next returns a
// page's items and the cursor of the next page ("" on the last), sent as the
// query parameter param of the next request (Stripe's starting_after with
// has_more, Slack's cursor with response_metadata.next_cursor). The first
// page is path as it is; opts apply to every page.
func Cursor[T, P any](s *courier.Session, path, param string, next func(P) (items []T, cursor string), opts ...courier.RequestOption) Fetcher[T] {
	return func(ctx context.Context, cursor string) (Page[T], error) {
		o := opts[:len(opts):len(opts)]
		if cursor != "" {
			o = append(o, courier.Query(param, cursor))
		}
		var body P
		if _, err := s.Get(ctx, path, append(o, courier.Into(&body))...); err != nil {
			return Page[T]{}, err
		}
		items, nextCursor := next(body)
		return Page[T]{Items: items, Next: nextCursor}, nil
	}
}

// Pages fetches numbered pages, the number sent as the query parameter
// param, from first on, until a page has no items; items returns a page's
// items from its body P. With offsets false, param counts pages (?page=1,
// 2, 3...); with offsets true it is an offset that grows by the number of
// items each page held (?offset=0, 50, 100...).
func Pages[T, P any](s *courier.Session, path, param string, first int, offsets bool, items func(P) []T, opts ...courier.RequestOption) Fetcher[T] {
	return func(ctx context.Context, cursor string) (Page[T], error) {
		n := first
		if cursor != "" {
			var err error
			if n, err = strconv.Atoi(cursor); err != nil {
				return Page[T]{}, fmt.Errorf("paginate: page cursor %q is not a number", cursor)
			}
		}
		var body P
		o := append(opts[:len(opts):len(opts)], courier.Query(param, strconv.Itoa(n)), courier.Into(&body))
		if _, err := s.Get(ctx, path, o...); err != nil {
			return Page[T]{}, err
		}
		page := Page[T]{Items: items(body)}
		if len(page.Items) == 0 {
			return page, nil
		}
		step := 1
		if offsets {
			step = len(page.Items)
		}
		page.Next = strconv.Itoa(n + step)
		return page, nil
	}
}

// sameOrigin reports whether a and b have the same scheme, host and port.
func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Hostname(), b.Hostname()) && port(a) == port(b)
}

func port(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if strings.EqualFold(u.Scheme, "https") {
		return "443"
	}
	return "80"
}
