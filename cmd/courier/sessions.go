package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/courierhttp/courier/internal/redact"
	"github.com/courierhttp/courier/sessionfile"
)

// sessionNameRE is what a session name may be; anything else is a path.
var sessionNameRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)

// configDir is courier's configuration directory: $COURIER_CONFIG_DIR, or
// courier/ in the user's configuration directory (~/.config on Linux).
func configDir(sio stdio) (string, error) {
	if d := sio.Getenv("COURIER_CONFIG_DIR"); d != "" {
		return d, nil
	}
	d, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no configuration directory for sessions (set COURIER_CONFIG_DIR): %w", err)
	}
	return filepath.Join(d, "courier"), nil
}

// hostDir is a host's directory name under sessions/, as HTTPie names it:
// the host and port, ':' written as '_'.
func hostDir(host string) string {
	return strings.ReplaceAll(host, ":", "_")
}

// sessionPath resolves --session: a name is a file under the configuration
// directory, one directory per host (as HTTPie keeps them); anything with a
// path separator or a .json ending is a path.
func sessionPath(sio stdio, session string, u *url.URL) (string, error) {
	if isSessionPath(session) {
		return expandHome(session), nil
	}
	if !sessionNameRE.MatchString(session) {
		return "", usagef("--session %q: a name is letters, digits, '.', '-' and '_' (or give a path)", session)
	}
	dir, err := configDir(sio)
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "sessions", hostDir(u.Host), session+".json"), nil
}

// isSessionPath reports whether a session argument is a path rather than a
// name: it has a path separator or ends in .json.
func isSessionPath(session string) bool {
	return strings.ContainsRune(session, filepath.Separator) || strings.ContainsRune(session, '/') || strings.HasSuffix(session, ".json")
}

// openSession loads the session a command line names, or starts a new one;
// without --session it is a fresh identity that is never saved.
func openSession(a *args, sio stdio) (*sessionfile.File, error) {
	if a.session == "" {
		return sessionfile.New(""), nil
	}
	path, err := sessionPath(sio, a.session, a.url)
	if err != nil {
		return nil, err
	}
	f, err := sessionfile.Load(path)
	if errors.Is(err, fs.ErrNotExist) {
		return sessionfile.New(path), nil
	}
	if err != nil {
		return nil, fmt.Errorf("session %s: %w", a.session, err)
	}
	for _, r := range f.Refused {
		// A cookie the jar would not take is left out, not fatal.
		fmt.Fprintf(sio.Err, "courier: warning: session %s: %v\n", a.session, r)
	}
	return f, nil
}

// sessionUsage is the synopsis of "courier session".
const sessionUsage = "courier session list | show NAME HOST | import httpie PATH [--host HOST] [--name NAME | --output PATH]" +
	" | import cookies.txt FILE|- (--host HOST [--name NAME] | --output PATH) | export cookies.txt (NAME HOST | PATH) [FILE|-]"

// runSession runs "courier session ...": list, show, import, export.
func runSession(_ context.Context, argv []string, sio stdio) int {
	if len(argv) == 0 {
		return fail(sio, usagef("%s", sessionUsage))
	}
	var err error
	switch argv[0] {
	case "list":
		err = sessionList(argv[1:], sio)
	case "show":
		err = sessionShow(argv[1:], sio)
	case "import":
		err = sessionImport(argv[1:], sio)
	case "export":
		err = sessionExport(argv[1:], sio)
	default:
		err = usagef("courier session %s: use list, show, import or export", argv[0])
	}
	if err != nil {
		return fail(sio, err)
	}
	return exitOK
}

// sessionList prints the named sessions: host, name, path.
func sessionList(argv []string, sio stdio) error {
	if len(argv) > 0 {
		return usagef("courier session list takes no arguments")
	}
	dir, err := configDir(sio)
	if err != nil {
		return err
	}
	paths, _ := filepath.Glob(filepath.Join(dir, "sessions", "*", "*.json"))
	slices.Sort(paths)
	if len(paths) == 0 {
		fmt.Fprintf(sio.Out, "no sessions in %s\n", filepath.Join(dir, "sessions"))
		return nil
	}
	for _, p := range paths {
		host := filepath.Base(filepath.Dir(p))
		name := strings.TrimSuffix(filepath.Base(p), ".json")
		fmt.Fprintf(sio.Out, "%-30s %-16s %s\n", host, name, p)
	}
	return nil
}

