package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// args is a request command line, parsed and checked: nothing in it has been
// sent or written yet.
type args struct {
	method string // "" until resolved: GET, or POST when there is data
	url    *url.URL
	items  []item

	// Body.
	json, form, multipart bool
	raw                   *string // --raw: the body as given
	ignoreStdin           bool

	// Output.
	print       string // which parts: H request headers, B request body, h, b, m
	printSet    bool   // print was chosen (-p, -v, -h, -b), not defaulted
	pretty      string // all, colors, format, none; "" until defaulted
	quiet       bool
	showSecrets bool
	offline     bool
	curl        bool
	trace       bool
	checkStatus bool

	// Session and identity.
	session         string
	sessionReadOnly bool
	auth            *string
	authType        string

	// Behaviour.
	follow       bool
	maxRedirects int
	timeout      time.Duration
	retries      int // -1: courier's default

	// Transport.
	verify  string
	cert    string
	certKey string
	proxies []proxyArg

	// Downloads.
	download  bool
	output    string
	resume    bool
	overwrite bool

	// Load.
	repeat      int
	concurrency int
}

// proxyArg is one --proxy PROTOCOL:URL.
type proxyArg struct {
	scheme string
	url    *url.URL
}

// usageError is bad input on the command line: exit 1, nothing sent.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error {
	return &usageError{fmt.Sprintf(format, a...)}
}

// errHelp asks for the usage text.
var errHelp = errors.New("help")

// errVersion asks for the version.
var errVersion = errors.New("version")

// methodRE is what a word must look like to be taken for a method.
var methodRE = regexp.MustCompile(`^[A-Za-z]+$`)

