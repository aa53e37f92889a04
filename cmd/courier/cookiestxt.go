package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/net/idna"

	"github.com/courierhttp/courier/cookiejar"
	"github.com/courierhttp/courier/sessionfile"
)

// importCookiesTxt adds the cookies of a cookies.txt file (stdin for "-")
// to a session. With --host, only the cookies that host would be sent are
// imported, into its named session (--name, or the file's name without its
// extension) or into --output; without --host, --output is needed and
// every cookie goes there. A session that exists keeps its headers, auth
// and other cookies; a cookie of the same name, domain and path is
// replaced.
func importCookiesTxt(ia importArgs, sio stdio) error {
	dst, host, err := cookiesTxtTarget(ia, sio)
	if err != nil {
		return err
	}
	in := sessionfile.New("")
	if err := readCookiesTxt(in, ia.src, sio); err != nil {
		return err
	}
	f, err := sessionfile.Load(dst)
	if errors.Is(err, fs.ErrNotExist) {
		f, err = sessionfile.New(dst), nil
	}
	if err != nil {
		return err
	}
	warnRefused(sio, dst, f.Refused)
	warnRefused(sio, ia.src, in.Refused)
	added, others := 0, 0
	for _, c := range in.Jar.All() {
		if host != "" && !cookieFor(c, host) {
			others++
			continue
		}
		if err := f.Jar.Set(c); err != nil {
			warnRefused(sio, ia.src, []error{err})
			continue
		}
		added++
	}
	if err := f.Save(); err != nil {
		return err
	}
	if host == "" {
		fmt.Fprintf(sio.Out, "imported %s: %d cookies\n  -> %s\n", ia.src, added, dst)
		return nil
	}
	fmt.Fprintf(sio.Out, "imported %s (for %s): %d cookies, %d for other hosts left out\n  -> %s\n",
		ia.src, host, added, others, dst)
	return nil
}

// cookiesTxtTarget is where "import cookies.txt" stores the cookies, and
// the host whose cookies it keeps ("" for all).
func cookiesTxtTarget(ia importArgs, sio stdio) (dst, host string, err error) {
	if ia.host == "" {
		if ia.output == "" {
			return "", "", usagef("courier session import cookies.txt: give --host HOST (only that host's cookies are imported, into its session) or --output PATH")
		}
		if ia.name != "" {
			return "", "", usagef("--name goes with --host: a named session belongs to a host")
		}
		return expandHome(ia.output), "", nil
	}
	u, err := parseURL(ia.host)
	if err != nil {
		return "", "", usagef("--host %q: %v", ia.host, err)
	}
	host = strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if ascii, err := idna.Lookup.ToASCII(host); err == nil {
		host = ascii // as the jar keeps domains
	}
	if ia.output != "" {
		return expandHome(ia.output), host, nil
	}
	name := ia.name
	if name == "" {
		if ia.src == "-" {
			return "", "", usagef("courier session import cookies.txt -: give --name NAME or --output PATH")
		}
		name = strings.TrimSuffix(filepath.Base(ia.src), filepath.Ext(ia.src))
	}
	dst, err = sessionPath(sio, name, u)
	return dst, host, err
}

// readCookiesTxt imports the cookies.txt file src ("-": stdin) into f. A
// malformed line is reported as file:line: field: problem.
func readCookiesTxt(f *sessionfile.File, src string, sio stdio) error {
	r, name := sio.In, "stdin"
	if src != "-" {
		fh, err := os.Open(expandHome(src))
		if err != nil {
			return fmt.Errorf("%s: %s", src, pathError(err))
		}
		defer fh.Close()
		r, name = fh, src
	}
	err := f.ImportCookiesTxt(r)
	var le *sessionfile.CookiesTxtError
	if errors.As(err, &le) {
		field := ""
		if le.Field != "" {
			field = le.Field + ": "
		}
		return fmt.Errorf("%s:%d: %s%v", name, le.Line, field, le.Err)
	}
	return err
}

// cookieFor reports whether c goes to host: a host-only cookie to its
// domain alone, a domain cookie to its domain and the subdomains.
func cookieFor(c cookiejar.Cookie, host string) bool {
	return c.Domain == host || !c.HostOnly && strings.HasSuffix(host, "."+c.Domain)
}

// sessionExport writes a session's cookies in the cookies.txt format, to
// stdout or to a file it creates with mode 0600.
func sessionExport(argv []string, sio stdio) error {
	const usage = "courier session export cookies.txt NAME HOST [FILE|-], or export cookies.txt PATH [FILE|-]"
	if len(argv) < 2 || argv[0] != "cookies.txt" {
		return usagef(usage)
	}
	path, rest, err := sessionArg(sio, argv[1:])
	if err != nil {
		return err
	}
	if len(rest) > 1 {
		return usagef(usage)
	}
	f, err := sessionfile.Load(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("no session at %s", path)
	}
	if err != nil {
		return err
	}
	warnRefused(sio, path, f.Refused)
	if len(rest) == 0 || rest[0] == "-" {
		return f.ExportCookiesTxt(sio.Out)
	}
	var b bytes.Buffer
	if err := f.ExportCookiesTxt(&b); err != nil {
		return err
	}
	dst := expandHome(rest[0])
	if err := sessionfile.WritePrivate(dst, b.Bytes()); err != nil {
		return fmt.Errorf("writing %s: %s", rest[0], pathError(err))
	}
	fmt.Fprintf(sio.Out, "exported %d cookies of %s\n  -> %s\n", len(f.Jar.All()), path, dst)
	return nil
}

// sessionArg resolves the session that args start with, named as NAME
// HOST or given as a PATH (a path, or an argument on its own), and returns
// the arguments after it.
func sessionArg(sio stdio, args []string) (path string, rest []string, err error) {
	if len(args) == 1 || isSessionPath(args[0]) {
		return expandHome(args[0]), args[1:], nil
	}
	u, err := parseURL(args[1])
	if err != nil {
		return "", nil, err
	}
	path, err = sessionPath(sio, args[0], u)
	return path, args[2:], err
}

// warnRefused prints the cookies a jar would not take from what.
func warnRefused(sio stdio, what string, refused []error) {
	for _, r := range refused {
		fmt.Fprintf(sio.Err, "courier: warning: %s: %v\n", what, r)
	}
}
