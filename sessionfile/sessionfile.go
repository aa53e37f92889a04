package sessionfile

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/auth"
	"github.com/courierhttp/courier/cookiejar"
)

// Version is the format version this package writes, in the file's
// "courier_session" field. Load reads it and refuses any other.
const Version = 1

// Auth types, for [Auth.Type].
const (
	AuthBasic  = "basic"
	AuthDigest = "digest"
	AuthBearer = "bearer"
)

// Auth is a stored authentication: Type is [AuthBasic] or [AuthDigest]
// (with Username and Password) or [AuthBearer] (with Token). The fields a
// type does not use must be empty.
//
// Printed with the fmt package, an Auth shows its type and user name,
// never its password or token.
type Auth struct {
	Type     string
	Username string
	Password string
	Token    string
}

// String describes a without its secrets.
func (a Auth) String() string {
	switch a.Type {
	case AuthBasic, AuthDigest:
		return fmt.Sprintf("%s auth for user %q", a.Type, a.Username)
	case AuthBearer:
		return "bearer token"
	}
	return fmt.Sprintf("auth of unknown type %q", a.Type)
}

// GoString is String, so that %#v shows no secret either.
func (a Auth) GoString() string { return "sessionfile.Auth(" + a.String() + ")" }

// check reports what is wrong with a, naming fields but never their values
// (except the type).
func (a *Auth) check() error {
	if a == nil {
		return nil
	}
	switch a.Type {
	case AuthBasic, AuthDigest:
		if a.Token != "" {
			return fmt.Errorf("auth: a token with type %s", a.Type)
		}
	case AuthBearer:
		if a.Token == "" {
			return errors.New("auth: type bearer without a token")
		}
		if a.Username != "" || a.Password != "" {
			return errors.New("auth: a user name or password with type bearer")
		}
	default:
		return fmt.Errorf("auth: unknown type %q (want basic, digest or bearer)", clip(a.Type))
	}
	return nil
}

// middleware returns the auth layer for a.
func (a *Auth) middleware() courier.Middleware {
	if err := a.check(); err != nil {
		// Options cannot fail; the layer fails every request instead, as
		// package auth does with bad input.
		err = fmt.Errorf("sessionfile: %w", err)
		return func(http.RoundTripper) http.RoundTripper {
			return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
				if req.Body != nil {
					req.Body.Close()
				}
				return nil, err
			})
		}
	}
	switch a.Type {
	case AuthBasic:
		return auth.Basic(a.Username, a.Password)
	case AuthDigest:
		return auth.Digest(a.Username, a.Password)
	}
	return auth.Bearer(a.Token)
}

// File is a session's persisted identity: the headers, cookies and
// authentication that [File.Options] gives a [courier.Session], stored as
// versioned JSON at a path (see the package documentation for the format).
//
// Make one with [New] or [Load]; a File from anywhere else has no path.
// Build sessions with [File.Options]: they share f.Jar and keep it up to
// date as they run. [File.Save] writes the identity back, merged with what
// other writers saved meanwhile.
//
// Save may run while sessions use f.Jar, which is safe for concurrent use.
// Otherwise a File is not: do not call its methods or change its fields
// from several goroutines at once. Several File values, in one process or
// several, may share a path.
type File struct {
	// Header holds the stored headers, which every session built with
	// Options sends (the sensitive ones only to the session's credential
	// origins, see [courier.WithCredentialOrigins]). Change it directly or
	// with [File.UpdateHeaders].
	Header http.Header
	// Auth is the stored authentication, or nil for none.
	Auth *Auth
	// Jar holds the stored cookies. Load and New make one with the default
	// [cookiejar.Options]. A nil Jar means no cookies: a session built
	// with Options gets none, and Save deletes those the file had.
	Jar *cookiejar.Jar
	// Refused lists the cookies of the file that Jar refused when Load read
	// them (a domain that has become a public suffix, a broken prefix
	// rule), or that [File.ImportHTTPie] could not store: one error each,
	// naming the cookie but never its value. They are not used, and the
	// next Save leaves them out of the file.
	Refused []error

	path string
	// base is the identity as of the last Load or Save: what this writer's
	// changes are measured against when Save merges.
	base identity
	// lockWait bounds the wait for the lock (0: defaultLockWait).
	lockWait time.Duration
	// now is the clock that decides which cookies have expired (nil:
	// time.Now).
	now func() time.Time
}

// New returns an empty identity to be saved at path: no headers, no
// cookies, no auth. It reads nothing; Save merges it into the file at path
// if there is one by then.
func New(path string) *File {
	return &File{Header: http.Header{}, Jar: cookiejar.New(cookiejar.Options{}), path: path}
}

