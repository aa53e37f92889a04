// Package download saves a URL's content to a file through a courier
// session: resumably, verified, and never leaving a partial file under
// the final name.
//
//	res, err := download.File(ctx, s, "https://example.com/big.iso", "big.iso",
//		download.SHA256("9f86d0…"),
//		download.Progress(func(done, total int64) { … }),
//	)
//
// # Files on disk
//
// [File] writes to path + ".part" (mode 0600 while it is incomplete and
// unverified), beside it a small JSON sidecar, path + ".part.json" (mode
// 0600), that records the URL and the validator of the response the .part
// began with, and renames the .part to path only once it is complete and
// every digest matched. A crash or a cancel at any moment therefore leaves
// nothing new under path: only the .part and its sidecar, which a later
// call with the same URL and path resumes. The final file gets mode 0644
// (see [Perm]) and replaces a file already at path. Two calls must not
// download to the same path at the same time.
//
// # Resuming
//
// A .part is resumed only with a validator: the strong ETag of the
// response it began with, else its Last-Modified. File sends
// "Range: bytes=N-" with "If-Range: <validator>", so that a server whose
// file changed sends the new one whole (200) instead of a range of it, and
// accepts a 206 only when its Content-Range starts exactly at N and agrees
// with the length known. Anything else (a 200, a Content-Range that starts
// elsewhere or does not parse, a 416 for a length other than N, a
// Repr-Digest that differs from the first one) discards the .part and
// starts again from byte 0: two versions of a file are never spliced. A 416
// whose Content-Range says the file is N bytes long means the .part is
// complete. A .part without a sidecar, or with a validator-less one, starts
// over too.
//
// A body cut short (the connection broke, Timeouts.BodyIdle expired) is
// resumed where it stopped, up to [MaxResumes] more requests (default 5),
// within the caller's context. The session's own retries happen below,
// for each request. A request after one that added no byte to the file is
// paid for from the session's retry budget, as a retry is
// ([courier.Resend]): when the budget refuses it, File returns that
// [*courier.Error], of kind courier.ErrRetryBudget, and keeps the .part.
//
// # Verification
//
// Bytes are read as sent (Accept-Encoding: identity, so courier decodes
// nothing), hashed as they are written, and, on a resume, the .part is
// hashed first by reading it back. The file must match the caller's
// [SHA256] and the server's RFC 9530 digests, sha-256 and sha-512 (other
// algorithms are ignored): Repr-Digest, which covers the whole
// representation across resumes, and Content-Digest of a full 200
// response. A mismatch removes the .part and its sidecar and returns a
// [*DigestError], which matches [ErrDigestMismatch].
//
// # Errors
//
// File returns courier's errors as they are: a [*courier.StatusError] for
// a status other than 2xx (and 416 when resuming), nothing being written;
// a [*courier.Error] when a request fails, or when the context ends while
// the body is read, the .part being kept. [ErrIncomplete] wraps the last
// cause when MaxResumes requests did not complete the file, and
// [ErrDigestMismatch] a failed verification. File system errors are
// *fs.PathError.
package download

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/internal/redact"
)

// ErrDigestMismatch: the file received does not have the digest expected.
// The error returned is a [*DigestError], which says which digest.
var ErrDigestMismatch = errors.New("download: digest mismatch")

// ErrIncomplete: the body kept being cut, or the server kept sending
// responses that cannot continue the file, until [MaxResumes] requests were
// spent. The error wraps the last cause; the .part is kept when it can be
// resumed.
var ErrIncomplete = errors.New("download: incomplete")

const (
	defaultMaxResumes = 5
	defaultPerm       = 0o644
	// progressStep is how many bytes arrive between two Progress calls.
	progressStep = 64 << 10
	bufSize      = 128 << 10
)

// An Option changes a download. Options apply in order; the last one for
// a setting wins. Only this package defines options.
type Option interface {
	apply(*config) error
}

type option func(*config) error

func (f option) apply(c *config) error { return f(c) }

type config struct {
	sha256     []byte
	maxResumes int
	progress   func(done, total int64)
	perm       fs.FileMode
	request    []courier.RequestOption
	onResponse func(*courier.Response) error
}

// SHA256 makes the download check the SHA-256 of the whole file against
// hexDigest (64 hex digits, either case).
func SHA256(hexDigest string) Option {
	return option(func(c *config) error {
		b, err := parseSHA256(hexDigest)
		c.sha256 = b
		return err
	})
}

