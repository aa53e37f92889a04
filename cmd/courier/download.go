package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/courierhttp/courier"
)

// runDownload saves the response body to a file (--download): named by -o,
// by the server's Content-Disposition, or by the URL the user gave (never
// by a redirect target: HTTPie CVE-2019-10751), never over an existing file
// unless asked; --continue resumes a partial one with a Range request.
// Without -o and with stdout redirected, the body goes to stdout, as
// HTTPie's does. The destination is checked before anything is sent.
func runDownload(ctx context.Context, p *prepared, sio stdio, tr *tracer) int {
	a := p.a
	toStdout := a.output == "" && !sio.OutTTY
	if p.resumable(toStdout) {
		return downloadFile(ctx, p, sio, tr)
	}
	if a.resume {
		return fail(sio, usagef("--continue resumes a GET download without a body"))
	}
	offset, err := a.downloadOffset(toStdout)
	if err != nil {
		return fail(sio, err)
	}
	start := time.Now()
	resp, err := p.do(ctx, downloadOptions(offset)...)
	if err != nil {
		return fail(sio, err)
	}
	defer resp.Close()
	msg := sio.Err
	if a.quiet {
		msg = io.Discard
	}
	p.printDownloadHead(msg, sio, resp)
	if err := p.save(); err != nil {
		return fail(sio, err)
	}
	complete, err := checkDownloadStatus(resp, offset, a.output)
	switch {
	case err != nil:
		return fail(sio, err)
	case complete:
		fmt.Fprintf(msg, "%s is complete already (%s)\n", a.output, size(offset))
		return exitOK
	}

	dst, offset, err := downloadTarget(a, resp, offset, sio.Out, toStdout, msg)
	if err != nil {
		return fail(sio, err)
	}
	n, err := receive(dst, resp, offset, msg, sio.ErrTTY && !a.quiet)
	if err != nil {
		return fail(sio, err)
	}
	elapsed := time.Since(start)
	fmt.Fprintf(msg, "Done. %s in %.2fs (%s/s)\n", size(n), elapsed.Seconds(), size(int64(float64(n)/max(elapsed.Seconds(), 1e-6))))
	if tr != nil {
		tr.summary(resp, elapsed)
	}
	return exitOK
}

// downloadOffset checks where the download goes before anything is sent,
// and returns the size of the file that --continue resumes, or 0. The body
// goes to stdout when toStdout. Without --output, the current directory
// must take a new file. --output (a leading ~ expanded) must be a file in a
// directory that exists; a new one must be creatable there, an existing one
// is kept unless --overwrite or --continue is given, and must be writable.
func (a *args) downloadOffset(toStdout bool) (int64, error) {
	switch {
	case toStdout:
		return 0, nil
	case a.output == "":
		if err := creatable("."); err != nil {
			wd, _ := os.Getwd()
			return 0, fmt.Errorf("cannot save the download in the current directory (%s): %w", wd, err)
		}
		return 0, nil
	}
	a.output = expandHome(a.output)
	fi, err := os.Stat(a.output)
	if err == nil {
		return a.existingOutput(fi)
	}
	dir := filepath.Dir(a.output)
	if derr := creatable(dir); derr != nil {
		return 0, fmt.Errorf("--output %s: %s: %w", a.output, dir, derr)
	}
	if !errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("--output %s: %s", a.output, pathError(err))
	}
	return 0, nil
}

// existingOutput checks the file --output names, which exists (fi): it is
// kept unless --overwrite or --continue is given, and must be writable. It
// returns the offset --continue resumes at, or 0.
func (a *args) existingOutput(fi os.FileInfo) (int64, error) {
	switch {
	case fi.IsDir():
		return 0, fmt.Errorf("--output %s is a directory: name a file", a.output)
	case !a.resume && !a.overwrite:
		return 0, fmt.Errorf("%s exists: give --overwrite to replace it or --continue to resume it", a.output)
	}
	if err := writable(a.output, fi); err != nil {
		return 0, fmt.Errorf("--output %s: %s", a.output, pathError(err))
	}
	if a.resume {
		return fi.Size(), nil
	}
	return 0, nil
}

