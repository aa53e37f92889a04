package sse

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"time"
	"unicode/utf8"
)

// Event is one event of a stream, as the WHATWG rules dispatch it.
type Event struct {
	// ID is the stream's last event ID when the event was dispatched: the
	// value of the latest id field so far, in this event or an earlier one
	// ("" when none). It is what a reconnect sends as Last-Event-ID.
	ID string
	// Type is the value of the event field, or "message" when the event
	// had none.
	Type string
	// Data is the event's data lines joined with "\n".
	Data string
	// Retry is the reconnection delay that a retry field in this event's
	// block set, or 0 when it had none. [Stream] applies it on its own.
	Retry time.Duration
}

// ErrEventTooLarge: a line, or an event's data, was larger than the limit
// ([MaxEventSize], 1 MiB by default). The stream ends with it, rather than
// silently.
var ErrEventTooLarge = errors.New("sse: event too large")

const (
	// defaultMaxEventSize is the default of MaxEventSize.
	defaultMaxEventSize = 1 << 20
	// readBufferSize is the size of the parser's read buffer.
	readBufferSize = 16 << 10
)

var bom = []byte("\xEF\xBB\xBF")

// parser reads events from one connection after another, by the "event
// stream interpretation" rules of the WHATWG HTML standard. The last event
// ID and the reconnection delay outlive a connection; the buffers of a
// partial event do not.
type parser struct {
	r   *bufio.Reader
	max int

	// lastID is the last event ID string, idBuf the last event ID buffer
	// (committed to lastID at a blank line).
	lastID, idBuf string
	// retry is the reconnection delay the stream set, 0 when none.
	retry time.Duration

	// The event being read.
	data      []byte
	typ       string
	lastTyp   string // the last event field's value, decoded
	evRetry   time.Duration
	line      []byte // a line that did not fit in the read buffer
	skipLF    bool   // the last line ended with CR: an LF next is its end too
	firstLine bool   // the next line is the stream's first (a BOM may lead it)
}

func newParser(r io.Reader, maxSize int) *parser {
	p := &parser{r: bufio.NewReaderSize(r, readBufferSize), max: maxSize}
	p.reset(r)
	return p
}

// reset starts a new connection's stream, keeping the last event ID and the
// reconnection delay.
func (p *parser) reset(r io.Reader) {
	p.r.Reset(r)
	p.idBuf = p.lastID
	p.data, p.typ, p.evRetry = p.data[:0], "", 0
	p.skipLF, p.firstLine = false, true
}

// next returns the next event. At the end of the stream it returns io.EOF,
// discarding an event that no blank line ended; a read error is returned
// as it is.
func (p *parser) next() (Event, error) {
	for {
		line, err := p.readLine()
		if err != nil {
			return Event{}, err
		}
		if len(line) == 0 {
			if ev, ok := p.dispatch(); ok {
				return ev, nil
			}
			continue
		}
		if err := p.field(line); err != nil {
			return Event{}, err
		}
	}
}

// readLine returns the next line without its end (CR, LF or CRLF). The
// line is valid until the next call.
func (p *parser) readLine() ([]byte, error) {
	line, err := p.readRawLine()
	if err != nil {
		return nil, err
	}
	if p.firstLine {
		p.firstLine = false
		line = bytes.TrimPrefix(line, bom)
	}
	return line, nil
}

func (p *parser) readRawLine() ([]byte, error) {
	if p.skipLF {
		b, err := p.r.ReadByte()
		if err != nil {
			return nil, err
		}
		p.skipLF = false
		if b != '\n' {
			_ = p.r.UnreadByte() // cannot fail right after ReadByte
		}
	}
	p.line = p.line[:0]
	for {
		if p.r.Buffered() == 0 {
			if _, err := p.r.Peek(1); err != nil {
				return nil, err // a line no end finished is discarded
			}
		}
		buf, _ := p.r.Peek(p.r.Buffered())
		i := indexLineEnd(buf)
		if i < 0 {
			if len(p.line)+len(buf) > p.max {
				return nil, fmt.Errorf("%w: a line is longer than %d bytes", ErrEventTooLarge, p.max)
			}
			p.line = append(p.line, buf...)
			_, _ = p.r.Discard(len(buf))
			continue
		}
		if len(p.line)+i > p.max {
			return nil, fmt.Errorf("%w: a line is longer than %d bytes", ErrEventTooLarge, p.max)
		}
		p.skipLF = buf[i] == '\r'
		line := buf[:i]
		if len(p.line) > 0 {
			p.line = append(p.line, line...)
			line = p.line
		}
		// The line stays valid: nothing reads into the buffer until the
		// next call.
		_, _ = p.r.Discard(i + 1)
		return line, nil
	}
}

