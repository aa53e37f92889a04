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
	// methodDefault says no method was given: it is GET or POST by the
	// data items and --raw, and POST when stdin turns out to hold a body.
	methodDefault bool
	url           *url.URL
	items         []item
	// jsonData is the JSON body the data items make (nested JSON paths
	// resolved), nil without data items or with --form or --multipart.
	jsonData []byte

	// Body.
	json, form, multipart bool
	raw                   *string // --raw: the body as given
	ignoreStdin           bool

	// Output.
	print       string // which parts: H request headers, B request body, h, b, m
	printSet    bool   // print was chosen (-p, -v, -h, -b), not defaulted
	all         bool   // --all: print the intermediary exchanges too
	history     string // --history-print: their parts ("": as print)
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
	ignoreNetrc     bool

	// Behaviour.
	follow       bool
	maxRedirects int
	timeout      time.Duration
	retries      int // -1: courier's default
	// cache is --cache DIR, a directory for an HTTP cache ("": none).
	cache string

	// Transport.
	verify  string
	cert    string
	certKey string
	proxies []proxyArg
	guard   bool // refuse private, loopback and link-local addresses

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
	var f flagInputs
	positional, err := parseInterleaved(newFlagSet(a, &f), argv)
	if err != nil {
		return nil, err
	}
	switch {
	case f.help:
		return nil, errHelp
	case f.version:
		return nil, errVersion
	}
	// The checks run in this order, so that the first complaint is the same
	// whatever else is wrong.
	if err := a.selectOutput(&f); err != nil {
		return nil, err
	}
	if err := a.selectIdentity(f.sessionRO); err != nil {
		return nil, err
	}
	if err := a.checkLimits(f.timeout); err != nil {
		return nil, err
	}
	if err := a.checkDownload(); err != nil {
		return nil, err
	}
	if err := a.checkCombinations(); err != nil {
		return nil, err
	}
	if err := a.positionals(positional, read); err != nil {
		return nil, err
	}
	return a, nil
}

// flagInputs are the flags that do not map one to one onto a field of args:
// parseArgs's steps check them and fold them in.
type flagInputs struct {
	verbose       int    // -v counted: -vv is 2
	headers, body bool   // -h, -b: shorthands for --print
	print         string // --print as given
	timeout       string // --timeout as given
	sessionRO     string // --session-read-only
	help, version bool
}

