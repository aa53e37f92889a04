package courier

import (
	"net/http"

	"github.com/courierhttp/courier/internal/curl"
)

// Curl returns a curl command line that repeats req, for debugging, with its
// secrets redacted: the headers the session counts as secrets (see
// [WithSensitiveHeaders]), URL userinfo and token-like query values, and
// secret fields of a JSON or form body. A replayable body (every body
// courier encodes) is shown, up to 64 KiB, without consuming req's; a
// one-shot body is not. Control characters in a shown body are replaced, so
// the line is safe to paste.
func (s *Session) Curl(req *http.Request) string {
	return curl.Command(req, s.sensitiveHeader)
}
