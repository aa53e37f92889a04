package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/internal/curl"
	"github.com/courierhttp/courier/internal/redact"
	"github.com/courierhttp/courier/sessionfile"
)

// prepared is a request ready to send: the session that sends it and what
// it sends. Everything that can be wrong with the command line has been
// found by the time it exists; nothing has been sent or written.
type prepared struct {
	a       *args
	sf      *sessionfile.File
	session *courier.Session
	opts    []courier.RequestOption
	body    body
	rec     *sent
	// wire records each attempt's response as received (received.go).
	wire *received
	// stored are the headers the session file keeps from this request
	// (HTTPie's rules in File.UpdateHeaders: an empty value removes one).
	stored http.Header
}

// prepare checks and builds everything a command line asks for.
func prepare(a *args, sio stdio, extra ...courier.Option) (*prepared, error) {
	sf, err := openSession(a, sio)
	if err != nil {
		return nil, err
	}
	if err := applyAuth(a, sf, sio); err != nil {
		return nil, err
	}
	b, err := buildBody(a, sio.In, sio.InData)
	if err != nil {
		return nil, err
	}
	// A body on stdin is data too, known only once read: POST by default.
	a.defaultMethod(b.stdin)
	p := &prepared{a: a, sf: sf, body: b, rec: &sent{}, wire: newReceived(a), stored: http.Header{}}
	fail := func(err error) (*prepared, error) {
		b.close()
		return nil, err
	}
	addQuery(a.url, a.items)
	p.opts = []courier.RequestOption{courier.AnyStatus(), courier.Stream()}
	if b.opt != nil {
		p.opts = append(p.opts, b.opt)
		if b.contentType != "" { // a multipart body sets its own, with the boundary
			p.opts = append(p.opts, courier.Header("Content-Type", b.contentType))
		}
	}
	if b.accept != "" {
		p.opts = append(p.opts, courier.Header("Accept", b.accept))
	}
	if err := p.addHeaders(); err != nil {
		return fail(err)
	}
	opts, err := sessionOptions(a, sf, p.rec, append(extra, p.wire.option())...)
	if err != nil {
		return fail(err)
	}
	if p.session, err = courier.New(opts...); err != nil {
		return fail(err)
	}
	return p, nil
}

// addHeaders turns the header items into request options, and notes in
// p.stored what the session file keeps of them. A header item given twice
// sends both values; Name: removes a header; a Cookie item goes to the
// session's jar when there is a session.
func (p *prepared) addHeaders() error {
	seen := map[string]bool{}
	for _, it := range p.a.items {
		name := http.CanonicalHeaderKey(it.key)
		switch it.kind {
		case itemHeader, itemHeaderEmpty:
			if name == "Cookie" && p.a.session != "" {
				if err := p.jarCookies(it); err != nil {
					return err
				}
				continue
			}
			if seen[name] {
				p.opts = append(p.opts, courier.AddHeader(name, it.value))
			} else {
				p.opts = append(p.opts, courier.Header(name, it.value))
				p.stored.Del(name)
			}
			seen[name] = true
			if it.value != "" {
				p.stored.Add(name, it.value)
			}
		case itemHeaderUnset:
			p.opts = append(p.opts, courier.RemoveHeader(name))
			p.stored[name] = []string{""}
		}
	}
	return nil
}

// jarCookies puts a Cookie item's cookies in the session's jar, bound to
// this host, so that they are sent as the jar decides and saved with it.
func (p *prepared) jarCookies(it item) error {
	cs, err := http.ParseCookie(it.value)
	if err != nil {
		return usagef("item %q: %v", it.raw, err)
	}
	for _, c := range cs {
		c.Path = "/"
	}
	p.sf.Jar.SetCookies(p.a.url, cs)
	return nil
}

// close ends the session and releases the body.
func (p *prepared) close(ctx context.Context) {
	p.body.close()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	p.session.Close(ctx)
}

// do sends the request once.
func (p *prepared) do(ctx context.Context, more ...courier.RequestOption) (*courier.Response, error) {
	return p.session.Do(ctx, p.a.method, p.a.url.String(), append(p.opts, more...)...)
}

// save writes the session file, unless there is none or it is read-only.
func (p *prepared) save() error {
	if p.a.session == "" || p.a.sessionReadOnly {
		return nil
	}
	p.sf.UpdateHeaders(p.stored)
	if err := p.sf.Save(); err != nil {
		return fmt.Errorf("saving the session: %w", err)
	}
	return nil
}

// addQuery appends the query items to u's query, keeping what u has.
func addQuery(u *url.URL, items []item) {
	var q strings.Builder
	q.WriteString(u.RawQuery)
	for _, it := range items {
		if it.kind != itemQuery {
			continue
		}
		if q.Len() > 0 {
			q.WriteByte('&')
		}
		q.WriteString(url.QueryEscape(it.key))
		q.WriteByte('=')
		q.WriteString(url.QueryEscape(it.value))
	}
	u.RawQuery = q.String()
}

// request runs a request command line and returns the exit code.
func request(ctx context.Context, a *args, sio stdio) int {
	a.defaultPretty(sio)
	a.defaultPrint(sio)
	tr, extra := newTrace(a, sio)
	p, err := prepare(a, sio, extra...)
	if err != nil {
		return fail(sio, err)
	}
	defer p.close(ctx)

	switch {
	case a.repeat > 0:
		return repeat(ctx, p, sio)
	case a.download:
		return runDownload(ctx, p, sio, tr)
	}
	return exchange(ctx, p, sio, tr)
}

// defaultPretty picks --pretty when it was not given: none when the output
// is not a terminal, format under NO_COLOR, all otherwise.
func (a *args) defaultPretty(sio stdio) {
	if a.pretty != "" {
		return
	}
	switch {
	case !sio.OutTTY || a.output != "":
		a.pretty = "none"
	case sio.Getenv("NO_COLOR") != "": // https://no-color.org
		a.pretty = "format"
	default:
		a.pretty = "all"
	}
}

