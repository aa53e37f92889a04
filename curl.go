package courier

import (
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/courierhttp/courier/internal/redact"
)

// maxCurlBody caps the body shown by Curl.
const maxCurlBody = 64 << 10

// Curl returns a curl command line that repeats req, for debugging, with its
// secrets redacted: Authorization, Cookie and the other sensitive headers,
// URL userinfo and token-like query values, and secret fields of a JSON or
// form body. A replayable body (every body courier encodes) is shown, up to
// 64 KiB, without consuming req's; a one-shot body is not. Control
// characters in a shown body are replaced, so the line is safe to paste.
func Curl(req *http.Request) string {
	var b strings.Builder
	b.WriteString("curl")
	if req.Method != "" && req.Method != http.MethodGet {
		b.WriteString(" -X " + shellQuote(req.Method))
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
			if redact.IsSensitiveHeader(k) {
				v = redact.Mask
			}
			b.WriteString(" -H " + shellQuote(k+": "+v))
		}
	}
	if compressed {
		b.WriteString(" --compressed")
	}
	switch {
	case req.Body == nil || req.Body == http.NoBody:
	case req.GetBody != nil:
		if rc, err := req.GetBody(); err == nil {
			data, _ := io.ReadAll(io.LimitReader(rc, maxCurlBody+1))
			rc.Close()
			b.WriteString(" --data-binary " + shellQuote(redact.Excerpt(data, maxCurlBody)))
		}
	default:
		b.WriteString(" --data-binary @- # one-shot body, not shown")
	}
	b.WriteString(" " + shellQuote(redact.URL(req.URL)))
	return b.String()
}

// Curl returns a curl command line that repeats the final request; see
// [Curl].
func (r *Response) Curl() string {
	if r.Request == nil {
		return ""
	}
	return Curl(r.Request)
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
