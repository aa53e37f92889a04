// Package jsonl reads streams of JSON values, one value at a time: JSON
// Lines and NDJSON (one value per line) and JSON text sequences (RFC 7464,
// each value after an ASCII record separator, 0x1E). Memory is bounded by
// the largest value, not by the stream, so an export of millions of
// records reads in constant space.
//
// [Get] and [Do] make the request through a courier session, streamed, and
// range over the body:
//
//	for ev, err := range jsonl.Get[Event](ctx, s, "/v1/events/export") {
//		if err != nil {
//			return err
//		}
//		...
//	}
//
// [Values] ranges over any [io.Reader]: a file, a pipe, a body from
// elsewhere:
//
//	for rec, err := range jsonl.Values[Record](f) { ... }
//
// # Lines
//
// Each line holds one JSON value, decoded with [encoding/json] into T.
// Lines end with LF; a CR before it is tolerated (CRLF), and the last line
// need not end with LF at all. Lines that hold only whitespace are skipped.
// A line that does not decode into T, or that has anything but whitespace
// after its value ({"a":1} x), is a [*LineError] naming the line's number
// and quoting the start of the line (at most 100 bytes, with secret-looking
// JSON fields masked). A line longer than the limit (1 MiB by default, see
// [MaxLineSize]) is a [*LineError] that matches [ErrLineTooLong]: never a
// silent end of the stream. The limit is also the memory bound: a line is
// held whole while it is decoded, and nothing more.
//
// A sequence stops at the first error, which it yields with the zero T.
// An error reading the underlying reader (a connection lost, a body idle
// timeout) is yielded wrapped with the line number, so errors.Is still
// matches its cause and, for a courier body, its kind:
// errors.Is(err, courier.ErrTimeout).
//
// # JSON text sequences
//
// With [Seq](true), or when [Get] or [Do] receive application/json-seq,
// the stream is read as a JSON text sequence (RFC 7464): each value follows
// a record separator (0x1E) and normally ends with LF; empty records are
// skipped. RFC 7464 asks a reader to go on after a record that fails to
// parse, since a writer that died mid-record leaves a truncated text before
// the next separator: so in this mode a record that does not decode is
// yielded as a [*LineError] (Line is then the record's number) and reading
// goes on with the next record. A caller that prefers to stop breaks out of
// the loop. A record that was cut short matches [ErrTruncated]; that
// includes a top-level number, true, false or null not followed by
// whitespace, which the RFC (section 2.4) says must be dropped because it
// may have been cut (12 of 123). A record over the limit still ends the
// sequence.
//
// # Requests
//
// [Get] and [Do] send the request with [courier.Stream] and the request
// options given with [Request]. The response's Content-Type must be a JSON
// lines type (application/x-ndjson, application/jsonl,
// application/x-jsonlines, application/json-seq, application/json...; none
// at all is accepted too), or the sequence yields an error matching
// [ErrContentType] that names it. A non-2xx status is the session's
// [*courier.StatusError]. Breaking out of the loop closes the body, which
// releases the connection; so does the end of the stream and any error.
// The context bounds the whole stream; when it is canceled, the sequence
// ends with an error matching its cause. No goroutine is started.
//
// Sequences are not safe for concurrent use: range over each from one
// goroutine.
package jsonl

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/internal/redact"
)

// DefaultMaxLineSize is the longest line (or record) read by default:
// 1 MiB, generous for one record of an export, small enough that a stream
// without newlines cannot take the process's memory.
const DefaultMaxLineSize = 1 << 20

// ErrLineTooLong: a line (or record) was longer than the limit of
// [MaxLineSize]. It comes inside a [*LineError]; match it with errors.Is.
var ErrLineTooLong = errors.New("jsonl: line too long")

// ErrTruncated: a record of a JSON text sequence was cut short: it ended
// in the middle of its value, or it is a number, true, false or null not
// followed by whitespace (RFC 7464 section 2.4). It comes inside a
// [*LineError]; match it with errors.Is.
var ErrTruncated = errors.New("jsonl: truncated record")

// ErrContentType: the response of [Get] or [Do] was not of a JSON lines
// type. The error's text names the type received.
var ErrContentType = errors.New("jsonl: not a JSON lines content type")

// excerptSize is the most of a line a LineError quotes.
const excerptSize = 100

