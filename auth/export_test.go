package auth

import "github.com/courierhttp/courier"

// DigestWithCnonce is Digest with its client nonces taken from cnonce, so
// that a test can check the RFC 7616 vectors.
func DigestWithCnonce(user, password string, cnonce func() string) courier.Middleware {
	return newDigest(user, password, cnonce)
}
