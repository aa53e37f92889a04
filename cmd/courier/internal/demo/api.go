package demo

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/mccutchen/go-httpbin/v2/httpbin"
)

// The demo API's one account, for POST /api/login.
const (
	User     = "ada"
	Password = "lovelace"
)

// SessionCookie is the name of the cookie POST /api/login sets.
const SessionCookie = "sid"

// The demo API's defaults.
const (
	// FlakyFailures is how many times in a row GET /api/flaky fails, per
	// client, before it succeeds once.
	FlakyFailures = 2
	// SlowDelay is how long GET /api/slow takes without ?delay.
	SlowDelay = 2 * time.Second
	// MaxSlowDelay caps ?delay on GET /api/slow.
	MaxSlowDelay = 30 * time.Second
	// Items is how many items GET /api/items pages through, and PerPage
	// how many it returns per page without ?per_page.
	Items   = 25
	PerPage = 10
)

// API returns the demo API as an http.Handler: go-httpbin
// (https://httpbingo.org) mounted at /, and the demo's own routes under /api:
//
//	GET  /api         the list of these routes, as JSON
//	POST /api/login   {"user":"ada","password":"lovelace"}: 200 and a session
//	                  cookie "sid" (HttpOnly, Path=/); 401 for other credentials
//	GET  /api/me      the logged-in user; 401 without a valid session cookie
//	GET  /api/flaky   503 with "Retry-After: 0" the first ?fail=N times
//	                  (default 2), then 200 once, and again; counted per
//	                  session cookie (clients without one share a count)
//	GET  /api/slow    answers after ?delay (a Go duration, default 2s, at most
//	                  30s), or stops when the request is canceled
//	GET  /api/items   25 items as a JSON array, ?page=N of ?per_page=M
//	                  (default 10), with Link rel="next", "prev", "first"
//	                  and "last" (RFC 8288) and X-Total-Count
//
// Each call returns an API with its own state (sessions, the flaky
// endpoint's counts), so two demos never share one. The handler is safe for
// concurrent use.
func API() http.Handler {
	a := &api{sessions: map[string]string{}, flaky: map[flakyKey]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api", a.index)
	mux.HandleFunc("POST /api/login", a.login)
	mux.HandleFunc("GET /api/me", a.me)
	mux.HandleFunc("GET /api/flaky", a.flakyRoute)
	mux.HandleFunc("GET /api/slow", slow)
	mux.HandleFunc("GET /api/items", items)
	mux.Handle("/", httpbin.New().Handler())
	return mux
}

// api holds the demo API's per-instance state.
type api struct {
	mu       sync.Mutex
	sessions map[string]string // session id -> user
	flaky    map[flakyKey]int  // calls so far
}

type flakyKey struct {
	session string
	fail    int
}

var routes = []string{
	"GET /api",
	"POST /api/login",
	"GET /api/me",
	"GET /api/flaky?fail=2",
	"GET /api/slow?delay=2s",
	"GET /api/items?page=1&per_page=10",
}

func (a *api) index(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"routes": routes, "httpbin": "/"})
}

// credentials is the body of POST /api/login.
type credentials struct {
	User     string `json:"user"`
	Password string `json:"password"`
}

func (a *api) login(w http.ResponseWriter, r *http.Request) {
	var c credentials
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<10)).Decode(&c); err != nil {
		writeError(w, http.StatusBadRequest, "want a JSON body {\"user\":...,\"password\":...}")
		return
	}
	if c.User != User || c.Password != Password {
		writeError(w, http.StatusUnauthorized, "wrong user or password")
		return
	}
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	sid := hex.EncodeToString(b[:])
	a.mu.Lock()
	a.sessions[sid] = c.User
	a.mu.Unlock()
	http.SetCookie(w, &http.Cookie{
		Name:     SessionCookie,
		Value:    sid,
		Path:     "/",
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	})
	writeJSON(w, http.StatusOK, map[string]string{"user": c.User})
}

func (a *api) me(w http.ResponseWriter, r *http.Request) {
	user, ok := a.user(r)
	if !ok {
		writeError(w, http.StatusUnauthorized, "log in first: POST /api/login")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"user": user})
}

// user returns the user whose session cookie r carries.
func (a *api) user(r *http.Request) (string, bool) {
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return "", false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	user, ok := a.sessions[c.Value]
	return user, ok
}

func (a *api) flakyRoute(w http.ResponseWriter, r *http.Request) {
	fail, ok := intParam(r.URL.Query(), "fail", FlakyFailures, 0, 10)
	if !ok {
		writeError(w, http.StatusBadRequest, "fail must be a number from 0 to 10")
		return
	}
	key := flakyKey{fail: fail}
	if c, err := r.Cookie(SessionCookie); err == nil {
		key.session = c.Value
	}
	a.mu.Lock()
	call := a.flaky[key] % (fail + 1)
	a.flaky[key]++
	a.mu.Unlock()
	if call < fail {
		w.Header().Set("Retry-After", "0")
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{
			"error": "flaky: try again", "failure": call + 1, "of": fail,
		})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "failures": fail})
}

func slow(w http.ResponseWriter, r *http.Request) {
	delay := SlowDelay
	if v := r.URL.Query().Get("delay"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > MaxSlowDelay {
			writeError(w, http.StatusBadRequest, "delay must be a duration from 0s to "+MaxSlowDelay.String())
			return
		}
		delay = d
	}
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
		writeJSON(w, http.StatusOK, map[string]string{"waited": delay.String()})
	case <-r.Context().Done():
		// The client gave up: nobody is left to answer.
	}
}

// item is one element of GET /api/items.
type item struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

func items(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	page, ok := intParam(q, "page", 1, 1, 1<<20)
	if !ok {
		writeError(w, http.StatusBadRequest, "page must be a number from 1")
		return
	}
	per, ok := intParam(q, "per_page", PerPage, 1, 100)
	if !ok {
		writeError(w, http.StatusBadRequest, "per_page must be a number from 1 to 100")
		return
	}
	last := max(1, (Items+per-1)/per)
	link := func(p int, rel string) string {
		u := url.URL{Path: r.URL.Path, RawQuery: url.Values{
			"page": {strconv.Itoa(p)}, "per_page": {strconv.Itoa(per)},
		}.Encode()}
		return fmt.Sprintf("<%s>; rel=%q", u.String(), rel)
	}
	if page < last {
		w.Header().Add("Link", link(page+1, "next"))
	}
	if page > 1 {
		w.Header().Add("Link", link(min(page-1, last), "prev"))
	}
	w.Header().Add("Link", link(1, "first"))
	w.Header().Add("Link", link(last, "last"))
	w.Header().Set("X-Total-Count", strconv.Itoa(Items))
	list := []item{}
	for id := (page-1)*per + 1; id <= min(page*per, Items); id++ {
		list = append(list, item{ID: id, Name: "item " + strconv.Itoa(id)})
	}
	writeJSON(w, http.StatusOK, list)
}

// intParam reads an integer query parameter within [lo, hi], or def when
// it is absent.
func intParam(q url.Values, name string, def, lo, hi int) (int, bool) {
	v := q.Get(name)
	if v == "" {
		return def, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, false
	}
	return n, true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v) // the client may be gone; nothing to do then
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
