package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/download"
)

// A download to a file that --output names goes through the library's
// download.File: the body is written to FILE.part (0600, its validator in
// FILE.part.json) and renamed to FILE only once complete, so an interrupted
// download never leaves a partial file under FILE; a body cut short is
// resumed in the same run, and --continue resumes FILE.part in a later one
// with Range and If-Range, so that a file that changed on the server in
// between starts over instead of being spliced from two versions.

// resumable says whether the request can go through download.File: a GET
// without a body, to a file --output names.
func (p *prepared) resumable(toStdout bool) bool {
	return !toStdout && p.a.output != "" && p.a.method == http.MethodGet && p.body.opt == nil
}

// partFiles returns the names of the .part and sidecar that download.File
// keeps beside name.
func partFiles(name string) (part, meta string) {
	return name + ".part", name + ".part.json"
}

// checkPart refuses to start a download over the .part an earlier one left
// unless --continue (resume it) or --overwrite (discard it) says what to do
// with it, and discards it for --overwrite.
func (a *args) checkPart() error {
	part, meta := partFiles(a.output)
	fi, err := os.Lstat(part)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("--output %s: %s", a.output, pathError(err))
	case a.resume:
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("%s is not a regular file", part)
		}
		return nil
	case !a.overwrite:
		return fmt.Errorf("%s holds an interrupted download: give --continue to resume it or --overwrite to start over", part)
	}
	for _, n := range []string{part, meta} {
		if err := os.Remove(n); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("--overwrite: %s", pathError(err))
		}
	}
	return nil
}

// downloadFile runs a resumable download (see resumable) and returns the
// exit code.
func downloadFile(ctx context.Context, p *prepared, sio stdio, tr *tracer) int {
	a := p.a
	if _, err := a.downloadOffset(false); err != nil {
		return fail(sio, err)
	}
	if err := a.checkPart(); err != nil {
		return fail(sio, err)
	}
	msg := sio.Err
	if a.quiet {
		msg = io.Discard
	}
	part, _ := partFiles(a.output)
	if a.resume {
		if _, err := os.Lstat(part); errors.Is(err, fs.ErrNotExist) {
			if _, err := os.Lstat(a.output); err == nil {
				fmt.Fprintf(msg, "%s was not left by an interrupted courier download (there is no %s with its validator): it cannot be resumed safely, so it is downloaded again\n", a.output, part)
			}
		}
	}

	start := time.Now()
	var last *courier.Response
	var bar *progress
	opts := []download.Option{
		download.RequestOptions(p.opts...),
		download.OnResponse(func(resp *courier.Response) error {
			if last == nil {
				p.printDownloadHead(msg, sio, resp)
			}
			last = resp
			announce(msg, resp, a.output)
			return nil
		}),
		download.Progress(func(done, total int64) {
			if bar == nil {
				bar = newProgress(msg, sio.ErrTTY && !a.quiet, 0, -1)
			}
			bar.set(done, total)
		}),
	}
	res, err := download.File(ctx, p.session, a.url.String(), a.output, opts...)
	if bar != nil {
		bar.finish()
	}
	if serr := p.save(); err == nil && serr != nil {
		err = serr
	}
	if err != nil {
		return fail(sio, downloadError(err, a.output, msg, sio, p))
	}
	elapsed := time.Since(start)
	switch {
	case res.Resumed && res.Written == 0:
		fmt.Fprintf(msg, "%s is complete already (%s)\n", a.output, size(res.Size))
	default:
		fmt.Fprintf(msg, "Done. %s in %.2fs (%s/s)%s\n", size(res.Written), elapsed.Seconds(),
			size(int64(float64(res.Written)/max(elapsed.Seconds(), 1e-6))), verified(res))
	}
	if tr != nil && last != nil {
		tr.summary(last, elapsed)
	}
	return exitOK
}

// announce says what a response does to the file: starts it, resumes it,
// or finds it complete.
func announce(msg io.Writer, resp *courier.Response, name string) {
	total := "unknown size"
	switch resp.StatusCode {
	case http.StatusPartialContent:
		if t, ok := rangeTotal(resp.Header.Get("Content-Range")); ok {
			total = size(t)
		}
		from, _ := rangeStart(resp.Header.Get("Content-Range"))
		fmt.Fprintf(msg, "Resuming %s at %s (%s)\n", strconv.Quote(name), size(from), total)
	case http.StatusRequestedRangeNotSatisfiable:
	default:
		if n := contentLength(resp.Header); n >= 0 {
			total = size(n)
		}
		fmt.Fprintf(msg, "Downloading to %s (%s)\n", strconv.Quote(name), total)
	}
}

// verified names the digests a download checked, for the last line.
func verified(res *download.Result) string {
	if len(res.Verified) == 0 {
		return ""
	}
	s := ", verified:"
	for _, d := range res.Verified {
		s += " " + d.Algorithm + " (" + d.Source + ")"
	}
	return s
}

// downloadError explains a failed download: the status of a response that
// was not a success, with HTTPie's exit code (its head printed, as for any
// response); how much an incomplete download saved and how to resume it.
func downloadError(err error, name string, msg io.Writer, sio stdio, p *prepared) error {
	var se *courier.StatusError
	if errors.As(err, &se) {
		proto := "HTTP/1.1"
		if x := p.wire.final(); x != nil && x.proto != "" {
			proto = x.proto
		}
		p.printDownloadHead(msg, sio, &courier.Response{StatusCode: se.StatusCode, Status: se.Status, Header: se.Header, Proto: proto})
		code := statusExit(se.StatusCode, true)
		if code == exitOK {
			code = exitError
		}
		return &codeError{code, fmt.Errorf("HTTP %s: nothing downloaded", se.Status)}
	}
	part, _ := partFiles(name)
	if fi, serr := os.Stat(part); serr == nil && fi.Size() > 0 {
		return fmt.Errorf("incomplete download: %s saved to %s (resume with --continue -o %s): %w", size(fi.Size()), part, name, err)
	}
	return err
}