// MaxResumes bounds how many requests File sends after the first one to
// finish a file whose body was cut or whose response could not continue it
// (default 5; 0: none, a cut body fails at once).
func MaxResumes(n int) Option {
	return option(func(c *config) error {
		if n < 0 {
			return fmt.Errorf("download: MaxResumes: negative count %d", n)
		}
		c.maxResumes = n
		return nil
	})
}

// Progress calls f as the file grows, on File's goroutine: done is the
// file's length so far (a resumed .part included), total the whole
// length, or -1 while it is unknown. It is called when a response starts
// the body, every 64 KiB or so, and once at the end, with done == total.
// done never decreases, except when the download starts over from byte 0
// (see [Result].Restarted). f must not block for long: the body waits.
func Progress(f func(done, total int64)) Option {
	return option(func(c *config) error {
		c.progress = f
		return nil
	})
}

// Perm sets the mode of the final file (default 0644, not changed by the
// umask). The .part is 0600 until it is complete and verified, whatever
// Perm says.
func Perm(mode fs.FileMode) Option {
	return option(func(c *config) error {
		if mode&^fs.ModePerm != 0 {
			return fmt.Errorf("download: Perm: %v is not a permission mode", mode)
		}
		c.perm = mode
		return nil
	})
}

// OnResponse calls f with each response File gets (a 200, 206 or 416),
// on File's goroutine, once its headers are in and before File reads its
// body or decides what it does to the .part: to show the headers, say. An
// error from f ends the download with that error, the .part kept. f must
// not read or close the body.
func OnResponse(f func(*courier.Response) error) Option {
	return option(func(c *config) error {
		c.onResponse = f
		return nil
	})
}

// RequestOptions adds options to every request File sends, such as
// courier.Header or courier.Timeout. File sets Stream, Accept-Encoding,
// Range and If-Range itself, after these.
func RequestOptions(opts ...courier.RequestOption) Option {
	return option(func(c *config) error {
		for _, o := range opts {
			if o == nil {
				return errors.New("download: RequestOptions: nil option")
			}
		}
		c.request = append(c.request, opts...)
		return nil
	})
}

func newConfig(opts []Option) (config, error) {
	c := config{maxResumes: defaultMaxResumes, perm: defaultPerm}
	for _, o := range opts {
		if o == nil {
			return c, errors.New("download: nil Option")
		}
		if err := o.apply(&c); err != nil {
			return c, err
		}
	}
	return c, nil
}

// Result describes a completed download.
type Result struct {
	// Path is the file written, as given to File.
	Path string
	// URL is the URL of the last response, after redirects.
	URL string
	// Size is the file's length.
	Size int64
	// Written is how many bytes this call received and wrote: less than
	// Size when it resumed a .part.
	Written int64
	// Requests is how many requests File sent.
	Requests int
	// Resumed says that a .part was continued, with a 206 (or found
	// complete, with a 416); ResumedFrom is the offset of the first
	// resume.
	Resumed     bool
	ResumedFrom int64
	// Restarted says that a .part was discarded and the file started
	// over from byte 0: the server ignored the Range, the file changed
	// (If-Range failed), or a response did not fit what was saved.
	Restarted bool
	// Verified lists the digests checked; all of them matched.
	Verified []Digest
}

// File downloads url through s into the file at path, resuming the .part
// an earlier call left there, and returns what it did; see the package
// documentation for the files it uses, when it resumes and what it
// verifies. url is resolved by the session, like any request path.
//
// It returns after the file is complete, verified and renamed to path, or
// with an error and nothing new under path: a [*courier.StatusError], a
// [*courier.Error], an error matching [ErrIncomplete] or
// [ErrDigestMismatch], or a file system error. It sends GET requests only,
// and the response headers of each are bounded by the session's request
// timeout, its body by Timeouts.BodyIdle between reads, and all of it by
// ctx.
func File(ctx context.Context, s *courier.Session, url, path string, opts ...Option) (*Result, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return nil, errors.New("download: nil Session")
	}
	if path == "" {
		return nil, errors.New("download: empty path")
	}
	j := &job{
		ctx: ctx, s: s, url: url, part: path + ".part", meta: path + ".part.json", cfg: cfg,
		total: -1, buf: make([]byte, bufSize), res: Result{Path: path},
	}
	defer j.close()
	if err := j.load(); err != nil {
		return nil, err
	}
	if err := j.fetch(); err != nil {
		return nil, err
	}
	if err := j.finish(path); err != nil {
		return nil, err
	}
	return &j.res, nil
}

