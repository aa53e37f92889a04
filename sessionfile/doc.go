// Package sessionfile stores a session's identity (the headers, cookies and
// authentication that make it "logged in") in a versioned JSON file, so that
// a later run, or another process, can carry on as the same client. It is
// courier's take on HTTPie's --session files, and imports them.
//
//	f, err := sessionfile.Load(path)
//	if errors.Is(err, fs.ErrNotExist) {
//		f, err = sessionfile.New(path), nil
//	}
//	if err != nil { ... }
//	s, err := courier.New(append(f.Options(), courier.WithBaseURL(base))...)
//	...                 // the session keeps f.Jar up to date as it runs
//	err = f.Save()      // merged with what other writers saved meanwhile
//
// [File.Options] gives a session the stored headers ([courier.Header]; the
// sensitive ones, such as Authorization or X-Api-Key, go to the session's
// credential origins only), the cookie jar ([courier.WithJar], shared, so
// that Set-Cookie updates land in [File].Jar) and the authentication
// ([courier.WithAuth] with a layer of package
// github.com/courierhttp/courier/auth, bound to the credential origins as
// well). [File.UpdateHeaders] stores a request's headers with HTTPie's
// rules.
//
// # File format
//
// A session file is a JSON object. "courier_session" is the format's
// version ([Version]); a file without it, or with another, is refused, and
// any change to the format bumps it. Headers map a name to its values;
// auth is null or one of {"type": "basic" | "digest", "username",
// "password"} and {"type": "bearer", "token"}; each cookie has every
// attribute a [cookiejar.Jar] keeps, times in RFC 3339 (UTC, to the
// nanosecond), expires null for a session cookie:
//
//	{
//	  "courier_session": 1,
//	  "headers": {
//	    "Accept": [
//	      "application/json"
//	    ],
//	    "X-Api-Key": [
//	      "k-8f2a..."
//	    ]
//	  },
//	  "auth": {
//	    "type": "basic",
//	    "username": "alice",
//	    "password": "..."
//	  },
//	  "cookies": [
//	    {
//	      "name": "sid",
//	      "value": "31d4d96e407aad42",
//	      "quoted": false,
//	      "domain": "www.example.com",
//	      "host_only": true,
//	      "path": "/",
//	      "expires": "2026-12-01T10:00:00Z",
//	      "secure": true,
//	      "http_only": true,
//	      "same_site": "strict",
//	      "created": "2026-11-24T09:59:58.123456789Z"
//	    }
//	  ]
//	}
//
// same_site is "", "default", "lax", "strict" or "none" ("" when the
// Set-Cookie had no SameSite attribute). Cookies are written oldest first,
// which is the order a jar sends cookies of equal path length in.
//
// Reading is strict, since a field read wrong can widen a secret's reach (a
// missing host_only would make a host-only cookie a domain one): every
// cookie attribute must be present and of its type, and an unknown field is
// an error. A file that fails to read is a [*FormatError] that names the
// path and the problem (a field, a byte offset) but never quotes the file,
// which holds secrets: an empty or cut-short file (a torn write by another
// tool), JSON syntax, a missing field or one of the wrong type, a header
// that could not be sent, an auth that does not check out, a version from a
// newer courier ([ErrVersion]).
//
// # Cookies on load
//
// Cookies are loaded through [cookiejar.Jar.Load], so a cookie from a file
// meets the rules of a fresh Set-Cookie: a host-only cookie stays host-only,
// a cookie for a public suffix or with a broken __Host- or __Secure-
// prefix is refused, the jar's limits hold. A refused cookie does not fail
// [Load]: one cookie gone bad (the public suffix list changes) must not lock
// a user out of the rest of the identity. It is listed in [File].Refused
// with the jar's reason, which names the cookie and never its value; it is
// never sent, and the next [File.Save] leaves it out of the file. Expired
// cookies are dropped.
//
// # Permissions
//
// The file holds secrets. [File.Save] writes it with mode 0600, whatever it
// was, and creates a missing directory with mode 0700 (a directory that
// exists is left alone). On unix, [Load] refuses a file that group or
// others may read or write, with a [*ModeError] that gives the fix (chmod
// 600 <path>): its secrets may have leaked, or someone else may have
// planted cookies or headers in it. Save refuses to merge such a file
// too. On other systems modes are not checked.
//
// # Saving
//
// [File.Save] never leaves a half-written file: it writes the whole file to
// a temporary file in the same directory (mode 0600), syncs it, renames it
// over the path and syncs the directory. A reader sees the old file or the
// new one. A Save that fails, at any step, leaves the last good file as it
// was and removes its temporary file. Save also fails, without writing, when
// the file on disk cannot be read (a Save never overwrites what it could
// not merge, such as a corrupt file or a newer version's: remove the file to
// start over) and when the File holds what could not be read back (a
// header with a CR or LF, an unknown auth type, a cookie time beyond the
// year 9999).
//
// # Locking and merging
//
// Several writers may share one file: processes of a CLI run side by side,
// or several File values in one process. [File.Save] takes an exclusive
// lock on <path>.lock (flock on unix, released by the kernel if the process
// dies; elsewhere a lock file created with O_EXCL, taken to be stale after
// 10 seconds), waits for it at most 15 seconds ([ErrLockTimeout]), reads the
// file as it is now, and merges. The lock file is left in place; removing a
// flock file would let two writers lock two files of one name.
//
// The merge is three-way. Each File remembers its identity as of its last
// Load or Save, and Save compares what it has now with that:
//
//   - a cookie (by name, domain and path) that this File added, changed or
//     deleted since then is written its way; every other cookie is written
//     as the file on disk has it now, so another writer's additions, changes
//     and deletions survive;
//   - a cookie that merely expired in this File's jar counts as untouched
//     (another writer may have renewed it); one its jar refused or evicted
//     on Load counts as deleted; expired cookies are never written;
//   - a header name, or the auth as a whole, that this File changed replaces
//     the file's; otherwise the file's stays. So two writers that change
//     different headers both keep their change; when both change the same
//     one, the last to save wins.
//
// A File saved to a path that already holds a file (from [New], say) thus
// adds to it rather than replacing it. Save does not bring other writers'
// changes into the File: Load again for that.
//
// # HTTPie sessions
//
// [File.ImportHTTPie] reads an HTTPie session file in either layout: the
// one before HTTPie 3.1 (headers and cookies as objects keyed by name) and
// the one of 3.1 and later (lists, each cookie with a domain). HTTPie's
// older files hold cookies without a domain, which it sent to every host
// (CVE-2022-24737); courier binds each of them to the host the session was
// for, as a host-only cookie. A domain with a leading dot is a domain
// cookie; one without is host-only, as Python's cookie jar meant it.
// expires is a Unix time or null. Basic, digest and bearer auth are
// imported (raw_auth "user:password", with "\:" for a ':' that does not
// split, or the older username and password); another type is an error.
//
// # Concurrency
//
// A File is not safe for concurrent use, with one exception: Save may run
// while sessions use its Jar, which is safe for concurrent use. Give each
// goroutine that saves its own File; the lock and the merge make them
// cooperate.
package sessionfile
