package courier

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/courierhttp/courier/internal/redact"
)

// follow is the redirect loop, above the retry loop: each hop is a request
// of its own, retried on its own, whose attempts all go through the
// attempt stack.
//
// courier follows redirects in its own loop rather than through
// http.Client's CheckRedirect. The standard loop decides which headers to
// keep by comparing host names only, so it keeps Authorization on an
// https -> http hop and on a change of port; it also hides each hop's
// response. Owning the loop lets courier strip credentials on any change of
// origin, keep them stripped for the rest of the chain, and let the
// *http.Client from Session.Client follow the same rules.
//
// It reports up through its return values: the retry loop's report on the
// last hop, the URLs redirected from, and the last hop's URL.
func (s *Session) follow(c *call, req *http.Request) (*http.Response, outcome, error) {
	var out outcome
	orig := req
	for hops := 0; ; hops++ {
		var resp *http.Response
		var t tries
		var err error
		if s.cache != nil {
			resp, t, err = s.cache.hop(c, req)
		} else {
			resp, t, err = s.retryLoop(c, req)
		}
		out.tries = t
		if err != nil || s.cfg.maxRedirects == 0 || !isRedirect(resp.StatusCode) {
			return resp, out, err
		}
		target, err := redirectTarget(req, resp)
		if target == nil {
			return resp, out, err // no Location: the 3xx is the answer
		}
		if err != nil {
			discardResponse(resp)
			return nil, out, err
		}
		out.redirects = append(out.redirects, redact.URL(req.URL))
		if hops >= s.cfg.maxRedirects {
			discardResponse(resp)
			return nil, out, fmt.Errorf("%w: stopped after %d redirects", ErrTooManyRedirects, s.cfg.maxRedirects)
		}
		if resp.Request == nil {
			// The chain must be walkable (CredentialsAllowed).
			resp.Request = req
		}
		next, err := s.nextRequest(orig, req, resp, target)
		if err == nil && len(s.cfg.hooks) > 0 {
			s.cfg.hooks.onRedirect(RedirectInfo{Request: req, Response: resp, To: target, Hop: hops + 1, Stripped: stripped(req, next)})
		}
		discardResponse(resp)
		if err != nil {
			return nil, out, err
		}
		out.hop = target
		req = next
	}
}

// redirectTarget returns where a redirect leads: nil and no error when it
// has no Location, an error when its Location is not one to follow.
func redirectTarget(req *http.Request, resp *http.Response) (*url.URL, error) {
	loc := resp.Header.Get("Location")
	if loc == "" {
		return nil, nil
	}
	bad := &url.URL{}
	if strings.ContainsFunc(loc, func(r rune) bool { return r < 0x20 || r == 0x7f || r == ' ' }) {
		return bad, errors.New("redirect: bad Location header: control character or space")
	}
	target, err := req.URL.Parse(loc)
	if ue := (*url.Error)(nil); errors.As(err, &ue) {
		err = ue.Err // its text quotes the Location, secrets and all
	}
	if err == nil && (target.Scheme != "http" && target.Scheme != "https" || target.Host == "") {
		err = fmt.Errorf("unsupported target %q", redact.URL(target))
	}
	if err != nil {
		return bad, fmt.Errorf("redirect: bad Location header: %w", err)
	}
	return target, nil
}

// stripped names the headers of req that next, its redirect, lost.
func stripped(req, next *http.Request) []string {
	var names []string
	for k := range req.Header {
		if _, kept := next.Header[k]; !kept {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	return names
}

func isRedirect(code int) bool {
	switch code {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// nextRequest builds the request for the next hop from the previous one.
func (s *Session) nextRequest(orig, prev *http.Request, resp *http.Response, target *url.URL) (*http.Request, error) {
	method := prev.Method
	keepBody := true
	switch resp.StatusCode {
	case http.StatusSeeOther:
		if method != http.MethodHead {
			method = http.MethodGet
		}
		keepBody = false
	case http.StatusMovedPermanently, http.StatusFound:
		// What browsers do (the Fetch standard): POST becomes GET; other
		// methods stay as they are, with their bodies. (net/http turns
		// every method but GET and HEAD into GET here.)
		if method == http.MethodPost {
			method = http.MethodGet
			keepBody = false
		}
	}
	next := prev.Clone(prev.Context())
	next.Method, next.URL, next.Host = method, target, ""
	next.Response = resp
	if !keepBody {
		next.Body, next.GetBody, next.ContentLength = nil, nil, 0
		for k := range next.Header {
			if strings.HasPrefix(k, "Content-") {
				delete(next.Header, k)
			}
		}
		next.Header.Del("Transfer-Encoding")
		next.TransferEncoding = nil
	} else if prev.Body != nil && prev.Body != http.NoBody {
		if prev.GetBody == nil {
			return nil, fmt.Errorf("redirect %d to %s: %w", resp.StatusCode, redact.URL(target), ErrBodyNotReplayable)
		}
		body, err := prev.GetBody()
		if err != nil {
			return nil, fmt.Errorf("redirect: replay body: %w", err)
		}
		next.Body = body
	}
	// Credentials stay with the origin they were meant for. Once removed
	// they stay removed, even if the chain comes back: next is cloned from
	// the previous hop.
	if !sameOrigin(orig.URL, target) {
		for k := range next.Header {
			if s.sensitiveHeader(k) {
				delete(next.Header, k)
			}
		}
	}
	return next, nil
}

// sameOrigin reports whether credentials sent to a may go to b: same scheme,
// host and port, or an upgrade from http to https on the default ports.
func sameOrigin(a, b *url.URL) bool {
	if !strings.EqualFold(a.Hostname(), b.Hostname()) {
		return false
	}
	if a.Scheme == b.Scheme {
		return effectivePort(a) == effectivePort(b)
	}
	return a.Scheme == "http" && b.Scheme == "https" &&
		effectivePort(a) == "80" && effectivePort(b) == "443"
}

func effectivePort(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if u.Scheme == "https" {
		return "443"
	}
	return "80"
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}