// indexLineEnd returns the index of the first CR or LF in b, or -1. Two
// IndexByte scans (vectorised) beat one loop over both bytes.
func indexLineEnd(b []byte) int {
	lf := bytes.IndexByte(b, '\n')
	if lf < 0 {
		return bytes.IndexByte(b, '\r')
	}
	if cr := bytes.IndexByte(b[:lf], '\r'); cr >= 0 {
		return cr
	}
	return lf
}

// field processes a line that is neither blank nor a comment's.
func (p *parser) field(line []byte) error {
	if line[0] == ':' {
		return nil // a comment
	}
	name, value := line, []byte(nil)
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		name, value = line[:i], line[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	switch string(name) {
	case "data":
		if len(p.data)+len(value) > p.max {
			return fmt.Errorf("%w: an event's data is longer than %d bytes", ErrEventTooLarge, p.max)
		}
		p.data = append(p.data, value...)
		p.data = append(p.data, '\n')
	case "event":
		// Streams repeat their types: reuse the last string, unallocated.
		if string(value) != p.lastTyp {
			p.lastTyp = decode(value)
		}
		p.typ = p.lastTyp
	case "id":
		if bytes.IndexByte(value, 0) < 0 && string(value) != p.idBuf {
			p.idBuf = decode(value)
		}
	case "retry":
		if d, ok := parseRetry(value); ok {
			p.retry, p.evRetry = d, d
		}
	}
	return nil
}

// dispatch ends the event at a blank line. It reports false for an event
// without data, which is not dispatched, though its id still counts.
func (p *parser) dispatch() (Event, bool) {
	p.lastID = p.idBuf
	if len(p.data) == 0 {
		p.typ, p.evRetry = "", 0
		return Event{}, false
	}
	ev := Event{ID: p.lastID, Type: p.typ, Data: decode(p.data[:len(p.data)-1]), Retry: p.evRetry}
	if ev.Type == "" {
		ev.Type = "message"
	}
	p.data, p.typ, p.evRetry = p.data[:0], "", 0
	return ev, true
}

// parseRetry reads a retry field's value: milliseconds in ASCII digits,
// anything else ignored. A value too large for a Duration is the largest.
func parseRetry(v []byte) (time.Duration, bool) {
	if len(v) == 0 {
		return 0, false
	}
	var ms int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		if ms <= (math.MaxInt64/int64(time.Millisecond)-9)/10 {
			ms = ms*10 + int64(c-'0')
		} else {
			ms = math.MaxInt64 / int64(time.Millisecond)
		}
	}
	return time.Duration(ms) * time.Millisecond, true
}

// decode returns b as a string decoded by the WHATWG "UTF-8 decode"
// algorithm: each maximal invalid subpart becomes one U+FFFD. (Go's own
// conversions replace each invalid byte, or a whole run of them.) Decoding
// a line or a field at a time is the same as decoding the whole stream,
// since no invalid subpart takes in CR, LF or ':'.
func decode(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	out := make([]byte, 0, len(b)+8)
	for i := 0; i < len(b); {
		if b[i] < utf8.RuneSelf {
			out = append(out, b[i])
			i++
			continue
		}
		n := validPrefix(b[i:])
		if n > 0 && n == seqLen(b[i]) {
			out = append(out, b[i:i+n]...)
		} else {
			out = utf8.AppendRune(out, utf8.RuneError)
			n = max(n, 1)
		}
		i += n
	}
	return string(out)
}

// seqLen is the length of the sequence that lead byte c starts, or 0 when
// c cannot lead one.
func seqLen(c byte) int {
	switch {
	case c >= 0xC2 && c <= 0xDF:
		return 2
	case c >= 0xE0 && c <= 0xEF:
		return 3
	case c >= 0xF0 && c <= 0xF4:
		return 4
	}
	return 0
}

// validPrefix returns how many bytes at the start of b, which starts with
// a non-ASCII byte, belong to its sequence by the WHATWG decoder's rules:
// the whole sequence when it is valid, else its maximal subpart (0 when
// the first byte cannot start a sequence).
func validPrefix(b []byte) int {
	want := seqLen(b[0])
	if want == 0 {
		return 0
	}
	lo, hi := byte(0x80), byte(0xBF)
	switch b[0] {
	case 0xE0:
		lo = 0xA0
	case 0xED:
		hi = 0x9F
	case 0xF0:
		lo = 0x90
	case 0xF4:
		hi = 0x8F
	}
	n := 1
	for n < want && n < len(b) && b[n] >= lo && b[n] <= hi {
		n++
		lo, hi = 0x80, 0xBF
	}
	return n
}