// Load reads the session file at path.
//
// A missing file is an error wrapping [fs.ErrNotExist], so that callers can
// fall back to [New]:
//
//	f, err := sessionfile.Load(path)
//	if errors.Is(err, fs.ErrNotExist) {
//		f, err = sessionfile.New(path), nil
//	}
//
// On unix, a file that group or others may read or write is refused with a
// [*ModeError], which says how to fix it. A file that is not a session file
// of this version (cut short, not JSON, a field of the wrong type, a header
// that cannot be sent, a version from a newer courier) is a [*FormatError]
// naming the path and the problem, never quoting the file's content.
//
// Cookies go through [cookiejar.Jar.Load], so they meet the rules a fresh
// Set-Cookie does; those the jar refuses are listed in f.Refused rather
// than failing the load, so that one cookie gone bad (say, for a domain the
// public suffix list has since made a suffix) does not lock the identity
// out. Expired cookies are dropped.
func Load(path string) (*File, error) {
	id, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return fromIdentity(path, id), nil
}

// fromIdentity makes the File that Load returns for id read at path.
func fromIdentity(path string, id identity) *File {
	f := &File{Header: id.header.Clone(), path: path, base: id}
	if f.Header == nil {
		f.Header = http.Header{}
	}
	if id.auth != nil {
		a := *id.auth
		f.Auth = &a
	}
	f.Jar = cookiejar.New(cookiejar.Options{})
	// In the order of the file, so that the jar sends them in the order
	// it did.
	f.Refused = loadCookies(f.Jar, id.sortedCookies())
	return f
}

// loadCookies stores cookies in jar, in order, and returns the jar's
// reasons for those it refused.
func loadCookies(jar *cookiejar.Jar, cookies []cookiejar.Cookie) []error {
	err := jar.Load(cookies)
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return slices.Clone(j.Unwrap())
	}
	return []error{err}
}

// Path returns the path f is loaded from and saved to.
func (f *File) Path() string { return f.path }

// String returns "session file <path>": printing a File shows none of its
// secrets.
func (f *File) String() string { return "session file " + f.path }

// Options returns the options that give a session f's identity: a
// [courier.Header] (or [courier.AddHeader], for a header's further values)
// for each stored header value, [courier.WithJar] with f.Jar, and
// [courier.WithAuth] with the layer of package auth for f.Auth. The headers
// and auth are copied as they are now; the jar is shared, so the session
// keeps f.Jar up to date as it runs (new and changed cookies stored,
// deleted and expired ones dropped), ready for Save.
//
// Options given after these win (a later [courier.WithJar], say). An Auth
// that does not check out (an unknown type) gives a layer that fails every
// request, with an error that says why.
func (f *File) Options() []courier.Option {
	var opts []courier.Option
	for _, k := range slices.Sorted(maps.Keys(f.Header)) {
		for i, v := range f.Header[k] {
			if i == 0 {
				opts = append(opts, courier.Header(k, v))
			} else {
				opts = append(opts, courier.AddHeader(k, v))
			}
		}
	}
	if f.Jar != nil {
		opts = append(opts, courier.WithJar(f.Jar))
	} else {
		opts = append(opts, courier.WithJar(nil))
	}
	if f.Auth != nil {
		a := *f.Auth
		opts = append(opts, courier.WithAuth(a.middleware()))
	}
	return opts
}

// UpdateHeaders stores the headers of h in f.Header with HTTPie's rules: a
// header with an empty value removes the stored one; Content-* and If-*
// headers, which belong to one request, are never stored; any other
// replaces the stored header of that name (all its values).
func (f *File) UpdateHeaders(h http.Header) {
	if f.Header == nil {
		f.Header = http.Header{}
	}
	for k, vs := range h {
		k = http.CanonicalHeaderKey(k)
		if notStored(k) {
			continue
		}
		if len(vs) == 0 || (len(vs) == 1 && vs[0] == "") {
			f.Header.Del(k)
			continue
		}
		f.Header[k] = slices.Clone(vs)
	}
}

// notStored reports whether a header belongs to one request only, as HTTPie
// decides: its name starts with Content- or If-.
func notStored(canonical string) bool {
	return strings.HasPrefix(canonical, "Content-") || strings.HasPrefix(canonical, "If-")
}

// Save writes f's identity to its path, merged with the file as it is on
// disk now, so that writers sharing a path keep each other's changes:
//
//   - cookies this File added, changed or deleted since the last Load or
//     Save (a session using f.Jar does that) are saved that way; the
//     others are kept as the file has them now, with another writer's
//     changes;
//   - a header, or the auth, that this File changed since then replaces the
//     file's; otherwise the file's stays.
//
// A cookie that merely expired counts as untouched: another writer's
// renewal of it survives. Expired cookies are left out of the file.
//
// Save holds an exclusive lock on path+".lock" (created beside the file and
// left there) while it reads, merges and writes, waiting for it at most 15
// seconds ([ErrLockTimeout]). It writes a temporary file in the same
// directory with mode 0600, syncs it, renames it over path and syncs the
// directory, creating the directory with mode 0700 if it is missing: the
// file is replaced whole or not at all, and always ends with mode 0600. A
// symbolic link at path is replaced by the file.
//
// A Save that fails leaves the file as it was. It fails if the file on disk
// cannot be read as a session file (the errors of [Load]): it never
// overwrites what it cannot merge, such as a corrupt file or one from a
// newer version; remove such a file to start over. It also fails, without
// writing, if f holds what could not be read back: a header name or value
// that cannot be sent, an Auth that does not check out, a cookie whose
// times fall outside the years 0 to 9999.
//
// f itself is not changed: cookies, headers and auth that other writers
// saved reach it only through a new Load.
func (f *File) Save() error {
	if f.path == "" {
		return errors.New("sessionfile: save: File has no path (make it with New or Load)")
	}
	ours, err := f.snapshot()
	if err != nil {
		return &SaveError{Path: f.path, Err: err}
	}
	if err := f.save(ours); err != nil {
		return &SaveError{Path: f.path, Err: err}
	}
	f.base = ours
	return nil
}

