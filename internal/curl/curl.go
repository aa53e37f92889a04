// Package curl writes a curl command line that repeats an HTTP request, for
// courier.Curl and the CLI's --curl.
package curl

import (
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/courierhttp/courier/internal/redact"
)

// MaxBody caps the body a command shows.
const MaxBody = 64 << 10

// Command returns a curl command line that repeats req. With a secret
// predicate, the secrets are masked: the headers it names, URL userinfo and
// token-like query values, and secret fields of a JSON or form body. With a
// nil one, req is shown as it is sent, secrets included.
//
// A replayable body (one with GetBody) is shown up to MaxBody without
// consuming req's; a one-shot body is not. Control characters in a shown
// body are replaced, so the line is safe to paste.
func Command(req *http.Request, secret func(header string) bool) string {
	redacted := secret != nil
	var b strings.Builder
	b.WriteString("curl")
	if req.Method != "" && req.Method != http.MethodGet {
		b.WriteString(" -X " + Quote(req.Method))
	}
	keys := make([]string, 0, len(req.Header))
	for k := range req.Header {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	compressed := false
	for _, k := range keys {
		if k == "Accept-Encoding" {
			compressed = true // curl asks and decodes itself
			continue
		}
		for _, v := range req.Header[k] {
			if redacted && secret(k) {
				v = redact.Mask
			}
			b.WriteString(" -H " + Quote(k+": "+v))
		}
	}
	if compressed {
		b.WriteString(" --compressed")
	}
	switch {
	case req.Body == nil || req.Body == http.NoBody:
	case req.GetBody != nil:
		if rc, err := req.GetBody(); err == nil {
			data, _ := io.ReadAll(io.LimitReader(rc, MaxBody+1))
			rc.Close()
			b.WriteString(" --data-binary " + Quote(body(data, redacted)))
		}
	default:
		b.WriteString(" --data-binary @- # one-shot body, not shown")
	}
	u := req.URL.String()
	if redacted {
		u = redact.URL(req.URL)
	}
	b.WriteString(" " + Quote(u))
	return b.String()
}

// body is the text shown for a request body: an excerpt with secrets masked,
// or the bytes with control characters replaced.
func body(data []byte, redacted bool) string {
	if redacted {
		return redact.Excerpt(data, MaxBody)
	}
	return redact.Printable(data, MaxBody)
}

// Quote quotes s for a POSIX shell.
func Quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