// creatable says whether a new file can be created in dir: it is a
// directory, and one is created there and removed, which answers for
// permissions, ACLs and read-only mounts alike.
func creatable(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return errors.New("no such directory")
	case err != nil:
		return errors.New(pathError(err))
	case !fi.IsDir():
		return errors.New("not a directory")
	}
	f, err := os.CreateTemp(dir, ".courier-check-*")
	if err != nil {
		return errors.New(pathError(err))
	}
	f.Close()
	return os.Remove(f.Name())
}

// writable says whether the existing file name (fi) can be written to; a
// file that is not a regular one (a device, a pipe) is left to the write.
func writable(name string, fi os.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return nil
	}
	f, err := os.OpenFile(name, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	return f.Close()
}

// downloadOptions ask for the bytes as sent, so that the file holds them:
// no content coding to undo, and, when resuming after offset bytes, a Range
// that counts the same bytes as the file.
func downloadOptions(offset int64) []courier.RequestOption {
	opts := []courier.RequestOption{courier.Header("Accept-Encoding", "identity")}
	if offset > 0 {
		opts = append(opts, courier.Header("Range", fmt.Sprintf("bytes=%d-", offset)))
	}
	return opts
}

// printDownloadHead writes the intermediary exchanges with --all, the
// request when -p asks for its headers (H), then the response's status line
// and headers, to msg (stderr): colored on a terminal unless NO_COLOR is
// set.
func (p *prepared) printDownloadHead(msg io.Writer, sio stdio, resp *courier.Response) {
	pretty, tty := "none", false
	if sio.ErrTTY && sio.Getenv("NO_COLOR") == "" {
		pretty, tty = "colors", true
	}
	pr := newPrinter(msg, pretty, tty, p.a.showSecrets)
	pr.wire = p.wire
	// The response heads are printed whatever -p says: so are the
	// intermediary ones, unless --history-print says otherwise.
	parts := p.a.history
	if parts == "" {
		parts = p.a.print + "h"
	}
	pr.history(p.wire, parts)
	if strings.Contains(p.a.print, "H") {
		if req := p.rec.last(); req != nil {
			printRequest(pr, req, p.a.print)
		}
	}
	pr.responseHead(resp)
	fmt.Fprintln(msg)
}

// checkDownloadStatus says whether resp can be saved: a 2xx can. A 416 to a
// resume after offset bytes means the file is complete when it holds the
// whole length; otherwise it, like any other status, is an error with the
// exit code of the status (output names the file, for the message).
func checkDownloadStatus(resp *courier.Response, offset int64, output string) (complete bool, err error) {
	switch {
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && offset > 0:
		if total, ok := rangeTotal(resp.Header.Get("Content-Range")); ok && total == offset {
			return true, nil
		}
		return false, &codeError{exit4xx, fmt.Errorf("HTTP %s: cannot resume %s", resp.Status, output)}
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		code := statusExit(resp.StatusCode, true)
		if code == exitOK {
			code = exitError
		}
		return false, &codeError{code, fmt.Errorf("HTTP %s: nothing downloaded", resp.Status)}
	}
	return false, nil
}

// openDownload opens the file name to save resp's body in: truncated, or
// appended to when a resume after offset bytes gets the 206 that starts
// there. A resume answered with the whole file starts over, and the offset
// returned is then 0.
func openDownload(name string, resp *courier.Response, offset int64, msg io.Writer) (*os.File, int64, error) {
	flags := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	if offset > 0 {
		if resp.StatusCode == http.StatusPartialContent {
			got, ok := rangeStart(resp.Header.Get("Content-Range"))
			if !ok || got != offset {
				return nil, 0, fmt.Errorf("cannot resume %s: asked for bytes from %d, got %q", name, offset, resp.Header.Get("Content-Range"))
			}
			flags = os.O_WRONLY | os.O_APPEND
		} else {
			fmt.Fprintf(msg, "the server sent the whole file: %s starts over\n", name)
			offset = 0
		}
	}
	f, err := os.OpenFile(name, flags, 0o644)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %s", name, pathError(err))
	}
	return f, offset, nil
}

