// Package auth authenticates HTTP requests: Basic, Bearer, Digest, netrc
// files and request signing, each as a [courier.Middleware], a layer around
// an http.RoundTripper.
//
// # Schemes
//
//   - [Basic]: a user name and password (RFC 7617), sent on every request.
//   - [Bearer] and [BearerSource]: an OAuth 2.0 bearer token (RFC 6750),
//     fixed or asked of a [TokenSource] on every attempt.
//   - [Digest]: HTTP Digest (RFC 7616): MD5, SHA-256 and SHA-512-256, their
//     -sess variants, qop auth and auth-int, userhash. The server's
//     challenge is answered, then reused for later requests to its origin.
//   - [Netrc] and [NetrcFromEnv]: Basic credentials for each host from a
//     netrc file, as curl and Python's requests read it.
//   - [Sign]: a [Signer] of your own (an HMAC, a cloud provider's scheme)
//     called on every attempt; [Body] reads the body it signs.
//
// # With a session, or without
//
// With a [courier.Session], give the layers to [courier.WithAuth]. They run
// below the retry loop, so every attempt is authenticated anew: a retried
// request gets a fresh token, a new Digest nonce count, a new signature.
//
//	s, err := courier.New(
//		courier.WithBaseURL("https://api.example.com"),
//		courier.WithAuth(auth.Basic("ada", secret)),
//	)
//
// Without one, a layer wraps any round tripper; nil means
// http.DefaultTransport:
//
//	client := &http.Client{Transport: auth.Digest("ada", secret)(nil)}
//
// # Origins and redirects
//
// Credentials are meant for the origin (scheme, host and port) of the
// request they are added to. Every layer calls [courier.CredentialsAllowed]
// before adding anything: on a redirect hop that left the first request's
// origin, or went from https to http, it adds nothing, and that holds for
// the rest of the chain, even when it comes back. This works the same in a
// session's redirect loop and in http.Client's, since both link each hop to
// the previous one through Request.Response. A Digest layer does not answer
// the challenge of a host it was not meant for: that 401 is returned as is.
//
// Netrc is the exception that netrc files define: a file names the host of
// each entry, so a redirect hop to a host named in the file gets that host's
// entry. The file's default entry follows the rule above, and nothing is
// sent anywhere once a chain has gone from https to http.
//
// A session adds its own rule on top: its layers apply only to its
// credential origins (the base URL's, and those of
// [courier.WithCredentialOrigins]); a request elsewhere skips them. A layer
// used without a session applies to every first request it is given.
//
// # Behaviour common to every layer
//
// A layer never changes the request it is given: it clones it. A request
// that already has an Authorization header is sent as it is (the explicit
// header wins), except through [Sign], whose Signer decides. Responses come
// back as responses: a 401 is not an error. Secrets never appear in error
// messages, which name the problem instead ("auth: basic: user name
// contains ':'"). A constructor that cannot return an error ([Basic],
// [Bearer], [BearerSource], [Sign]) reports bad input from every RoundTrip,
// having sent nothing.
//
// # Concurrency
//
// Every layer is safe for concurrent use. The Digest layer keeps one
// challenge per origin under a mutex; concurrent requests share it, each
// with its own nonce count and client nonce. A [TokenSource] and a [Signer]
// are called concurrently and must allow it.
package auth