// defaultPrint picks what is printed when -p, -v, -h and -b were not
// given: the request with --offline, the response's head and body on a
// terminal, its body otherwise.
func (a *args) defaultPrint(sio stdio) {
	if a.printSet {
		return
	}
	switch {
	case a.offline:
		a.print = "HB"
	case sio.OutTTY && a.output == "":
		a.print = "hb"
	default:
		a.print = "b"
	}
}

// newTrace sets --trace up: the tracer that reports on stderr, and the
// session options that feed it. Both are nil without --trace.
func newTrace(a *args, sio stdio) (*tracer, []courier.Option) {
	if !a.trace {
		return nil, nil
	}
	tr := &tracer{w: sio.Err, secrets: a.showSecrets, colors: sio.ErrTTY}
	return tr, []courier.Option{courier.WithDetailedTimings(true), courier.WithHooks(tr.hooks())}
}

// exchange sends the request once and prints what -p asks for, to stdout
// or the --output file. --offline and --curl stop once the request is
// printed.
func exchange(ctx context.Context, p *prepared, sio stdio, tr *tracer) int {
	a := p.a
	out, outTTY := sio.Out, sio.OutTTY
	if a.output != "" {
		f, err := os.OpenFile(expandHome(a.output), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
		if err != nil {
			return fail(sio, fmt.Errorf("--output %s: %s", a.output, pathError(err)))
		}
		defer f.Close()
		out, outTTY = f, false
	}
	pr := newPrinter(out, a.pretty, outTTY, a.showSecrets)
	pr.wire = p.wire
	if a.quiet {
		pr.w = io.Discard
	}

	start := time.Now()
	resp, err := p.do(ctx)
	p.printSent(pr, out)
	if err != nil {
		return fail(sio, err)
	}
	defer resp.Close()
	if a.offline || a.curl {
		if err := p.save(); err != nil {
			return fail(sio, err)
		}
		return exitOK
	}
	return p.finishExchange(pr, resp, start, sio, tr)
}

// printSent writes the request as it was sent, if it was built: as a curl
// command on out with --curl (even with --quiet), else as -p asks (H, B).
func (p *prepared) printSent(pr *printer, out io.Writer) {
	req := p.rec.last()
	switch {
	case req == nil:
	case p.a.curl && p.a.showSecrets:
		fmt.Fprintln(out, curl.Command(req, nil))
	case p.a.curl:
		fmt.Fprintln(out, curl.Command(req, redact.IsSensitiveHeader))
	default:
		pr.history(p.wire, p.a.historyParts())
		printRequest(pr, req, p.a.print)
	}
}

// finishExchange reads and prints the response (-p h, b, m), reports --trace's
// summary, saves the session and returns the exit code.
func (p *prepared) finishExchange(pr *printer, resp *courier.Response, start time.Time, sio stdio, tr *tracer) int {
	bodyErr := printResponse(pr, resp, p.a.print)
	elapsed := time.Since(start)
	if strings.Contains(p.a.print, "m") {
		fmt.Fprintf(pr.w, "\n%s %.6fs\n", pr.paint(colorDim, "Elapsed time:"), elapsed.Seconds())
	}
	if tr != nil {
		tr.summary(resp, elapsed)
	}
	// The session is saved once the exchange is over, whatever the status:
	// the server may have set or cleared cookies with it.
	if err := p.save(); err != nil {
		return fail(sio, err)
	}
	if bodyErr != nil {
		return fail(sio, fmt.Errorf("reading the response body: %w", bodyErr))
	}
	return checkStatus(p.a, sio, resp)
}

// printResponse writes what -p asks of the response (h, b), and reads the
// rest of the body when b is not asked for. It returns the error of reading
// the body, or of closing the response.
func printResponse(pr *printer, resp *courier.Response, print string) error {
	if strings.Contains(print, "h") {
		pr.responseHead(resp)
		if strings.Contains(print, "b") {
			fmt.Fprintln(pr.w)
		}
	}
	var err error
	if strings.Contains(print, "b") {
		err = pr.responseBody(resp.Body(), resp.Header.Get("Content-Type"))
	} else {
		_, err = io.Copy(io.Discard, resp.Body())
	}
	if err == nil {
		err = resp.Close()
	}
	return err
}

// checkStatus is the exit code for resp: with --check-status, 3, 4 or 5 by
// its status (see statusExit), with a warning on stderr when stdout does
// not show the status line.
func checkStatus(a *args, sio stdio, resp *courier.Response) int {
	if !a.checkStatus {
		return exitOK
	}
	code := statusExit(resp.StatusCode, a.follow)
	if code != exitOK && (!sio.OutTTY || a.quiet) {
		fmt.Fprintf(sio.Err, "courier: warning: HTTP %s\n", resp.Status)
	}
	return code
}

// printRequest writes what -p asks of the request (H and B).
func printRequest(pr *printer, req *http.Request, print string) {
	if strings.Contains(print, "H") {
		pr.requestHead(req)
		fmt.Fprintln(pr.w)
	}
	if strings.Contains(print, "B") && req.Body != nil && req.Body != http.NoBody {
		pr.requestBody(req)
		fmt.Fprintln(pr.w)
	}
}

// statusExit is --check-status's exit code for a status: 3, 4 or 5 for a
// 3xx (unless redirects are followed), 4xx or 5xx.
func statusExit(code int, follow bool) int {
	switch {
	case code >= 500:
		return exit5xx
	case code >= 400:
		return exit4xx
	case code >= 300 && !follow:
		return exit3xx
	}
	return exitOK
}