// target is where a download's body goes: a file, or stdout.
type target struct {
	w    io.WriteCloser
	name string // the file's; "" for stdout
}

// downloadTarget opens where resp's body goes: stdout when toStdout, else
// the file --output names or one named after the response (see
// openDownload). The offset returned is where the body starts in it.
func downloadTarget(a *args, resp *courier.Response, offset int64, stdout io.Writer, toStdout bool, msg io.Writer) (target, int64, error) {
	if toStdout {
		return target{w: nopWriteCloser{stdout}}, 0, nil
	}
	name := a.output
	if name == "" {
		name = uniqueName(fileName(resp.Header, a.url))
	}
	f, offset, err := openDownload(name, resp, offset, msg)
	if err != nil {
		return target{}, 0, err
	}
	return target{w: f, name: name}, offset, nil
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// receive announces the download on msg and writes resp's body into dst
// (holding offset bytes already), with a progress bar when tty. It closes
// dst and the response, and returns the bytes written; its error says how
// much was saved and how to resume.
func receive(dst target, resp *courier.Response, offset int64, msg io.Writer, tty bool) (int64, error) {
	expected := contentLength(resp.Header)
	verb := "Downloading"
	if offset > 0 {
		verb = "Resuming"
	}
	total := "unknown size"
	if expected >= 0 {
		total = size(offset + expected)
	}
	shown := "<stdout>"
	if dst.name != "" {
		shown = strconv.Quote(dst.name)
	}
	fmt.Fprintf(msg, "%s to %s (%s)\n", verb, shown, total)
	bar := newProgress(msg, tty, offset, expected)
	n, err := copyBody(dst.w, resp, expected, bar)
	switch {
	case err != nil && dst.name == "":
		return n, fmt.Errorf("incomplete download: %s of %s written to stdout: %w", size(n), total, err)
	case err != nil:
		return n, fmt.Errorf("incomplete download: %s of %s saved to %s (resume with --continue -o %s): %w",
			size(offset+n), total, dst.name, dst.name, err)
	}
	return n, nil
}

// contentLength is the length that h's Content-Length gives, or -1 when it
// gives none.
func contentLength(h http.Header) int64 {
	if cl := h.Get("Content-Length"); cl != "" {
		if n, err := strconv.ParseInt(cl, 10, 64); err == nil {
			return n
		}
	}
	return -1
}

// copyBody copies resp's body into f through bar, then closes f and the
// response. A body shorter than expected (when expected is not -1) is
// io.ErrUnexpectedEOF.
func copyBody(f io.WriteCloser, resp *courier.Response, expected int64, bar *progress) (int64, error) {
	n, err := io.Copy(f, io.TeeReader(resp.Body(), bar))
	bar.finish()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = resp.Close()
	}
	if err == nil && expected >= 0 && n < expected {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// fileName is the name to save a download as: the server's
// Content-Disposition filename, or the last segment of the URL the user
// gave, with an extension from Content-Type when it has none. Either is
// sanitised to a plain name in the current directory.
func fileName(h http.Header, u *url.URL) string {
	if _, params, err := mime.ParseMediaType(h.Get("Content-Disposition")); err == nil {
		if name := sanitize(params["filename"]); name != "" {
			return name
		}
	}
	name := sanitize(path.Base(u.Path))
	if name == "" {
		name = "index"
	}
	if path.Ext(name) == "" {
		if mt, _, err := mime.ParseMediaType(h.Get("Content-Type")); err == nil {
			name += extension(mt)
		}
	}
	return name
}

// extension is the usual file extension of a media type.
func extension(mt string) string {
	switch mt {
	case "text/html":
		return ".html"
	case "text/plain":
		return ".txt"
	case "application/json":
		return ".json"
	case "application/octet-stream":
		return ""
	}
	if exts, _ := mime.ExtensionsByType(mt); len(exts) > 0 {
		return exts[0]
	}
	return ""
}

// sanitize makes a name from a server or a URL safe to create in the
// current directory: its last path element only (no "../", no absolute
// path), no control characters, no leading dots (hidden files, "..").
func sanitize(name string) string {
	name = strings.ReplaceAll(name, "\\", "/")
	name = path.Base(name)
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '/' || r == ':' {
			return -1
		}
		return r
	}, name)
	name = strings.TrimLeft(strings.TrimSpace(name), ".")
	if len(name) > 200 {
		ext := path.Ext(name)
		if len(ext) > 20 {
			ext = ""
		}
		name = name[:200-len(ext)] + ext
	}
	return strings.ToValidUTF8(name, "")
}

