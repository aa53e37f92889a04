// Command courier is an HTTP client for the terminal with HTTPie's syntax,
// built on the courier library: persisted sessions, retries, timeouts,
// typed failures and timings.
//
//	courier [flags] [METHOD] URL [ITEM ...]
//	courier demo
//	courier session list|show|import ...
//
// Run "courier --help" for the flags and items, and see the README's CLI
// section for a comparison with HTTPie.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"github.com/courierhttp/courier"
	"golang.org/x/term"
)

// version is the CLI's version: courier's own, whose User-Agent it sends.
const version = "0.2.0"

// Exit codes, as HTTPie's.
const (
	exitOK            = 0
	exitError         = 1
	exitTimeout       = 2
	exit3xx           = 3
	exit4xx           = 4
	exit5xx           = 5
	exitTooManyRedirs = 6
	exitInterrupted   = 130
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], osStdio())
	stop()
	os.Exit(code)
}

// stdio is what a run reads and writes, and what it knows of its terminal:
// the tests hand run their own.
type stdio struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
	// InData says In holds a body to send (a pipe or a file, not a
	// terminal or /dev/null).
	InData bool
	// OutTTY and ErrTTY say Out and Err are terminals; Width is the
	// terminal's width (0 when unknown).
	OutTTY, ErrTTY bool
	Width          int
	// Getenv reads the environment (COURIER_CONFIG_DIR, HOME, ...).
	Getenv func(string) string
	// ReadPassword asks for a password at the terminal; nil when there is
	// none to ask at.
	ReadPassword func(prompt string) (string, error)
}

// osStdio is the process's own stdio.
func osStdio() stdio {
	io := stdio{
		In: os.Stdin, Out: os.Stdout, Err: os.Stderr,
		OutTTY: term.IsTerminal(int(os.Stdout.Fd())),
		ErrTTY: term.IsTerminal(int(os.Stderr.Fd())),
		Getenv: os.Getenv,
	}
	if fi, err := os.Stdin.Stat(); err == nil {
		m := fi.Mode()
		io.InData = m&os.ModeNamedPipe != 0 || m.IsRegular()
	}
	if io.OutTTY {
		if w, _, err := term.GetSize(int(os.Stdout.Fd())); err == nil {
			io.Width = w
		}
	} else if io.ErrTTY {
		if w, _, err := term.GetSize(int(os.Stderr.Fd())); err == nil {
			io.Width = w
		}
	}
	if term.IsTerminal(int(os.Stdin.Fd())) {
		io.ReadPassword = func(prompt string) (string, error) {
			fmt.Fprint(os.Stderr, prompt)
			b, err := term.ReadPassword(int(os.Stdin.Fd()))
			fmt.Fprintln(os.Stderr)
			return string(b), err
		}
	}
	return io
}

// run is the whole command: it parses argv, does what it says, and returns
// the exit code. Errors go to stdio.Err as one line.
func run(ctx context.Context, argv []string, sio stdio) int {
	if sio.Getenv == nil {
		sio.Getenv = func(string) string { return "" }
	}
	if sio.In == nil {
		sio.In = strings.NewReader("")
	}
	if len(argv) > 0 {
		switch argv[0] {
		case "demo":
			return runDemo(ctx, argv[1:], sio)
		case "session":
			return runSession(ctx, argv[1:], sio)
		}
	}
	a, err := parseArgs(argv, osReadFile)
	switch {
	case errors.Is(err, errHelp):
		fmt.Fprint(sio.Out, usage)
		return exitOK
	case errors.Is(err, errVersion):
		fmt.Fprintln(sio.Out, "courier", version)
		return exitOK
	case err != nil:
		return fail(sio, err)
	}
	return request(ctx, a, sio)
}

// fail prints err as one line on stderr and returns its exit code.
func fail(sio stdio, err error) int {
	// The library's errors say "courier: " already.
	msg := strings.TrimPrefix(err.Error(), "courier: ")
	msg = strings.ReplaceAll(strings.TrimSpace(msg), "\n", " ")
	fmt.Fprintf(sio.Err, "courier: error: %s\n", msg)
	return exitCode(err)
}

// exitCode maps an error to HTTPie's exit codes.
func exitCode(err error) int {
	var ce *codeError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ce):
		return ce.code
	case errors.Is(err, courier.ErrTooManyRedirects):
		return exitTooManyRedirs
	case errors.Is(err, courier.ErrCanceled) || errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.Is(err, courier.ErrTimeout):
		return exitTimeout
	}
	return exitError
}