// parseArgs parses a request command line: flags anywhere among the
// positional METHOD, URL and items, as HTTPie takes them; everything after
// "--" is positional. Files that items name are read with read.
func parseArgs(argv []string, read fileReader) (*args, error) {
	a := &args{}
	fs := flag.NewFlagSet("courier", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}

	both := func(short, long string, fn func(string) flag.Value) {
		v := fn(long)
		fs.Var(v, long, "")
		if short != "" {
			fs.Var(v, short, "")
		}
	}
	boolFlag := func(short, long string, p *bool) {
		both(short, long, func(string) flag.Value { return (*boolValue)(p) })
	}
	strFlag := func(short, long string, p *string) {
		both(short, long, func(string) flag.Value { return (*stringValue)(p) })
	}
	var (
		verbose, headers, body, help, version bool
		print, timeout, sessionRO             string
		auth, raw                             string
		authSet, rawSet                       bool
	)
	boolFlag("j", "json", &a.json)
	boolFlag("f", "form", &a.form)
	boolFlag("", "multipart", &a.multipart)
	fs.Func("raw", "", func(s string) error { raw, rawSet = s, true; return nil })
	boolFlag("I", "ignore-stdin", &a.ignoreStdin)

	strFlag("p", "print", &print)
	boolFlag("v", "verbose", &verbose)
	boolFlag("h", "headers", &headers)
	boolFlag("b", "body", &body)
	strFlag("", "pretty", &a.pretty)
	boolFlag("q", "quiet", &a.quiet)
	boolFlag("", "show-secrets", &a.showSecrets)
	boolFlag("", "offline", &a.offline)
	boolFlag("", "curl", &a.curl)
	boolFlag("", "trace", &a.trace)
	boolFlag("", "check-status", &a.checkStatus)

	strFlag("", "session", &a.session)
	strFlag("", "session-read-only", &sessionRO)
	fs.Func("auth", "", func(s string) error { auth, authSet = s, true; return nil })
	fs.Func("a", "", func(s string) error { auth, authSet = s, true; return nil })
	strFlag("A", "auth-type", &a.authType)

	boolFlag("F", "follow", &a.follow)
	fs.IntVar(&a.maxRedirects, "max-redirects", 30, "")
	strFlag("", "timeout", &timeout)
	fs.IntVar(&a.retries, "retries", -1, "")

	a.verify = "yes"
	strFlag("", "verify", &a.verify)
	strFlag("", "cert", &a.cert)
	strFlag("", "cert-key", &a.certKey)
	fs.Func("proxy", "", func(s string) error {
		p, err := parseProxy(s)
		if err != nil {
			return err
		}
		a.proxies = append(a.proxies, p)
		return nil
	})

	boolFlag("d", "download", &a.download)
	strFlag("o", "output", &a.output)
	boolFlag("c", "continue", &a.resume)
	boolFlag("", "overwrite", &a.overwrite)

	fs.IntVar(&a.repeat, "repeat", 0, "")
	fs.IntVar(&a.concurrency, "concurrency", 1, "")

	boolFlag("", "help", &help)
	boolFlag("", "version", &version)

	// Flags and positionals interleave: parse, take a positional, go on.
	// Everything after a lone "--" is positional.
	flags, rest := argv, []string(nil)
	for i, s := range argv {
		if s == "--" {
			flags, rest = argv[:i], argv[i+1:]
			break
		}
	}
	var positional []string
	for {
		if err := fs.Parse(flags); err != nil {
			return nil, usagef("%s", flagError(err))
		}
		flags = fs.Args()
		if len(flags) == 0 {
			break
		}
		positional = append(positional, flags[0])
		flags = flags[1:]
	}
	positional = append(positional, rest...)

	switch {
	case help:
		return nil, errHelp
	case version:
		return nil, errVersion
	}

	// Output selection: -p wins over -v, -h and -b.
	switch {
	case print != "":
		if strings.Trim(print, "HBhbm") != "" {
			return nil, usagef("--print %q: use the letters H (request headers), B (request body), h (response headers), b (response body), m (metadata)", print)
		}
		a.print, a.printSet = print, true
	case verbose:
		a.print, a.printSet = "HBhb", true
	case headers && body:
		a.print, a.printSet = "hb", true
	case headers:
		a.print, a.printSet = "h", true
	case body:
		a.print, a.printSet = "b", true
	}
	switch a.pretty {
	case "", "all", "colors", "format", "none":
	default:
		return nil, usagef("--pretty %q: use all, colors, format or none", a.pretty)
	}

	if sessionRO != "" {
		if a.session != "" {
			return nil, usagef("--session and --session-read-only name one session: give one of them")
		}
		a.session, a.sessionReadOnly = sessionRO, true
	}
	if authSet {
		a.auth = &auth
	}
	switch a.authType {
	case "":
		a.authType = "basic"
	case "basic", "digest", "bearer":
	default:
		return nil, usagef("--auth-type %q: use basic, digest or bearer", a.authType)
	}
	if a.authType != "basic" && a.auth == nil {
		return nil, usagef("--auth-type %s needs --auth", a.authType)
	}
	if rawSet {
		a.raw = &raw
	}

	if a.maxRedirects < 1 {
		return nil, usagef("--max-redirects %d: give at least 1", a.maxRedirects)
	}
	if timeout != "" {
		d, err := parseSeconds(timeout)
		if err != nil {
			return nil, usagef("--timeout %q: %v", timeout, err)
		}
		a.timeout = d
	}
	if a.retries < -1 {
		return nil, usagef("--retries %d: give 0 or more", a.retries)
	}
	if a.repeat < 0 || a.concurrency < 1 {
		return nil, usagef("--repeat and --concurrency take a positive count")
	}
	if a.concurrency > 1 && a.repeat == 0 {
		return nil, usagef("--concurrency goes with --repeat N")
	}
	if a.download {
		a.follow = true // as HTTPie: a download follows redirects
	}
	if a.resume && (!a.download || a.output == "") {
		return nil, usagef("--continue resumes a download: give it with --download and --output FILE")
	}
	if a.overwrite && !a.download {
		return nil, usagef("--overwrite goes with --download")
	}
	if a.certKey != "" && a.cert == "" {
		return nil, usagef("--cert-key goes with --cert")
	}
	if n := boolCount(a.download, a.repeat > 0, a.offline || a.curl); n > 1 {
		return nil, usagef("--download, --repeat and --offline/--curl do not go together")
	}
	if a.json && (a.form || a.multipart) {
		return nil, usagef("--json and --form do not go together")
	}

	if err := a.positionals(positional, read); err != nil {
		return nil, err
	}
	return a, nil
}