// job is one call of File.
type job struct {
	ctx        context.Context
	s          *courier.Session
	url        string
	part, meta string
	cfg        config

	f      *os.File // the .part, once opened
	off    int64    // its length: the file's first off bytes
	total  int64    // the file's whole length, or -1
	st     *state   // the .part's sidecar; nil: it cannot be resumed
	expect []Digest
	h      *hashes // digests of the first h.n bytes
	buf    []byte
	res    Result

	reported int64 // the done of the last Progress call; -1: none yet
}

// cut is a failure that another request may mend: a body cut short, or a
// response that could not continue the file.
type cut struct{ err error }

func (c *cut) Error() string { return c.err.Error() }
func (c *cut) Unwrap() error { return c.err }

// load opens the .part that an earlier call left, if any, and resumes it
// when its sidecar allows.
func (j *job) load() error {
	j.reported = -1
	j.expect = j.callerDigests()
	fi, err := os.Lstat(j.part)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return removeState(j.meta)
	case err != nil:
		return err
	case !fi.Mode().IsRegular():
		return fmt.Errorf("download: %s is not a regular file", j.part)
	}
	if j.f, err = os.OpenFile(j.part, os.O_RDWR, 0); err != nil {
		return err
	}
	st := loadState(j.meta, j.url)
	if st == nil || fi.Size() == 0 || st.Total >= 0 && fi.Size() > st.Total {
		return nil // begun again by the first response
	}
	j.st, j.off, j.total = st, fi.Size(), st.Total
	j.expect = append(j.expect, st.digests()...)
	return nil
}

func (j *job) callerDigests() []Digest {
	if j.cfg.sha256 == nil {
		return nil
	}
	return []Digest{{Source: SourceCaller, Algorithm: SHA256Algorithm, Value: j.cfg.sha256}}
}

// fetch sends requests until the .part holds the whole file.
func (j *job) fetch() error {
	for resend := false; ; {
		written := j.res.Written
		err := j.attempt(resend)
		// A request after one that added no byte is a retry, paid for
		// from the session's retry budget; after progress it is not.
		resend = j.res.Written == written
		var c *cut
		if !errors.As(err, &c) {
			return err
		}
		if j.ctx.Err() != nil {
			return c.err // canceled: the .part stays for a later call
		}
		if j.res.Requests > j.cfg.maxResumes {
			return fmt.Errorf("%w after %d requests: %w", ErrIncomplete, j.res.Requests, c.err)
		}
	}
}

// attempt sends one request, from byte j.off when the .part can be
// resumed, and writes its body to the .part. It returns nil when the
// .part is complete, a *cut when another request may complete it.
func (j *job) attempt(resend bool) error {
	at := int64(0)
	if j.off > 0 && j.st != nil {
		at = j.off
	}
	opts := j.requestOptions(at)
	if resend {
		opts = append(opts, courier.Resend())
	}
	resp, err := j.s.Do(j.ctx, http.MethodGet, j.url, opts...)
	j.res.Requests++
	if err != nil {
		return err
	}
	defer resp.Close()
	if resp.URL != nil {
		j.res.URL = resp.URL.String()
	}
	if err := unwanted(resp); err != nil {
		return err
	}
	if f := j.cfg.onResponse; f != nil {
		if err := f(resp); err != nil {
			return err
		}
	}
	body, want, err := j.accept(resp, at)
	if err != nil || body == nil {
		return err
	}
	return j.receive(body, want)
}

func (j *job) requestOptions(at int64) []courier.RequestOption {
	opts := append(slices.Clip(j.cfg.request), courier.Stream(), courier.Header("Accept-Encoding", "identity"))
	if at == 0 {
		return append(opts, courier.RemoveHeader("Range"), courier.RemoveHeader("If-Range"))
	}
	return append(opts,
		courier.Header("Range", "bytes="+strconv.FormatInt(at, 10)+"-"),
		courier.Header("If-Range", j.st.validator()),
		courier.ExpectStatus(http.StatusRequestedRangeNotSatisfiable))
}