// codeError is an error with its own exit code.
type codeError struct {
	code int
	err  error
}

func (e *codeError) Error() string { return e.err.Error() }
func (e *codeError) Unwrap() error { return e.err }

const usage = `usage: courier [flags] [METHOD] URL [ITEM ...]
       courier demo
       courier session list | show NAME HOST | import httpie PATH [--host HOST] [--name NAME]
       courier session import cookies.txt FILE|- (--host HOST [--name NAME] | --output PATH)
       courier session export cookies.txt (NAME HOST | PATH) [FILE|-]

METHOD defaults to GET, or POST when there is data (items, --raw or a piped
body). URL: http:// is assumed; :8080/x and :/x mean localhost.

Items (HTTPie's syntax; escape a separator with \):
  Header:Value      request header          Header:        drop a header (and a session's)
  Header;           empty header            Header:@file   header value from a file
  name==value       query parameter         name==@file    query value from a file
  field=value       JSON string field (form field with --form)   field=@file  from a file
  field:=json       raw JSON value          field:=@file   raw JSON from a file
  field@file        file upload (--form)    field@file;type=image/png
  field[a][]=v      nested JSON: a[b]=1, a[]:=1, [0][k]=v; \[ and \] escape
                    (a field given twice: the last value wins, as HTTPie 3)

Body:
  -j, --json            send data items as JSON (the default) and ask for JSON
  -f, --form            send data items as a form; field@file makes it multipart
      --multipart       always send a multipart form
      --raw TEXT        send TEXT as the body
  -I, --ignore-stdin    do not read a body from stdin (read when it is piped)

Output:
  -p, --print WHAT      H request headers, B request body, h response headers,
                        b response body, m metadata (default hb; b when piped)
  -v, --verbose         print the request too (-p HBhb), and every exchange
                        (--all); -vv also the metadata (-p HBhbm)
      --all             print the intermediary exchanges too: the redirects
                        followed, auth challenges and retried responses
  -P, --history-print WHAT  what --all prints of those (letters of -p;
                        default what -p prints)
  -h, --headers         response headers only (-p h)
  -b, --body            response body only (-p b)
      --pretty MODE     all, colors, format or none (all on a terminal, none piped)
  -q, --quiet           print nothing but errors
      --check-status    exit 3, 4 or 5 for a 3xx, 4xx or 5xx response
      --offline         build the request and print it, do not send it
      --curl            print the request as a curl command, do not send it
      --show-secrets    print secrets as sent (they are redacted by default)
      --trace           print where the time went and every retry (stderr)

Sessions and auth:
      --session NAME|PATH            keep headers, cookies and auth across runs
      --session-read-only NAME|PATH  use a session, never write it
  -a, --auth USER[:PASS] | TOKEN     credentials (asks for a missing password)
  -A, --auth-type basic|digest|bearer
      --ignore-netrc                 do not read credentials from $NETRC or ~/.netrc
                                     (read when no -a is given)

Network:
  -F, --follow          follow redirects (off by default, as HTTPie)
      --max-redirects N redirects followed at most (30)
      --timeout SECONDS the whole request (default 30s; 2.5 or 500ms)
      --retries N       retries of a failed idempotent request (default 2; 0: none)
      --verify yes|no|CA_FILE   check the server's certificate (yes)
      --cert FILE       client certificate (PEM; with its key, or --cert-key FILE)
      --proxy PROTOCOL:URL      proxy for http or https (repeatable)
      --guard           refuse private, loopback, link-local and metadata
                        addresses, checked on the address dialed (SSRF guard)
      --cache DIR       keep responses in a private HTTP cache in DIR (made
                        0700, 256 MiB at most), shared by runs that send the
                        same credentials: a fresh response is printed without
                        a request (its Age header says how old), a stale one
                        revalidated; Cache-Control:no-cache asks the server
                        anyway. Not used with --offline or --curl; there is
                        no environment variable for it

Downloads:
  -d, --download        save the body to a file (named by the server or the URL);
                        to stdout when it is redirected and -o is not given
  -o, --output FILE     the file to save to (without -d: where to print)
  -c, --continue        resume the interrupted download of --output FILE (kept
                        in FILE.part), with Range and If-Range
      --overwrite       replace an existing --output file

Load:
      --repeat N        send the request N times over one session and report
                        latency percentiles, statuses and connection reuse
      --concurrency C   with --repeat: C at a time (1)

Exit codes: 0 ok, 1 error, 2 timeout, 3/4/5 with --check-status, 6 too many redirects.
`