// positionals resolves [METHOD] URL [ITEM ...]: the first word is a method
// only when the second is not an item (HTTPie's rule), so that
// "courier example.org a=1" posts to example.org.
func (a *args) positionals(pos []string, read fileReader) error {
	if len(pos) == 0 {
		return usagef("no URL: courier [flags] [METHOD] URL [ITEM ...]")
	}
	if len(pos) >= 2 && methodRE.MatchString(pos[0]) && !isItem(pos[1]) {
		a.method = strings.ToUpper(pos[0])
		pos = pos[1:]
	}
	u, err := parseURL(pos[0])
	if err != nil {
		return err
	}
	a.url = u
	for _, raw := range pos[1:] {
		it, err := parseItem(raw, read)
		if err != nil {
			return &usageError{err.Error()}
		}
		a.items = append(a.items, it)
	}
	hasData := false
	for _, it := range a.items {
		switch it.kind {
		case itemData, itemJSON:
			hasData = true
		case itemFile:
			hasData = true
			if !a.form && !a.multipart {
				return usagef("item %q uploads a file: add --form (or --multipart)", it.raw)
			}
		}
		if it.kind == itemJSON && (a.form || a.multipart) {
			return usagef("item %q is raw JSON, which a form cannot carry", it.raw)
		}
	}
	if hasData && a.raw != nil {
		return usagef("--raw and data items (field=value) cannot be mixed")
	}
	if a.method == "" {
		a.method = "GET"
		if hasData || a.raw != nil {
			a.method = "POST"
		}
	}
	return nil
}

// parseURL reads a URL as HTTPie does: "http://" when no scheme is given,
// ":8080/x" and ":/x" for localhost.
func parseURL(raw string) (*url.URL, error) {
	s := raw
	if strings.HasPrefix(s, ":") {
		// :8080/x → localhost:8080/x; :/x → localhost/x
		rest := s[1:]
		if strings.HasPrefix(rest, "/") || rest == "" {
			s = "localhost" + rest
		} else {
			s = "localhost:" + rest
		}
	}
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, usagef("bad URL %q: %v", raw, urlErrorText(err))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, usagef("bad URL %q: the scheme must be http or https", raw)
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, usagef("bad URL %q: no host", raw)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, usagef("bad URL %q: port %s is out of range", raw, p)
		}
	}
	return u, nil
}

// urlErrorText is url.Parse's complaint without the repeated input.
func urlErrorText(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// parseSeconds reads a timeout: seconds as HTTPie takes them ("2.5"), or a
// Go duration ("500ms").
func parseSeconds(s string) (time.Duration, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if f <= 0 || f > 1e6 {
			return 0, errors.New("give a number of seconds above 0")
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, errors.New("give seconds (2.5) or a duration (500ms)")
	}
	return d, nil
}

// parseProxy reads --proxy PROTOCOL:URL (HTTPie's form).
func parseProxy(s string) (proxyArg, error) {
	scheme, raw, ok := strings.Cut(s, ":")
	if !ok || (scheme != "http" && scheme != "https") || raw == "" {
		return proxyArg{}, fmt.Errorf("%q: use PROTOCOL:URL, such as http:http://proxy:3128", s)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return proxyArg{}, fmt.Errorf("%q: the proxy URL has no host", s)
	}
	switch u.Scheme {
	case "http", "https", "socks5", "socks5h":
	default:
		return proxyArg{}, fmt.Errorf("%q: the proxy URL's scheme must be http, https or socks5", s)
	}
	return proxyArg{scheme: scheme, url: u}, nil
}

// flagError rewrites the flag package's complaints into one line that names
// the flag.
func flagError(err error) string {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		return "unknown flag " + name + " (see courier --help)"
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: "); ok {
		return "flag " + name + " needs a value"
	}
	// "invalid value "x" for flag -n: parse error"
	return msg
}

func boolCount(bs ...bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

// boolValue and stringValue let one variable answer to a short and a long
// flag name.
type boolValue bool

func (b *boolValue) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return errors.New("want true or false")
	}
	*b = boolValue(v)
	return nil
}
func (b *boolValue) String() string   { return strconv.FormatBool(bool(*b)) }
func (b *boolValue) IsBoolFlag() bool { return true }

type stringValue string

func (s *stringValue) Set(v string) error { *s = stringValue(v); return nil }
func (s *stringValue) String() string     { return string(*s) }