func (f *File) save(ours identity) error {
	dir := filepath.Dir(f.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	unlock, err := lock(f.path+".lock", cmpOr(f.lockWait, defaultLockWait))
	if err != nil {
		return err
	}
	defer unlock()
	disk, err := readFile(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		disk, err = identity{}, nil
	}
	if err != nil {
		return err
	}
	merged := merge(f.base, ours, disk, f.clock())
	data, err := encode(merged)
	if err != nil {
		return err
	}
	return writeAtomic(f.path, data)
}

func (f *File) clock() time.Time {
	if f.now != nil {
		return f.now()
	}
	return time.Now()
}

// snapshot returns f's identity now, checked so that it can be read back.
func (f *File) snapshot() (identity, error) {
	id := identity{header: canonicalHeader(f.Header)}
	if err := checkHeader(id.header); err != nil {
		return id, err
	}
	if f.Auth != nil {
		if err := f.Auth.check(); err != nil {
			return id, err
		}
		a := *f.Auth
		id.auth = &a
	}
	if f.Jar != nil {
		for i, c := range f.Jar.All() {
			if err := checkTimes(c); err != nil {
				return id, err
			}
			id.addCookie(c, i)
		}
	}
	return id, nil
}

// canonicalHeader returns a copy of h with canonical keys and no empty
// entries.
func canonicalHeader(h http.Header) http.Header {
	out := http.Header{}
	for _, k := range slices.Sorted(maps.Keys(h)) {
		if len(h[k]) == 0 {
			continue
		}
		ck := http.CanonicalHeaderKey(k)
		out[ck] = append(out[ck], h[k]...)
	}
	return out
}

func checkTimes(c cookiejar.Cookie) error {
	for _, t := range []struct {
		name string
		t    time.Time
	}{{"expires", c.Expires}, {"created", c.Created}} {
		if y := t.t.UTC().Year(); y < 0 || y > 9999 {
			return fmt.Errorf("%s: %s in the year %d, which the file format cannot hold (0 to 9999)", c, t.name, y)
		}
	}
	return nil
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// ErrLockTimeout is wrapped by the error of a [File.Save] that waited too
// long for another writer's lock.
var ErrLockTimeout = errors.New("timed out waiting for the lock")

// ErrVersion is wrapped by the [*FormatError] for a file written by another
// version of the format (see [Version]).
var ErrVersion = errors.New("unsupported version")

// FormatError reports a file that is not a session file this package can
// read: not JSON, cut short, a field missing or of the wrong type, a
// version it does not know. Err says what is wrong, naming fields but never
// quoting the file's content, which holds secrets.
type FormatError struct {
	Path string
	Err  error
}

// Error returns "sessionfile: <path>: <problem>".
func (e *FormatError) Error() string { return "sessionfile: " + e.Path + ": " + e.Err.Error() }

// Unwrap returns the problem.
func (e *FormatError) Unwrap() error { return e.Err }

// ModeError reports a session file that group or others may read or write:
// it holds secrets, so [Load] refuses it (on unix). The error says how to
// fix it (chmod 600).
type ModeError struct {
	Path string
	Mode fs.FileMode
}

// Error says what is wrong and gives the command that fixes it.
func (e *ModeError) Error() string {
	return fmt.Sprintf("sessionfile: %s: mode %04o lets group or others read or change it, and it holds secrets; fix it with: chmod 600 %s",
		e.Path, e.Mode.Perm(), shellQuote(e.Path))
}

// SaveError reports a [File.Save] that failed; the file at Path was left as
// it was. Err is the cause: a [*FormatError] or [*ModeError] for a file on
// disk that could not be merged, [ErrLockTimeout], an *fs.PathError...
type SaveError struct {
	Path string
	Err  error
}

// Error returns "sessionfile: save <path>: <cause>".
func (e *SaveError) Error() string {
	msg := e.Err.Error()
	// The cause may already name the file.
	msg = strings.TrimPrefix(msg, "sessionfile: "+e.Path+": ")
	return "sessionfile: save " + e.Path + ": " + msg
}

// Unwrap returns the cause.
func (e *SaveError) Unwrap() error { return e.Err }

// shellQuote quotes s for a POSIX shell if it needs it.
func shellQuote(s string) string {
	safe := s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+,:@%", r))
	}) < 0
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// clip shortens a string from a file for an error message.
func clip(s string) string {
	const max = 40
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}

// roundTripperFunc adapts a function to http.RoundTripper.
type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }
