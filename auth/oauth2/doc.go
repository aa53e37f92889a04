// Package oauth2 authenticates courier requests with OAuth 2.0 access
// tokens, adapting golang.org/x/oauth2 (imported here as xoauth2) to
// courier's middleware.
//
// [New] returns a [courier.Middleware] that adds "Authorization: Bearer
// <token>" (or the token's own type) to each request. Give it to a session,
// or use it with a plain *http.Client:
//
//	cfg := &clientcredentials.Config{
//		ClientID:     "my-service",
//		ClientSecret: secret,
//		TokenURL:     "https://auth.example.com/oauth/token",
//	}
//	s, err := courier.New(
//		courier.WithBaseURL("https://api.example.com"),
//		courier.WithAuth(oauth2.New(oauth2.ClientCredentials(cfg))),
//	)
//
//	c := &http.Client{Transport: oauth2.New(oauth2.ClientCredentials(cfg))(nil)}
//
// # Flows
//
// The layer caches the token; a [Source] fetches a new one each time it is
// called. [ClientCredentials] is the client credentials grant, for a service
// acting as itself. [RefreshToken] redeems a refresh token obtained earlier
// (by an authorization code flow, say), keeping the newest one when the
// server rotates them; it is a [Refresher], which can also refresh a token
// it is given. [FromTokenSource] takes any xoauth2.TokenSource, and
// [SourceFunc] any function.
//
// The token endpoint is called with http.DefaultClient unless
// [WithHTTPClient] names another client, such as the Client of a courier
// session made for the authorization server, which brings its retries,
// timeouts and logging to token requests.
//
// # Caching and single flight
//
// The token is fetched on the first request and reused until it is 10s
// ([WithEarlyExpiry]) from its expiry; a token
// without an expiry is reused until a server rejects it. However many
// requests need a new token at once, the Source is called once and all of
// them get its result, token or error.
//
// That call does not belong to any one request. It runs under a context
// that keeps the values of the request that started it but not its
// cancellation, bounded by 30s ([WithRefreshTimeout]). Each request waits for it only as long as its own
// context allows: a request that gives up fails with its context's error
// and leaves the refresh running for the others. A failure is returned to
// every waiter, wrapped as "oauth2: fetch token: <cause>" with
// [ErrTokenFetch] and the cause in the chain (an *xoauth2.RetrieveError
// when the token endpoint answered with an error); the next request tries
// again.
//
// # Rejected tokens
//
// When a request sent with a token is answered 401 Unauthorized, the layer
// drops that token and sends the request once more with a new one. The
// refresh is shared: when concurrent requests are rejected with the same
// token, the token is refreshed once. The request is not sent again when
// its body cannot be replayed (it has no GetBody; courier sets one for every
// body it can replay, as http.NewRequest does for in-memory bodies), when no
// new token can be had, or when the new token has the same access token;
// the 401 is then returned as it came, and the next request fetches a new
// token. A 401 to the second attempt is returned too: the layer never
// loops. A session does not retry a 401 itself.
//
// # Sharing a token
//
// Without a [Store], each layer refreshes its own token, and twenty
// instances of a service whose tokens expire together make twenty token
// requests; when the server rotates refresh tokens, each redeems the one
// the others just redeemed. Layers given the same Store ([WithStore]) share
// one token instead: [MemoryStore] for the layers of one process, a store
// in Redis or a database for a fleet.
//
//	store := oauth2.NewMemoryStore(nil)
//	mw := oauth2.New(oauth2.ClientCredentials(cfg), oauth2.WithStore(store))
//
// The token is kept at two levels. Each layer keeps its copy, and a
// request while that copy is valid costs no call to the store. When it has
// expired or was rejected, the layer's single refresh (still one per layer,
// shared by the requests waiting) loads the stored token and uses it if it
// is valid and is not the rejected one: another instance refreshed it
// already. Otherwise it asks the store to refresh the token it loaded; the
// store takes a lease that one instance holds at a time, and, unless the
// stored token was replaced meanwhile, calls back into the layer's Source
// and stores what it returns before anyone else can read the old one. One
// token request is made per expiry, for the whole fleet.
//
// A [Refresher] such as [RefreshToken]'s source redeems the refresh token
// of the stored token, the newest the fleet has, whichever instance got
// it; a store may be seeded with a token that holds only a refresh token.
// Other sources fetch a new token without it.
//
// A 401 makes the layer drop its copy and refresh as above, so that
// instances rejected with the same token refresh it once between them, and
// one that was rejected after another instance refreshed takes the new
// token from the store. Each instance learns that its copy was rejected
// from its own 401: the store does not tell it.
//
// When the store fails, the request fails: its error has [ErrTokenFetch],
// [ErrStore] and the store's error in its chain (context.DeadlineExceeded
// when the lease was not had within the refresh timeout), no token request
// is made, and the next request tries the store again. A refresh outside the store
// would multiply token requests when the fleet can least afford them, and
// fork a rotating refresh token. [WithStoreFallback] makes a layer whose
// Source does not redeem the shared refresh token (client credentials, for
// one) fetch a token of its own instead while the store is down.
//
// [WithRefreshTimeout] bounds the whole refresh: the store's calls, the
// wait for the lease and the Source's call. Expiries are compared on each
// instance's clock, so the clocks of a fleet must agree to well within a
// token's lifetime.
//
// # Observing refreshes
//
// [WithOnRefresh] reports each refresh when it ends: why the layer needed a
// token (its first, an expiry, a 401), where the token came from (the
// Source, a Store that another layer or process had filled, or a fallback
// to the Source while the Store failed), how many requests waited, how
// long it took, and its error. Counting OriginSource across a fleet gives
// the refreshes per expiry; OriginFallback counts the Store's outages.
//
// # Origins and redirects
//
// The token is meant for the servers the caller sends requests to, not for
// whoever they redirect to. The layer adds nothing to a redirect hop that
// left the first request's origin, as [courier.CredentialsAllowed] decides,
// whether the redirects are followed by a courier session or by an
// http.Client. In a session, [courier.WithAuth] binds the layer to the
// session's credential origins as well (its base URL's origin by default),
// so that a request to another host gets no token. A request that already
// has an Authorization header is left alone.
//
// # Concurrency and errors
//
// The round trippers are safe for concurrent use and share the token of
// their [New]. They follow the http.RoundTripper contract: they close the
// request body, on error too, clone a request before changing it, and
// return responses of any status as responses. Secrets (client secret,
// refresh token, access token) are never put in an error or a log by this
// package; an *xoauth2.RetrieveError holds the body of the token endpoint's
// error response. A Store's errors reach callers as they are, so a Store
// must keep secrets out of them too.
package oauth2
