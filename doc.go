// Package courier is an HTTP client for Go services that call other people's
// APIs: a [Session] is one configured, long-lived client identity that a
// service creates at start-up, injects where it is needed, and closes at
// shutdown, doing the right thing by default.
//
// # Sessions
//
// [New] builds a session from options and validates all of them, returning an
// [*OptionError] that names the first bad setting:
//
//	s, err := courier.New(
//		courier.WithBaseURL("https://api.example.com/v1"),
//		courier.Header("Accept", "application/json"),
//		courier.WithTimeout(10*time.Second),
//	)
//	if err != nil { ... }
//	defer s.Close(ctx)
//
// A session never changes after New and is safe for concurrent use. It holds
// one tuned connection pool (256 idle connections per host, HTTP/2, TLS 1.2
// minimum, proxy from the environment), so requests reuse connections.
//
// Request paths are appended to the base URL's path, as httpx does: base
// "https://api.example.com/v1" and path "/users/42" give
// "https://api.example.com/v1/users/42". A full URL is used as given. A path
// whose ".." would climb above the base path is an error, not a silent
// rewrite.
//
// # Options and defaults
//
// One rule holds for every option, in this package and its sub-packages:
// zero means the default. A zero field of [Timeouts], [Pool], [RetryPolicy],
// [RetryBudget] or [BreakerPolicy], and a zero given to [WithTimeout],
// [Timeout], [WithMaxBodySize] or [WithRedirects], takes the default that its
// documentation gives. "None" is spelled with a constant: [NoTimeout],
// [NoRedirects], RetryPolicy{MaxAttempts: 1}. Options apply in order, and for
// a setting with one value the last one wins; options that add (Header,
// Query, WithMiddleware, WithHooks) accumulate.
//
// # Requests and responses
//
// [Session.Get], [Session.Post] and their siblings, and the general
// [Session.Do], take per-request options: [Header], [AddHeader],
// [RemoveHeader], [Query], [Cookie], [BasicAuth], [JSON], [Form], [Body],
// [BodyReader], [Timeout], [ExpectStatus], [AnyStatus], [Into] and [Stream].
//
//	var user User
//	resp, err := s.Get(ctx, "/users/42", courier.Into(&user))
//
// By default the whole body is read (up to 10 MiB, see [WithMaxBodySize]),
// decoded from gzip or deflate, and the connection goes back to the pool
// before Get returns: use [Response.Bytes] or
// [Response.Decode]. With [Stream] the caller reads [Response.Body] and must
// call [Response.Close]; a body nobody closes is reported by [Session.Close].
//
// # Timeouts
//
// Nothing waits forever unless asked to with [NoTimeout]. The defaults: dial
// 10s, TLS handshake 10s, response headers 30s ([Timeouts]), the whole
// request 30s ([WithTimeout]). The caller's context can only shorten them. A
// streamed body is bounded instead by an idle timeout between reads (30s),
// so a long download is not cut while a stalled one fails.
//
// # Errors
//
// Every failure is an [*Error] that says what was attempted (method, URL with
// secrets redacted, attempts) and has exactly one [Kind], from one closed
// list, matched with [errors.Is]: [ErrInvalidRequest], [ErrClosed],
// [ErrCanceled], [ErrTimeout], [ErrConnectTimeout], [ErrDNS], [ErrConnect],
// [ErrTLS], [ErrConnLost], [ErrBodyTooLarge], [ErrDecode],
// [ErrTooManyRedirects], [ErrBodyNotReplayable], [ErrCircuitOpen],
// [ErrRateLimited], [ErrRefused], [ErrNoSlot], [ErrBlocked], [ErrOther]. Why retrying stopped is its own field, Stop:
// [ErrRetryBudget], [ErrRetryAfterTooLong], [ErrRetryDeadline],
// [ErrMaybeApplied], and also [ErrBodyNotReplayable] and [ErrCircuitOpen].
// The standard cause stays in the chain: errors.Is(err,
// context.DeadlineExceeded) holds for a timeout.
//
// A response with a status outside 2xx is a [*StatusError], matched with
// [errors.As], returned together with the [*Response]:
//
//	var se *courier.StatusError
//	if errors.As(err, &se) && se.StatusCode == http.StatusNotFound { ... }
//
// [ExpectStatus] and [AnyStatus] make other statuses a success for one
// request.
//
// # Typed results and errors
//
// [GetJSON] and [DoJSON] decode a successful JSON body into a value of the
// caller's type. [ErrorBody] decodes an error body into the caller's type
// E, held in StatusError.Decoded; errors.As finds it when *E is an error.
// Without it an RFC 9457 application/problem+json body is decoded into a
// [*Problem]:
//
//	repo, _, err := courier.GetJSON[Repo](ctx, s, "/repos/octo/hello")
//	var p *courier.Problem
//	if errors.As(err, &p) { ... p.Title, p.Detail, p.Extensions ... }
//
// Package github.com/courierhttp/courier/paginate walks paginated endpoints
// (Link headers, cursors, page numbers) a page at a time, each page one
// request through the session.
//
// # Credentials
//
// A session's credentials are bound to origins: by default the base URL's
// origin alone ([WithCredentialOrigins] adds others). They are its default
// headers that carry secrets (Authorization, Cookie, Proxy-Authorization,
// X-Api-Key and the like, and those named with [WithSensitiveHeaders]), its
// query parameters, and its authentication layers ([WithAuth], with the
// schemes of package github.com/courierhttp/courier/auth: Basic, Bearer,
// Digest, netrc, request signing, and OAuth2 in auth/oauth2). A request to
// another origin, by full URL or through [Session.Client], gets the
// session's other defaults but none of those. A header set on the request
// itself ([Header], [BasicAuth]) is always sent to that request's origin.
//
// Authentication layers run on every attempt, so that a retried request is
// authenticated (signed, counted, refreshed) again, and on every redirect hop
// that stays on the first request's origin ([CredentialsAllowed]).
//
// # Cookies
//
// Every session has a cookie jar, a
// [github.com/courierhttp/courier/cookiejar.Jar] unless [WithJar] gives
// another (or nil, for none): the Set-Cookie of every response, each
// redirect hop and each retried attempt included, is stored with the rules
// of RFC 6265 and the public suffix list, and the cookies that match a
// request are sent with it. Package
// github.com/courierhttp/courier/sessionfile saves a session's identity
// (headers, cookies, auth) to a file and loads it again. [Cookie] adds a
// cookie that is not stored: to every request toward the session's origins,
// or to one request and its same-origin redirect hops.
//
// # Retries
//
// Sessions retry by default, in one loop that [Session.Client] users get
// too ([RetryPolicy], [WithRetry]): three attempts in all, with exponential
// backoff and full jitter (100ms base, 20s cap). Only what is safe is
// retried: idempotent methods, or a POST or PATCH carrying an
// Idempotency-Key header ([WithIdempotencyKeys] adds one to each), or any
// request that was never sent (a failure to connect); only failures a later
// attempt may not meet (connection errors, timeouts, 408, 425, 429, 502,
// 503, 504; other 5xx if a ShouldRetry asks); never 501 or another 4xx,
// never a body that cannot be replayed. A Retry-After hint is obeyed, and
// one beyond the cap (60s) or the deadline stops at once with
// [ErrRetryAfterTooLong]. No sleep starts that cannot end before the
// deadline ([ErrRetryDeadline]).
//
// Retries are drawn from a token budget per host ([RetryBudget], in the
// style of the AWS SDKs): when a host fails everything, a session sends it
// about one attempt per request, not three, and says so with
// [ErrRetryBudget]. A per-host circuit breaker ([WithBreaker],
// [ErrCircuitOpen]), a client-side rate limit ([WithRateLimit],
// [ErrRateLimited]) and hedging of slow idempotent requests
// (RetryPolicy.HedgeAfter) are options. A server's own rate-limit headers
// pace the session: when a response says the host has nothing left
// (RateLimit r=0, or RateLimit-Remaining / X-RateLimit-Remaining 0 with
// their reset), requests to it wait for the reset within their deadline,
// and fail at once with [ErrRateLimited] when it is past it
// ([Stats].Paced counts the waits, and the log has a line for each). A
// resend that net/http makes on its own, of a request a reused connection
// dropped before the server answered, is no attempt: the server never
// processed the first copy.
//
// # Observability
//
// [WithLogger] logs one line per attempt through log/slog, with secrets
// redacted; a healthy service logs nothing above Debug. [WithHooks] calls
// functions before and after each attempt, before each retry and redirect,
// and on a failure, each with an [AttemptInfo] that gives the attempt's
// Kind and Stop. [Session.Stats] returns counters (requests, attempts,
// retries by status and by kind, failures by kind, statuses, connections
// opened and reused, budgets, breakers), and every [Response] carries
// [Timings]. None of it allocates on a request that succeeds.
//
// # Redirects
//
// Sessions follow up to 10 redirects ([WithRedirects]) in their own loop,
// not http.Client's, whose rule for dropping credentials compares host names
// only. 301 and 302 turn POST into GET, 303 turns anything but HEAD into GET
// (the body and its Content-* headers go), 307 and 308 replay the method and
// body ([ErrBodyNotReplayable] when the body cannot be read again).
// Authorization, Cookie, Proxy-Authorization, Proxy-Authenticate and
// headers marked with [WithSensitiveHeaders] (every value of each) are
// removed when a redirect changes origin (scheme, host or port; http to
// https on default ports keeps them) and stay removed for the rest of the
// chain, even if it comes back. Jar cookies follow their own rules (they
// belong to a host). Each hop's response goes through [Hooks].OnRedirect
// and the jar; [Response].Redirects lists the chain, and the [*Error] of
// [ErrTooManyRedirects] carries it.
//
// # Third-party SDKs
//
// [Session.Client] returns an *http.Client that sends requests through the
// same path with the standard library's semantics: a 404 is a response, not
// an error, and the caller closes the body. Hand it to go-github, the AWS
// SDK or a generated client.
//
// # Interceptors and middleware
//
// An [Interceptor] wraps each whole request ([WithInterceptors]): it sees it
// once, before redirects and retries, and its final response after them: the
// place for a span or a metric per logical request. A [Middleware] wraps
// every attempt ([WithMiddleware]). Both must clone a request before
// changing it, and must return responses, never turn them into errors.
//
// # Connections
//
// A session keeps one pool of connections, and a gate in front of its
// dialer keeps a burst from opening more than it needs. To an https host
// that may speak HTTP/2, the first dial goes alone and the requests that
// arrive meanwhile wait for it; once the host speaks HTTP/2, one dial at a
// time opens a new connection, when the ones open are full (or gone, after
// a GOAWAY), and the requests that waited for it use it. Over HTTP/1.1, a
// dial gives way to a connection on its way back to the pool, so that C
// callers open C connections. A request whose body cannot be sent again
// is never held for another's dial.
//
// [WithGuard] keeps a session that fetches URLs users supplied from
// connecting to loopback, private, link-local (cloud metadata) and other
// non-public addresses, judged on the address dialed, after DNS, on every
// connection; see [Guard].
//
// Package github.com/courierhttp/courier/fanout runs many requests at once
// through a session, within limits overall, per host and per route.
//
// # Closing
//
// [Session.Close] makes new requests fail with [ErrClosed], waits for those in
// flight until its context ends, and closes idle connections. It returns a
// [*CloseError] for requests still running and streamed bodies never closed;
// [WithLeakTracking] adds where each unclosed body was opened.
//
// # The request path
//
// Every request, from Do or from the Client, takes one path. Each layer is a
// file, and says what it returns:
//
//	do.go, session.go  the top: Do and the verbs; Client's transport. It owns
//	                   the per-request state (call.go): timers, in-flight slot
//	request.go         1 build: resolve the URL, merge headers, encode the body
//	call.go            interceptors, then decoding of the final response
//	redirect.go        2 follow: the redirect loop; returns the last hop's
//	                   response, the hops, and the retry loop's report on it
//	send.go            2 retryLoop: gate, send, decide, report; returns the
//	                   response (a 503 too), attempts, Stop, a buffered body
//	hosts.go           per-host state the loop reads: budget, breaker, limiter
//	cookies.go auth.go 3 the attempt stack: jar, auth layers, middleware
//	transport.go       4 the tuned *http.Transport and its dialer
//	response.go        5 respond: *Response, *StatusError, Decode
//
// The state of a request is passed explicitly where courier writes both
// sides, and reported up through return values. Through middleware that is
// not courier's, only the standard httptrace hooks report up (the
// connection an attempt got, and its dial and handshake times). The context
// a request carries keeps the context.Context contract: its deadline is the
// caller's and never changes; the session's timers end it with a cause.
package courier