// LineError is a line (or a record of a JSON text sequence) that could not
// be decoded: it did not decode into the value's type, had data after its
// value, was too long ([ErrLineTooLong]) or was cut short ([ErrTruncated]).
type LineError struct {
	// Line is the line's number, from 1; in a JSON text sequence, the
	// record's: the text after the n-th record separator (0 for text
	// before the first).
	Line int
	// Excerpt is the start of the line, at most 100 bytes, with control
	// characters replaced and secret-looking JSON fields masked; never the
	// whole of a long line.
	Excerpt string
	// Err is the cause: a *json.SyntaxError or *json.UnmarshalTypeError,
	// ErrLineTooLong, or an error that matches ErrTruncated.
	Err error
}

// Error returns "jsonl: line N: cause; line starts "excerpt"".
func (e *LineError) Error() string {
	if e.Excerpt == "" {
		return fmt.Sprintf("jsonl: line %d: %v", e.Line, e.Err)
	}
	return fmt.Sprintf("jsonl: line %d: %v; line starts %q", e.Line, e.Err, e.Excerpt)
}

// Unwrap returns the cause.
func (e *LineError) Unwrap() error { return e.Err }

// An Option changes how a stream is read. Options apply in order; the last
// one for a setting wins, and [Request] options accumulate. Only this
// package defines options.
type Option interface {
	apply(*config) error
}

type option func(*config) error

func (f option) apply(c *config) error { return f(c) }

type config struct {
	maxLine int
	seq     bool
	request []courier.RequestOption
}

// MaxLineSize sets the longest line (or record) read, in bytes, not
// counting its line end (default [DefaultMaxLineSize], 1 MiB; 0 means the
// default). A longer one ends the sequence with [ErrLineTooLong]. It is
// also the bound on memory: a line is held whole while it is decoded.
func MaxLineSize(n int) Option {
	return option(func(c *config) error {
		switch {
		case n < 0:
			return fmt.Errorf("jsonl: MaxLineSize: size must not be negative, got %d", n)
		case n == 0:
			n = DefaultMaxLineSize
		}
		c.maxLine = n
		return nil
	})
}

// Seq reads the stream as a JSON text sequence (RFC 7464) when enable is
// true (default false: JSON lines). [Get] and [Do] read a response of type
// application/json-seq as a sequence whatever this says.
func Seq(enable bool) Option {
	return option(func(c *config) error {
		c.seq = enable
		return nil
	})
}

// Request adds request options to the request of [Get] or [Do]: headers,
// a query, a body, a timeout. Several Request options accumulate. Do not
// pass courier.Into, which would read the whole body itself; courier.Stream
// is added anyway. [Values] ignores them.
func Request(opts ...courier.RequestOption) Option {
	opts = append([]courier.RequestOption(nil), opts...)
	return option(func(c *config) error {
		for _, o := range opts {
			if o == nil {
				return errors.New("jsonl: Request: nil request option")
			}
		}
		c.request = append(c.request, opts...)
		return nil
	})
}

func newConfig(opts []Option) (config, error) {
	c := config{maxLine: DefaultMaxLineSize}
	for _, o := range opts {
		if o == nil {
			return c, errors.New("jsonl: nil Option")
		}
		if err := o.apply(&c); err != nil {
			return c, err
		}
	}
	return c, nil
}

// Values yields the JSON values of r, one per line (or per record with
// [Seq]), decoded into T; see the package documentation for the rules.
// It stops at the first error, which it yields with the zero T, except
// that a JSON text sequence goes on after a record that does not decode.
//
// Values reads r through its own buffer. Breaking out of the loop and
// ranging over the sequence again goes on from where it stopped; after an
// error or the end, the sequence yields nothing more. Values does not
// close r.
func Values[T any](r io.Reader, opts ...Option) iter.Seq2[T, error] {
	cfg, err := newConfig(opts)
	if err == nil && r == nil {
		err = errors.New("jsonl: nil reader")
	}
	if err != nil {
		return func(yield func(T, error) bool) {
			var zero T
			yield(zero, err)
		}
	}
	d := newDecoder(r, cfg.maxLine, cfg.seq)
	return func(yield func(T, error) bool) { each(d, yield) }
}

// decoder splits a stream into lines or records and decodes them.
type decoder struct {
	ctx   context.Context // nil for Values
	br    *bufio.Reader
	delim byte
	seq   bool
	max   int
	buf   []byte // a line that did not fit in br's buffer
	next  int    // the number of the next line or record
	done  bool
}

const (
	recordSeparator = 0x1E
	readBufferSize  = 32 << 10
)

