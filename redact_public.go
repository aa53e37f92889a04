package courier

import (
	"net/url"

	"github.com/courierhttp/courier/internal/redact"
)

// RedactURL returns u as text with its userinfo and the values of
// token-like query parameters (token, access_token, api_key, sig, password,
// client_secret, ...) replaced by "REDACTED": the form courier uses in its
// errors and logs, for integrations (traces, metrics) that show URLs.
func RedactURL(u *url.URL) string { return redact.URL(u) }