// unwanted returns a *courier.StatusError for a response that is neither
// a 2xx nor a 416, which the caller's courier.AnyStatus or
// courier.ExpectStatus let through: its body is not the file.
func unwanted(resp *courier.Response) error {
	if resp.StatusCode/100 == 2 || resp.StatusCode == http.StatusRequestedRangeNotSatisfiable {
		return nil
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body(), maxErrorBody))
	se := &courier.StatusError{Method: http.MethodGet, StatusCode: resp.StatusCode, Status: resp.Status,
		Header: resp.Header, Body: body, Attempts: resp.Attempts}
	if resp.URL != nil {
		se.URL = redact.URL(resp.URL)
	}
	return se
}

// maxErrorBody caps what unwanted keeps of a body, as courier does for
// its own status errors.
const maxErrorBody = 64 << 10

// accept decides what a response to a request from byte at does to the
// .part: it returns the body to append and the length the .part must reach
// with it (-1: unknown), or a nil body when the .part is complete already.
func (j *job) accept(resp *courier.Response, at int64) (io.Reader, int64, error) {
	cr := resp.Header.Get("Content-Range")
	switch resp.StatusCode {
	case http.StatusRequestedRangeNotSatisfiable:
		if total, ok := unsatisfiedTotal(cr); ok && at > 0 && total == at {
			j.total = at
			j.resumed(at)
			return nil, 0, nil
		}
		return nil, 0, j.discard(fmt.Errorf("download: 416 with Content-Range %q to a resume from byte %d", cr, at))
	case http.StatusPartialContent:
		start, end, total, ok := parseContentRange(cr)
		if !ok || start != at || at > 0 && j.total >= 0 && total >= 0 && total != j.total {
			return nil, 0, j.discard(fmt.Errorf("download: 206 with Content-Range %q to a request from byte %d of %d", cr, at, j.total))
		}
		if at == 0 {
			if err := j.begin(resp.Header, false, total); err != nil {
				return nil, 0, err
			}
		} else if err := j.resume(resp.Header, at, total); err != nil {
			return nil, 0, err
		}
		return io.LimitReader(resp.Body(), end-start+1), end + 1, nil
	}
	total := contentLength(resp.Header)
	if err := j.begin(resp.Header, true, total); err != nil {
		return nil, 0, err
	}
	return resp.Body(), total, nil
}