// uniqueName is name, or name-1.ext, name-2.ext... when it exists.
func uniqueName(name string) string {
	if _, err := os.Lstat(name); errors.Is(err, os.ErrNotExist) {
		return name
	}
	ext := filepath.Ext(name)
	stem := strings.TrimSuffix(name, ext)
	for i := 1; ; i++ {
		n := fmt.Sprintf("%s-%d%s", stem, i, ext)
		if _, err := os.Lstat(n); errors.Is(err, os.ErrNotExist) {
			return n
		}
	}
}

// rangeStart reads the first byte of "bytes 100-199/200".
func rangeStart(cr string) (int64, bool) {
	rest, ok := strings.CutPrefix(cr, "bytes ")
	if !ok {
		return 0, false
	}
	first, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(first, 10, 64)
	return n, err == nil
}

// rangeTotal reads the complete length of "bytes */200" or
// "bytes 0-99/200".
func rangeTotal(cr string) (int64, bool) {
	_, total, ok := strings.Cut(cr, "/")
	if !ok || !strings.HasPrefix(cr, "bytes ") {
		return 0, false
	}
	n, err := strconv.ParseInt(total, 10, 64)
	return n, err == nil
}

// size writes a byte count for people.
func size(n int64) string {
	switch {
	case n < 0:
		return "?"
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	case n < 1<<30:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
}

// progress draws a download's progress bar on a terminal's stderr, at most
// ten times a second.
type progress struct {
	w           io.Writer
	tty         bool
	done, total int64 // total < 0: unknown
	start, last time.Time
	drawn       bool
}

// newProgress starts a progress bar on w for a body of expected bytes (-1:
// unknown) written after offset bytes; it draws only when tty.
func newProgress(w io.Writer, tty bool, offset, expected int64) *progress {
	bar := &progress{w: w, tty: tty, done: offset, total: offset + expected, start: time.Now()}
	if expected < 0 {
		bar.total = -1
	}
	return bar
}

func (p *progress) Write(b []byte) (int, error) {
	p.done += int64(len(b))
	if p.tty && time.Since(p.last) >= 100*time.Millisecond {
		p.last = time.Now()
		p.draw()
	}
	return len(b), nil
}

// set moves the bar to done bytes of total (-1: unknown), for a download
// that reports its progress rather than writing through the bar.
func (p *progress) set(done, total int64) {
	p.done, p.total = done, total
	if p.tty && time.Since(p.last) >= 100*time.Millisecond {
		p.last = time.Now()
		p.draw()
	}
}

func (p *progress) draw() {
	rate := float64(p.done) / max(time.Since(p.start).Seconds(), 1e-3)
	line := fmt.Sprintf("%s  %s/s", size(p.done), size(int64(rate)))
	if p.total > 0 {
		frac := min(float64(p.done)/float64(p.total), 1)
		const width = 30
		filled := int(frac * width)
		bar := strings.Repeat("█", filled) + strings.Repeat("░", width-filled)
		eta := "-"
		if rate > 0 {
			eta = time.Duration(float64(p.total-p.done) / rate * float64(time.Second)).Round(time.Second).String()
		}
		line = fmt.Sprintf("%3.0f%% %s %s / %s  %s/s  ETA %s", frac*100, bar, size(p.done), size(p.total), size(int64(rate)), eta)
	}
	fmt.Fprintf(p.w, "\r\x1b[K%s", line)
	p.drawn = true
}

// finish draws the last state and ends the line.
func (p *progress) finish() {
	if !p.tty {
		return
	}
	p.draw()
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}