func newDecoder(r io.Reader, maxLine int, seq bool) *decoder {
	d := &decoder{max: maxLine, delim: '\n', next: 1, seq: seq}
	if seq {
		d.delim, d.next = recordSeparator, 0
	}
	size := readBufferSize
	if maxLine < size {
		size = maxLine + 1 // a line and its line end
	}
	d.br = bufio.NewReaderSize(r, size)
	return d
}

// each yields d's values until the end, an error, or a break.
func each[T any](d *decoder, yield func(T, error) bool) {
	var zero T
	for !d.done {
		if d.ctx != nil {
			if err := d.ctx.Err(); err != nil {
				d.done = true
				yield(zero, context.Cause(d.ctx))
				return
			}
		}
		n, elem, err := d.read()
		if err != nil {
			d.done = true
			if err != io.EOF {
				yield(zero, err)
			}
			return
		}
		if blank(elem) {
			continue
		}
		var v T
		if err := d.decode(n, elem, &v); err != nil {
			if !d.seq {
				d.done = true
				yield(zero, err)
				return
			}
			if !yield(zero, err) { // RFC 7464: go on after a bad record
				return
			}
			continue
		}
		if !yield(v, nil) {
			return
		}
	}
}

// read returns the next line or record, without its delimiter, and its
// number. The slice is valid until the next call. At the end it returns
// io.EOF; a line over the limit is a *LineError.
func (d *decoder) read() (int, []byte, error) {
	n := d.next
	d.buf = d.buf[:0]
	for {
		chunk, err := d.br.ReadSlice(d.delim)
		size := len(d.buf) + len(chunk)
		if err == nil {
			size-- // the delimiter
		}
		if size > d.max {
			return n, nil, &LineError{Line: n, Err: fmt.Errorf("%w: over %d bytes", ErrLineTooLong, d.max),
				Excerpt: excerpt(d.buf, chunk)}
		}
		switch {
		case err == nil && len(d.buf) == 0:
			d.next++
			return n, chunk[:len(chunk)-1], nil // the common case: no copy
		case err == nil:
			d.next++
			d.buf = append(d.buf, chunk...)
			return n, d.buf[:len(d.buf)-1], nil
		case err == bufio.ErrBufferFull:
			d.buf = append(d.buf, chunk...)
		case err == io.EOF && size > 0:
			d.buf = append(d.buf, chunk...)
			return n, d.buf, nil // the last line, without a line end
		case err == io.EOF:
			return n, nil, io.EOF
		default:
			return n, nil, fmt.Errorf("jsonl: reading line %d: %w", n, err)
		}
	}
}

// decode decodes the line or record elem, numbered n, into v.
func (d *decoder) decode(n int, elem []byte, v any) error {
	if d.seq && mayBeTruncated(elem) {
		return &LineError{Line: n, Err: fmt.Errorf("%w: a top-level scalar not followed by whitespace", ErrTruncated),
			Excerpt: redact.Excerpt(elem, excerptSize)}
	}
	err := json.Unmarshal(elem, v)
	if err == nil {
		return nil
	}
	if d.seq && endsMidValue(elem) {
		err = fmt.Errorf("%w: %w", ErrTruncated, err)
	}
	return &LineError{Line: n, Err: err, Excerpt: redact.Excerpt(elem, excerptSize)}
}

// mayBeTruncated reports whether a record of a JSON text sequence is a
// top-level value that does not delimit itself (a number, true, false,
// null) and is not followed by whitespace, so that it may have been cut:
// RFC 7464 section 2.4 says to drop it.
func mayBeTruncated(elem []byte) bool {
	t := bytes.TrimLeft(elem, " \t\r\n")
	if len(t) == 0 {
		return false
	}
	switch t[0] {
	case '{', '[', '"':
		return false
	}
	return !isSpace(elem[len(elem)-1])
}

// endsMidValue reports whether elem is the start of a JSON value that
// was cut before its end. Only a record that failed to decode is checked.
func endsMidValue(elem []byte) bool {
	var v json.RawMessage
	return errors.Is(json.NewDecoder(bytes.NewReader(elem)).Decode(&v), io.ErrUnexpectedEOF)
}

// excerpt quotes the start of a line that is held in two pieces.
func excerpt(head, tail []byte) string {
	if len(head) < excerptSize+1 {
		head = append(head[:len(head):len(head)], tail[:min(len(tail), excerptSize+1-len(head))]...)
	}
	return redact.Excerpt(head, excerptSize)
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// blank reports whether a line holds only JSON whitespace.
func blank(line []byte) bool {
	for _, c := range line {
		if !isSpace(c) {
			return false
		}
	}
	return true
}