// begin starts the .part again from byte 0 for a response that carries the
// file from its start (full: the whole of it), of length total (-1:
// unknown), and saves its sidecar.
func (j *job) begin(h http.Header, full bool, total int64) error {
	if err := removeState(j.meta); err != nil {
		return err
	}
	if j.f == nil {
		f, err := os.OpenFile(j.part, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		j.f = f
	}
	if fi, err := j.f.Stat(); err == nil && fi.Size() > 0 {
		j.res.Restarted = true
	}
	if err := j.f.Truncate(0); err != nil {
		return err
	}
	j.off, j.total, j.h, j.reported = 0, total, nil, -1
	j.st = newState(j.url, h, full, total)
	j.expect = append(j.callerDigests(), j.st.digests()...)
	if j.st.validator() == "" {
		j.st = nil // nothing to send in If-Range: the .part cannot resume
		return nil
	}
	return saveState(j.meta, j.st)
}

// resume accepts a 206 that continues the .part from byte at, of a file
// of length total (-1: unknown). A Repr-Digest that differs from the one
// the .part began with means another file: the .part is discarded.
func (j *job) resume(h http.Header, at, total int64) error {
	for _, d := range headerDigests(h, SourceReprDigest) {
		for _, e := range j.expect {
			if e.Source == d.Source && e.Algorithm == d.Algorithm && !bytes.Equal(e.Value, d.Value) {
				return j.discard(fmt.Errorf("download: the resumed response's Repr-Digest %x differs from the first one's, %x", d.Value, e.Value))
			}
		}
		if !slices.ContainsFunc(j.expect, d.equal) {
			j.expect = append(j.expect, d)
		}
	}
	if j.total < 0 {
		j.total = total
	}
	j.resumed(at)
	return nil
}

func (j *job) resumed(at int64) {
	if !j.res.Resumed {
		j.res.Resumed, j.res.ResumedFrom = true, at
	}
}

// discard empties the .part and removes its sidecar, so that the next
// request starts from byte 0, and returns why as a *cut.
func (j *job) discard(why error) error {
	if err := removeState(j.meta); err != nil {
		return err
	}
	if j.f != nil {
		if err := j.f.Truncate(0); err != nil {
			return err
		}
	}
	if j.off > 0 {
		j.res.Restarted = true
	}
	j.off, j.st, j.h = 0, nil, nil
	return &cut{why}
}

// algorithms lists the digest algorithms that verification needs.
func (j *job) algorithms() []string {
	var algs []string
	for _, d := range j.expect {
		if !slices.Contains(algs, d.Algorithm) {
			algs = append(algs, d.Algorithm)
		}
	}
	return algs
}

// hash makes j.h hold the digests of the .part's j.off bytes, reading it
// back when it does not already.
func (j *job) hash() error {
	algs := j.algorithms()
	if j.h.covers(algs, j.off) {
		return nil
	}
	h, err := hashFile(j.f, j.off, algs, j.buf)
	j.h = h
	return err
}

// receive appends body to the .part until the .part's length is want (-1:
// the body's end).
func (j *job) receive(body io.Reader, want int64) error {
	if err := j.hash(); err != nil {
		return err
	}
	j.progress(true)
	for {
		n, rerr := body.Read(j.buf)
		if n > 0 {
			if _, err := j.f.WriteAt(j.buf[:n], j.off); err != nil {
				return err
			}
			j.h.Write(j.buf[:n])
			j.off += int64(n)
			j.res.Written += int64(n)
			j.progress(false)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return &cut{rerr}
		}
	}
	switch {
	case want >= 0 && j.off < want:
		return &cut{fmt.Errorf("download: body ended at byte %d of %d: %w", j.off, want, io.ErrUnexpectedEOF)}
	case j.total >= 0 && j.off < j.total:
		return &cut{fmt.Errorf("download: range ended at byte %d of %d", j.off, j.total)}
	case j.total < 0:
		j.total = j.off
	}
	return nil
}

func (j *job) progress(force bool) {
	if j.cfg.progress == nil || !force && j.off-j.reported < progressStep {
		return
	}
	j.reported = j.off
	j.cfg.progress(j.off, j.total)
}

// finish verifies the complete .part and renames it to path; a mismatch
// removes it.
func (j *job) finish(path string) error {
	if err := j.hash(); err != nil {
		return err
	}
	for _, d := range j.expect {
		if got := j.h.sum(d.Algorithm); !bytes.Equal(got, d.Value) {
			j.remove()
			return &DigestError{Expected: d, Got: got}
		}
	}
	if j.cfg.progress != nil {
		j.cfg.progress(j.off, j.off)
	}
	if err := j.f.Chmod(j.cfg.perm); err != nil {
		return err
	}
	if err := j.f.Sync(); err != nil {
		return err
	}
	err := j.f.Close()
	j.f = nil
	if err != nil {
		return err
	}
	if err := os.Rename(j.part, path); err != nil {
		return err
	}
	syncDir(filepath.Dir(path))
	j.res.Size, j.res.Verified = j.off, slices.Clone(j.expect)
	return removeState(j.meta)
}

// remove deletes the .part and its sidecar.
func (j *job) remove() {
	j.close()
	os.Remove(j.part)
	removeState(j.meta)
}

func (j *job) close() {
	if j.f != nil {
		j.f.Close()
		j.f = nil
	}
}

// syncDir makes a rename in dir durable where the file system allows;
// failing that, it is only less durable, so errors are ignored.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// contentLength is h's Content-Length, or -1.
func contentLength(h http.Header) int64 {
	n, ok := digits(h.Get("Content-Length"))
	if !ok {
		return -1
	}
	return n
}

// parseContentRange reads "bytes first-last/complete" (RFC 9110, 14.4);
// total is -1 for a complete length of "*".
func parseContentRange(cr string) (start, end, total int64, ok bool) {
	rest, ok1 := strings.CutPrefix(cr, "bytes ")
	rng, tot, ok2 := strings.Cut(rest, "/")
	first, last, ok3 := strings.Cut(rng, "-")
	start, ok4 := digits(first)
	end, ok5 := digits(last)
	total, ok6 := digits(tot)
	if tot == "*" {
		total, ok6 = -1, true
	}
	ok = ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && start <= end && (total < 0 || end < total)
	return start, end, total, ok
}

// unsatisfiedTotal reads the complete length of a 416's "bytes */complete".
func unsatisfiedTotal(cr string) (int64, bool) {
	tot, ok := strings.CutPrefix(cr, "bytes */")
	if !ok {
		return 0, false
	}
	return digits(tot)
}

// digits parses a non-negative decimal number of digits only.
func digits(s string) (int64, bool) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}