// sessionShow prints a session's identity with its secrets redacted.
func sessionShow(argv []string, sio stdio) error {
	var path string
	switch len(argv) {
	case 1:
		path = expandHome(argv[0]) // a path
	case 2:
		u, err := parseURL(argv[1])
		if err != nil {
			return err
		}
		if path, err = sessionPath(sio, argv[0], u); err != nil {
			return err
		}
	default:
		return usagef("courier session show NAME HOST, or show PATH")
	}
	f, err := sessionfile.Load(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("no session at %s", path)
	}
	if err != nil {
		return err
	}
	w := sio.Out
	fmt.Fprintf(w, "session %s\n", path)
	if f.Auth != nil {
		fmt.Fprintf(w, "auth     %v\n", *f.Auth)
	}
	headers := redact.Header(f.Header)
	for _, k := range slices.Sorted(maps.Keys(headers)) {
		for _, v := range headers[k] {
			fmt.Fprintf(w, "header   %s: %s\n", k, v)
		}
	}
	for _, c := range f.Jar.All() {
		expires := "session"
		if !c.Expires.IsZero() {
			expires = c.Expires.UTC().Format(time.RFC3339)
		}
		domain := c.Domain
		if !c.HostOnly {
			domain = "." + domain
		}
		fmt.Fprintf(w, "cookie   %s=%s  domain=%s path=%s expires=%s\n", c.Name, redact.Mask, domain, c.Path, expires)
	}
	return nil
}

// importArgs are the arguments of "courier session import FORMAT": the
// file to import and where the session goes.
type importArgs struct {
	format             string
	src                string
	host, name, output string
}

// parseImport reads the arguments after "courier session import": the
// format, one file, and --host, --name and --output anywhere among them.
func parseImport(argv []string) (importArgs, error) {
	var ia importArgs
	if len(argv) == 0 || (argv[0] != "httpie" && argv[0] != "cookies.txt") {
		return ia, usagef("courier session import httpie PATH [--host HOST] [--name NAME | --output PATH]," +
			" or import cookies.txt FILE|- (--host HOST [--name NAME] | --output PATH)")
	}
	ia.format = argv[0]
	fset := flag.NewFlagSet("import", flag.ContinueOnError)
	fset.SetOutput(io.Discard)
	fset.StringVar(&ia.host, "host", "", "")
	fset.StringVar(&ia.name, "name", "", "")
	fset.StringVar(&ia.output, "output", "", "")
	rest := argv[1:]
	for {
		if err := fset.Parse(rest); err != nil {
			return ia, usagef("courier session import: %s", flagError(err))
		}
		rest = fset.Args()
		if len(rest) == 0 {
			break
		}
		if ia.src != "" {
			return ia, usagef("courier session import %s takes one file", ia.format)
		}
		ia.src, rest = rest[0], rest[1:]
	}
	if ia.src == "" {
		return ia, usagef("courier session import %s: no file to import", ia.format)
	}
	return ia, nil
}

// sessionImport converts an HTTPie session file into a courier one, or
// adds the cookies of a cookies.txt file to a session.
func sessionImport(argv []string, sio stdio) error {
	ia, err := parseImport(argv)
	if err != nil {
		return err
	}
	if ia.format == "cookies.txt" {
		return importCookiesTxt(ia, sio)
	}
	return importHTTPie(ia, sio)
}

// importHTTPie converts an HTTPie session file into a courier one.
func importHTTPie(ia importArgs, sio stdio) error {
	src := expandHome(ia.src)
	host := ia.host
	// An HTTPie session kept under .../sessions/<host_port>/<name>.json
	// says its host in its directory's name.
	if host == "" {
		d := filepath.Base(filepath.Dir(src))
		if filepath.Base(filepath.Dir(filepath.Dir(src))) != "sessions" {
			return usagef("the session's host is not in its path: give --host HOST")
		}
		if i := strings.LastIndexByte(d, '_'); i > 0 && isDigits(d[i+1:]) {
			d = d[:i] + ":" + d[i+1:]
		}
		host = d
	}
	u, err := parseURL(host)
	if err != nil {
		return usagef("--host %q: %v", host, err)
	}
	dst := ia.output
	if dst == "" {
		name := ia.name
		if name == "" {
			name = strings.TrimSuffix(filepath.Base(src), ".json")
		}
		if dst, err = sessionPath(sio, name, u); err != nil {
			return err
		}
	}
	if _, err := os.Stat(dst); err == nil {
		return fmt.Errorf("%s exists: remove it first or give --name or --output", dst)
	}
	f := sessionfile.New(dst)
	if err := f.ImportHTTPie(src, u.Host); err != nil {
		return err
	}
	if err := f.Save(); err != nil {
		return err
	}
	fmt.Fprintf(sio.Out, "imported %s (for %s): %d headers, %d cookies, auth %s\n  -> %s\n",
		src, u.Host, len(f.Header), len(f.Jar.All()), authName(f.Auth), dst)
	return nil
}

func authName(a *sessionfile.Auth) string {
	if a == nil {
		return "none"
	}
	return a.Type
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