// newFlagSet defines every request flag, writing into a and f, and sets
// the defaults that are not zero. A flag with a short name answers to both
// names.
func newFlagSet(a *args, f *flagInputs) *flag.FlagSet {
	fs := flag.NewFlagSet("courier", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	a.verify = "yes"
	for _, d := range []struct {
		short, long string
		value       flag.Value
	}{
		// Body.
		{"j", "json", (*boolValue)(&a.json)},
		{"f", "form", (*boolValue)(&a.form)},
		{"", "multipart", (*boolValue)(&a.multipart)},
		{"I", "ignore-stdin", (*boolValue)(&a.ignoreStdin)},
		// Output.
		{"p", "print", (*stringValue)(&f.print)},
		{"v", "verbose", countValue{&f.verbose, 1}},
		{"", "vv", countValue{&f.verbose, 2}},
		{"", "all", (*boolValue)(&a.all)},
		{"P", "history-print", (*stringValue)(&a.history)},
		{"h", "headers", (*boolValue)(&f.headers)},
		{"b", "body", (*boolValue)(&f.body)},
		{"", "pretty", (*stringValue)(&a.pretty)},
		{"q", "quiet", (*boolValue)(&a.quiet)},
		{"", "show-secrets", (*boolValue)(&a.showSecrets)},
		{"", "offline", (*boolValue)(&a.offline)},
		{"", "curl", (*boolValue)(&a.curl)},
		{"", "trace", (*boolValue)(&a.trace)},
		{"", "check-status", (*boolValue)(&a.checkStatus)},
		// Session and identity.
		{"", "session", (*stringValue)(&a.session)},
		{"", "session-read-only", (*stringValue)(&f.sessionRO)},
		{"A", "auth-type", (*stringValue)(&a.authType)},
		{"", "ignore-netrc", (*boolValue)(&a.ignoreNetrc)},
		// Behaviour.
		{"F", "follow", (*boolValue)(&a.follow)},
		{"", "timeout", (*stringValue)(&f.timeout)},
		{"", "cache", (*stringValue)(&a.cache)},
		// Transport.
		{"", "verify", (*stringValue)(&a.verify)},
		{"", "cert", (*stringValue)(&a.cert)},
		{"", "cert-key", (*stringValue)(&a.certKey)},
		{"", "guard", (*boolValue)(&a.guard)},
		// Downloads.
		{"d", "download", (*boolValue)(&a.download)},
		{"o", "output", (*stringValue)(&a.output)},
		{"c", "continue", (*boolValue)(&a.resume)},
		{"", "overwrite", (*boolValue)(&a.overwrite)},
		// Help.
		{"", "help", (*boolValue)(&f.help)},
		{"", "version", (*boolValue)(&f.version)},
	} {
		fs.Var(d.value, d.long, "")
		if d.short != "" {
			fs.Var(d.value, d.short, "")
		}
	}
	// Flags of other shapes: --raw and --auth note that they were given
	// (nil when not), --proxy may be repeated, and the counts are ints.
	fs.Func("raw", "", setString(&a.raw))
	fs.Func("auth", "", setString(&a.auth))
	fs.Func("a", "", setString(&a.auth))
	fs.Func("proxy", "", a.addProxy)
	fs.IntVar(&a.maxRedirects, "max-redirects", 30, "")
	fs.IntVar(&a.retries, "retries", -1, "")
	fs.IntVar(&a.repeat, "repeat", 0, "")
	fs.IntVar(&a.concurrency, "concurrency", 1, "")
	return fs
}

// setString is a flag function that points *p at the flag's value, so that
// nil means the flag was not given.
func setString(p **string) func(string) error {
	return func(s string) error {
		*p = &s
		return nil
	}
}

// addProxy takes one --proxy PROTOCOL:URL; the flag may be repeated.
func (a *args) addProxy(s string) error {
	p, err := parseProxy(s)
	if err != nil {
		return err
	}
	a.proxies = append(a.proxies, p)
	return nil
}

// parseInterleaved parses argv with fs, where flags and positionals
// interleave: parse, take a positional, go on. Everything after a lone "--"
// is positional. It returns the positionals in order.
func parseInterleaved(fs *flag.FlagSet, argv []string) ([]string, error) {
	flags, rest := argv, []string(nil)
	for i, s := range argv {
		if s == "--" {
			flags, rest = argv[:i], argv[i+1:]
			break
		}
	}
	flags = expandShortFlags(fs, flags)
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
	return append(positional, rest...), nil
}

// expandShortFlags splits the clusters of one-letter flags in argv as
// HTTPie's argparse reads them, for the flag package, which takes "-vb" for
// one flag named "vb": "-vb" is "-v -b", and a letter that takes a value
// takes the rest of the cluster, or else the next argument ("-vpH" and
// "-vp H" are "-v -p H"). A short pass here spares a new dependency on a
// flag library. Left as they are: a flag named whole ("-json", "-o=x"), the
// value after a flag that takes one ("--raw -vb" sends "-vb", "--retries
// -1"), anything not starting with a known letter ("-1"), positionals, and
// all after "--".
func expandShortFlags(fs *flag.FlagSet, argv []string) []string {
	out := make([]string, 0, len(argv))
	for i := 0; i < len(argv); i++ {
		arg := argv[i]
		if arg == "--" {
			return append(out, argv[i:]...)
		}
		name, hasValue := flagName(arg)
		if name != "" && fs.Lookup(name) == nil && !strings.HasPrefix(arg, "--") && fs.Lookup(arg[1:2]) != nil {
			var expanded []string
			expanded, hasValue = splitCluster(fs, arg[1:])
			out = append(out, expanded...)
			name, _ = flagName(expanded[len(expanded)-1])
		} else {
			out = append(out, arg)
		}
		if f := fs.Lookup(name); f != nil && !hasValue && !isBoolFlag(f) && i+1 < len(argv) {
			i++
			out = append(out, argv[i]) // the flag's value, whatever it looks like
		}
	}
	return out
}

// splitCluster splits a cluster of one-letter flags (without its dash)
// into flags, the first letter known. A letter that takes a value ends
// it: "-o=VALUE" when the cluster holds the value (hasValue), "-o" when
// the next argument is the value. An unknown letter ends it too, passed on
// with the rest for the flag package to refuse.
func splitCluster(fs *flag.FlagSet, cluster string) (flags []string, hasValue bool) {
	for j := 0; j < len(cluster); j++ {
		f := fs.Lookup(cluster[j : j+1])
		switch {
		case f == nil:
			return append(flags, "-"+cluster[j:]), true
		case isBoolFlag(f):
			flags = append(flags, "-"+f.Name)
		case j+1 < len(cluster):
			return append(flags, "-"+f.Name+"="+strings.TrimPrefix(cluster[j+1:], "=")), true
		default:
			return append(flags, "-"+f.Name), false
		}
	}
	return flags, false
}

// flagName is the name of the flag arg gives ("-v", "--print=H"), and
// whether it holds its value; "" when arg is no flag.
func flagName(arg string) (name string, hasValue bool) {
	if len(arg) < 2 || arg[0] != '-' {
		return "", false
	}
	name = strings.TrimPrefix(arg[1:], "-")
	name, _, hasValue = strings.Cut(name, "=")
	return name, hasValue
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// selectOutput sets which parts are printed (-p wins over -v, -h and -b)
// and checks --pretty.
func (a *args) selectOutput(f *flagInputs) error {
	switch {
	case f.print != "":
		if strings.Trim(f.print, "HBhbm") != "" {
			return usagef("--print %q: use the letters H (request headers), B (request body), h (response headers), b (response body), m (metadata)", f.print)
		}
		a.print, a.printSet = f.print, true
	case f.verbose > 1:
		a.print, a.printSet = "HBhbm", true
	case f.verbose == 1:
		a.print, a.printSet = "HBhb", true
	case f.headers && f.body:
		a.print, a.printSet = "hb", true
	case f.headers:
		a.print, a.printSet = "h", true
	case f.body:
		a.print, a.printSet = "b", true
	}
	if f.verbose > 0 {
		a.all = true // as HTTPie's -v: every exchange of the request
	}
	if strings.Trim(a.history, "HBhbm") != "" {
		return usagef("--history-print %q: use the letters of --print (H, B, h, b, m)", a.history)
	}
	switch a.pretty {
	case "", "all", "colors", "format", "none":
	default:
		return usagef("--pretty %q: use all, colors, format or none", a.pretty)
	}
	return nil
}

// selectIdentity settles the session (--session or --session-read-only,
// named here as sessionRO) and the auth type, basic by default; a type
// other than basic needs --auth.
func (a *args) selectIdentity(sessionRO string) error {
	if sessionRO != "" {
		if a.session != "" {
			return usagef("--session and --session-read-only name one session: give one of them")
		}
		a.session, a.sessionReadOnly = sessionRO, true
	}
	switch a.authType {
	case "":
		a.authType = "basic"
	case "basic", "digest", "bearer":
	default:
		return usagef("--auth-type %q: use basic, digest or bearer", a.authType)
	}
	if a.authType != "basic" && a.auth == nil {
		return usagef("--auth-type %s needs --auth", a.authType)
	}
	return nil
}

// checkLimits checks the counts and reads --timeout (given here as text).
func (a *args) checkLimits(timeout string) error {
	if a.maxRedirects < 1 {
		return usagef("--max-redirects %d: give at least 1", a.maxRedirects)
	}
	if timeout != "" {
		d, err := parseSeconds(timeout)
		if err != nil {
			return usagef("--timeout %q: %v", timeout, err)
		}
		a.timeout = d
	}
	if a.retries < -1 {
		return usagef("--retries %d: give 0 or more", a.retries)
	}
	if a.repeat < 0 || a.concurrency < 1 {
		return usagef("--repeat and --concurrency take a positive count")
	}
	if a.concurrency > 1 && a.repeat == 0 {
		return usagef("--concurrency goes with --repeat N")
	}
	return nil
}

// checkDownload checks the flags that go with --download, and makes a
// download follow redirects, as HTTPie does.
func (a *args) checkDownload() error {
	if a.download {
		a.follow = true
	}
	if a.resume && (!a.download || a.output == "") {
		return usagef("--continue resumes a download: give it with --download and --output FILE")
	}
	if a.overwrite && !a.download {
		return usagef("--overwrite goes with --download")
	}
	return nil
}

// checkCombinations refuses flags that need another one, or that do not go
// together.
func (a *args) checkCombinations() error {
	if a.certKey != "" && a.cert == "" {
		return usagef("--cert-key goes with --cert")
	}
	if n := boolCount(a.download, a.repeat > 0, a.offline || a.curl); n > 1 {
		return usagef("--download, --repeat and --offline/--curl do not go together")
	}
	if a.json && (a.form || a.multipart) {
		return usagef("--json and --form do not go together")
	}
	return nil
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
	if err := a.addItems(pos[1:], read); err != nil {
		return err
	}
	hasData, err := a.checkItems()
	if err != nil {
		return err
	}
	if err := a.buildJSON(); err != nil {
		return err
	}
	if a.method == "" {
		a.methodDefault = true
		a.method = "GET"
	}
	a.defaultMethod(hasData || a.raw != nil)
	return nil
}

// defaultMethod makes the method POST when none was given and the request
// has data (items, --raw, a body on stdin), as HTTPie.
func (a *args) defaultMethod(hasData bool) {
	if a.methodDefault && hasData {
		a.method = "POST"
	}
}

// buildJSON builds the JSON body from the data items, following their
// nested JSON paths (nested.go); a path that does not fit the others is a
// usage error. A form's fields are named as given, and make no JSON.
func (a *args) buildJSON() error {
	if a.form || a.multipart {
		return nil
	}
	var doc jsonDoc
	for _, it := range a.items {
		if it.kind != itemData && it.kind != itemJSON {
			continue
		}
		if err := doc.set(it.jsonPath, dataValue(it)); err != nil {
			return usagef("item %q: %v", it.raw, err)
		}
	}
	a.jsonData = doc.bytes()
	return nil
}

// dataValue is a data item's value in a JSON body: a string (field=value)
// or the JSON given (field:=json).
func dataValue(it item) *jsonValue {
	if it.kind == itemJSON {
		return jsonRawValue([]byte(it.value))
	}
	return jsonStringValue(it.value)
}

// addItems parses the request items; a bad one is a usage error.
func (a *args) addItems(raws []string, read fileReader) error {
	for _, raw := range raws {
		it, err := parseItem(raw, read)
		if err != nil {
			return &usageError{err.Error()}
		}
		a.items = append(a.items, it)
	}
	return nil
}

// checkItems checks the items against the body flags (a file needs a form,
// raw JSON cannot go in one, --raw takes no data items) and reports whether
// any item carries data.
func (a *args) checkItems() (hasData bool, err error) {
	form := a.form || a.multipart
	for _, it := range a.items {
		switch it.kind {
		case itemData, itemJSON:
			hasData = true
		case itemFile:
			hasData = true
			if !form {
				return false, usagef("item %q uploads a file: add --form (or --multipart)", it.raw)
			}
		}
		if it.kind == itemJSON && form {
			return false, usagef("item %q is raw JSON, which a form cannot carry", it.raw)
		}
	}
	if hasData && a.raw != nil {
		return false, usagef("--raw and data items (field=value) cannot be mixed")
	}
	return hasData, nil
}

// schemeRE is a scheme at the start of a URL argument, as HTTPie looks for
// one: nothing but letters, digits, "+", "-" and "." before "://", so that
// a URL further on (":8080/x?next=http://a/b") is not taken for it.
var schemeRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*://`)

// parseURL reads a URL as HTTPie does: "http://" when the argument does not
// start with a scheme, ":8080/x" and ":/x" for localhost. Every complaint
// names the argument as typed: the session is built from the URL, and would
// otherwise speak of its own options.
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
	if !schemeRE.MatchString(s) {
		if scheme, ok := schemeWithoutSlashes(s); ok {
			return nil, usagef("bad URL %q: write the scheme with two slashes, %s://", raw, scheme)
		}
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, usagef("bad URL %q: %v", raw, urlErrorText(err))
	}
	if err := checkURL(u); err != nil {
		return nil, usagef("bad URL %q: %v", raw, err)
	}
	u.RawQuery = escapeQuery(u.RawQuery)
	return u, nil
}

// escapeQuery percent-encodes what a query cannot carry on the request
// line (a space, a quote, non-ASCII), as HTTPie does; url.Parse keeps them
// as typed. What may stay is kept, "%" included: an escape is sent as is.
func escapeQuery(q string) string {
	const keep = "-._~!$%&'()*+,/:;=?@[]"
	var b strings.Builder
	for i := 0; i < len(q); i++ {
		c := q[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(keep, c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// schemeWithoutSlashes reports whether s starts with "http:" or "https:"
// but not "//" after it ("http:/host/x"), other than as a host named http
// with a port ("http:8080/x", which HTTPie allows), and returns the scheme.
func schemeWithoutSlashes(s string) (scheme string, ok bool) {
	scheme, rest, found := strings.Cut(s, ":")
	scheme = strings.ToLower(scheme)
	if !found || scheme != "http" && scheme != "https" {
		return "", false
	}
	port, _, _ := strings.Cut(rest, "/")
	port, _, _ = strings.Cut(port, "?")
	port, _, _ = strings.Cut(port, "#")
	return scheme, !isDigits(port)
}

// checkURL checks what the session needs of a URL: http or https, a host,
// and a port, when there is one, from 1 to 65535.
func checkURL(u *url.URL) error {
	if u.Scheme != "http" && u.Scheme != "https" {
		return errors.New("the scheme must be http or https")
	}
	if u.Host == "" || u.Hostname() == "" {
		return errors.New("no host")
	}
	if strings.HasSuffix(u.Host, ":") {
		return errors.New("the port is empty (give one, or no colon)")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("port %s is out of range", p)
		}
	}
	return nil
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

// countValue counts a flag given several times (-v -v); a name can count
// for more than one (-vv).
type countValue struct {
	n    *int
	step int
}

func (c countValue) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return errors.New("want true or false")
	}
	if v {
		*c.n += c.step
	} else {
		*c.n = 0
	}
	return nil
}
func (c countValue) String() string {
	if c.n == nil {
		return "0"
	}
	return strconv.Itoa(*c.n)
}
func (c countValue) IsBoolFlag() bool { return true }

type stringValue string

func (s *stringValue) Set(v string) error { *s = stringValue(v); return nil }
func (s *stringValue) String() string     { return string(*s) }
