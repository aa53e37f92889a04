package sse

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// parseAll reads events from r until the stream ends, as one connection.
func parseAll(r io.Reader, maxSize int) (evs []Event, lastID string, retry time.Duration, err error) {
	p := newParser(r, maxSize)
	for {
		ev, err := p.next()
		if err == io.EOF {
			return evs, p.lastID, p.retry, nil
		}
		if err != nil {
			return evs, p.lastID, p.retry, err
		}
		evs = append(evs, ev)
	}
}

func msg(data string) Event { return Event{Type: "message", Data: data} }

// chunkReader returns its chunks one per Read, to split a stream exactly
// where a test wants.
type chunkReader struct{ chunks []string }

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.chunks[0])
	c.chunks[0] = c.chunks[0][n:]
	if c.chunks[0] == "" {
		c.chunks = c.chunks[1:]
	}
	return n, nil
}

var conformance = []struct {
	name   string
	in     string
	want   []Event
	lastID string
	retry  time.Duration
}{
	{"simple", "data: hello\n\n", []Event{msg("hello")}, "", 0},
	{"LF", "data: a\n\ndata: b\n\n", []Event{msg("a"), msg("b")}, "", 0},
	{"CR", "data: a\r\rdata: b\r\r", []Event{msg("a"), msg("b")}, "", 0},
	{"CRLF", "data: a\r\n\r\ndata: b\r\n\r\n", []Event{msg("a"), msg("b")}, "", 0},
	{"CRLF is one line end", "data: a\r\ndata: b\r\n\r\n", []Event{msg("a\nb")}, "", 0},
	{"mixed line ends", "data: a\rdata: b\ndata: c\r\n\n", []Event{msg("a\nb\nc")}, "", 0},
	{"LF CR is two line ends", "data: a\n\rdata: b\n\n", []Event{msg("a"), msg("b")}, "", 0},
	{"BOM stripped", "\xEF\xBB\xBFdata: x\n\n", []Event{msg("x")}, "", 0},
	{"second BOM kept", "\xEF\xBB\xBF\xEF\xBB\xBFdata: x\n\ndata: y\n\n", []Event{msg("y")}, "", 0},
	{"BOM later kept", "data: x\n\n\xEF\xBB\xBFdata: y\n\n", []Event{msg("x")}, "", 0},
	{"comment", ": hello\ndata: x\n:\n\n", []Event{msg("x")}, "", 0},
	{"comment only", ":data: x\n\n", nil, "", 0},
	{"no colon", "data\n\n", []Event{msg("")}, "", 0},
	{"no colon twice", "data\ndata\n\n", []Event{msg("\n")}, "", 0},
	{"empty data line between", "data: a\ndata\ndata: b\n\n", []Event{msg("a\n\nb")}, "", 0},
	{"only the last newline removed", "data: a\ndata:\n\n", []Event{msg("a\n")}, "", 0},
	{"one space stripped", "data:  two\n\n", []Event{msg(" two")}, "", 0},
	{"no space", "data:x\n\n", []Event{msg("x")}, "", 0},
	{"tab kept", "data:\tx\n\n", []Event{msg("\tx")}, "", 0},
	{"colon in value", "data: a:b\n\n", []Event{msg("a:b")}, "", 0},
	{"names are case-sensitive", "Data: x\n\n", nil, "", 0},
	{"space before colon", "data : x\n\n", nil, "", 0},
	{"unknown field", "foo: bar\ndata: x\n\n", []Event{msg("x")}, "", 0},
	{"event type", "event: add\ndata: x\n\n", []Event{{Type: "add", Data: "x"}}, "", 0},
	{"event type reset", "event: add\ndata: x\n\ndata: y\n\n", []Event{{Type: "add", Data: "x"}, msg("y")}, "", 0},
	{"empty event type", "event\ndata: x\n\n", []Event{msg("x")}, "", 0},
	{"type of an undispatched event dropped", "event: add\n\ndata: x\n\n", []Event{msg("x")}, "", 0},
	{"id persists", "id: 1\ndata: x\n\ndata: y\n\n", []Event{{ID: "1", Type: "message", Data: "x"}, {ID: "1", Type: "message", Data: "y"}}, "1", 0},
	{"id with NUL ignored", "id: 1\ndata: x\n\nid: 2\x003\ndata: y\n\n", []Event{{ID: "1", Type: "message", Data: "x"}, {ID: "1", Type: "message", Data: "y"}}, "1", 0},
	{"empty id resets", "id: 1\ndata: x\n\nid\ndata: y\n\n", []Event{{ID: "1", Type: "message", Data: "x"}, msg("y")}, "", 0},
	{"id without data still set", "id: 7\n\ndata: x\n\n", []Event{{ID: "7", Type: "message", Data: "x"}}, "7", 0},
	{"id of an unterminated event not set", "id: 1\ndata: x\n\nid: 2\ndata: y\n", []Event{{ID: "1", Type: "message", Data: "x"}}, "1", 0},
	{"retry", "retry: 250\ndata: x\n\n", []Event{{Type: "message", Data: "x", Retry: 250 * time.Millisecond}}, "", 250 * time.Millisecond},
	{"retry alone", "retry: 10\n\ndata: x\n\n", []Event{msg("x")}, "", 10 * time.Millisecond},
	{"retry not digits", "retry: 25x\ndata: x\n\n", []Event{msg("x")}, "", 0},
	{"retry negative", "retry: -1\ndata: x\n\n", []Event{msg("x")}, "", 0},
	{"retry fraction", "retry: 1.5\ndata: x\n\n", []Event{msg("x")}, "", 0},
	{"retry empty", "retry\ndata: x\n\n", []Event{msg("x")}, "", 0},
	{"retry two spaces", "retry:  10\ndata: x\n\n", []Event{msg("x")}, "", 0},
	{"retry huge", "retry: 99999999999999999999999\n\n", nil, "", time.Duration(1<<63-1) / time.Millisecond * time.Millisecond},
	{"later retry wins", "retry: 5\nretry: 7\n\n", nil, "", 7 * time.Millisecond},
	{"unterminated event discarded", "data: x\n", nil, "", 0},
	{"unterminated line discarded", "data: x", nil, "", 0},
	{"last event unterminated", "data: x\n\ndata: y", []Event{msg("x")}, "", 0},
	{"blank lines only", "\n\r\n\r", nil, "", 0},
	{"empty stream", "", nil, "", 0},
	{"UTF-8", "data: caf\xC3\xA9 \xF0\x9F\x98\x80\n\n", []Event{msg("café 😀")}, "", 0},
	{"invalid bytes", "data: \xFF\xFE\n\n", []Event{msg("\uFFFD\uFFFD")}, "", 0},
	{"truncated sequence is one U+FFFD", "data: \xE2\x82x\n\n", []Event{msg("\uFFFDx")}, "", 0},
	{"truncated at line end", "data: \xE2\x82\n\n", []Event{msg("\uFFFD")}, "", 0},
	{"surrogate", "data: \xED\xA0\x80\n\n", []Event{msg("\uFFFD\uFFFD\uFFFD")}, "", 0},
	{"overlong", "data: \xC0\xAF\n\n", []Event{msg("\uFFFD\uFFFD")}, "", 0},
	{"invalid type and id", "event: \xFF\nid: \xFF\ndata: x\n\n", []Event{{ID: "\uFFFD", Type: "\uFFFD", Data: "x"}}, "\uFFFD", 0},
}

func TestParseConformance(t *testing.T) {
	readers := []struct {
		name string
		r    func(string) io.Reader
	}{
		{"one read", func(s string) io.Reader { return strings.NewReader(s) }},
		{"one byte a read", func(s string) io.Reader { return iotest.OneByteReader(strings.NewReader(s)) }},
	}
	for _, tc := range conformance {
		for _, rd := range readers {
			t.Run(tc.name+"/"+rd.name, func(t *testing.T) {
				evs, lastID, retry, err := parseAll(rd.r(tc.in), defaultMaxEventSize)
				if err != nil || !slices.Equal(evs, tc.want) || lastID != tc.lastID || retry != tc.retry {
					t.Errorf("parse(%q) = %q, last ID %q, retry %v, %v;\nwant %q, last ID %q, retry %v, nil",
						tc.in, evs, lastID, retry, err, tc.want, tc.lastID, tc.retry)
				}
			})
		}
	}
}

// A CR at the end of one read and an LF at the start of the next are one
// line end, not two; a CR at the end of a read with anything else next
// ends the line by itself.
func TestParseSplitLineEnds(t *testing.T) {
	for _, tc := range []struct {
		name   string
		chunks []string
		want   []Event
	}{
		{"CR|LF", []string{"data: a\r", "\ndata: b\r", "\n\r", "\n"}, []Event{msg("a\nb")}},
		{"CR|data", []string{"data: a\r", "data: b\r", "\r"}, []Event{msg("a\nb")}},
		{"CR|CR", []string{"data: a\r", "\r", "data: b\r\r"}, []Event{msg("a"), msg("b")}},
		{"BOM split", []string{"\xEF", "\xBB", "\xBFdata: x\n\n"}, []Event{msg("x")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs, _, _, err := parseAll(&chunkReader{chunks: slices.Clone(tc.chunks)}, defaultMaxEventSize)
			if err != nil || !slices.Equal(evs, tc.want) {
				t.Errorf("parse(%q) = %q, %v; want %q, nil", tc.chunks, evs, err, tc.want)
			}
		})
	}
}

// An event is dispatched at its blank line, without waiting for the LF
// that may follow a CR: a server that ends an event with CR and then
// pauses must not hold it back.
func TestParseDispatchesAtCR(t *testing.T) {
	pr, pw := io.Pipe()
	defer pr.Close()
	go func() { pw.Write([]byte("data: a\r\r")) }() // then nothing
	p := newParser(pr, defaultMaxEventSize)
	ev, err := p.next()
	if err != nil || ev != msg("a") {
		t.Errorf("next() = %q, %v; want %q, nil", ev, err, msg("a"))
	}
}

func TestParseTooLarge(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		max  int
		want []Event
	}{
		{"long line", "data: x\n\n" + "data: " + strings.Repeat("y", 20) + "\n\n", 16, []Event{msg("x")}},
		{"long unterminated line", "data: " + strings.Repeat("y", 20), 16, nil},
		{"long comment", ":" + strings.Repeat("y", 20) + "\n", 16, nil},
		{"data over lines", "data: 12345\ndata: 12345\ndata: 12345\n\n", 16, nil},
		{"long line beyond the read buffer", "data: " + strings.Repeat("y", readBufferSize*3) + "\n\n", readBufferSize * 2, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs, _, _, err := parseAll(strings.NewReader(tc.in), tc.max)
			if !errors.Is(err, ErrEventTooLarge) || !slices.Equal(evs, tc.want) {
				t.Errorf("parse(%.40q, max %d) = %q, %v; want %q, ErrEventTooLarge", tc.in, tc.max, evs, err, tc.want)
			}
		})
	}
	// Exactly at the limit is fine: the data counts without its last "\n".
	in := "data: 1234567\ndata: 12345678\n\n" // data "1234567\n12345678", 16 bytes
	evs, _, _, err := parseAll(strings.NewReader(in), 16)
	if want := []Event{msg("1234567\n12345678")}; err != nil || !slices.Equal(evs, want) {
		t.Errorf("parse(%q, max 16) = %q, %v; want %q, nil", in, evs, err, want)
	}
}

// A read error other than EOF is returned as it is.
func TestParseReadError(t *testing.T) {
	boom := errors.New("boom")
	r := io.MultiReader(strings.NewReader("data: x\n\ndata: y"), iotest.ErrReader(boom))
	evs, _, _, err := parseAll(r, defaultMaxEventSize)
	if !errors.Is(err, boom) || !slices.Equal(evs, []Event{msg("x")}) {
		t.Errorf("parse = %q, %v; want [x], boom", evs, err)
	}
}

func FuzzParse(f *testing.F) {
	for _, tc := range conformance {
		f.Add([]byte(tc.in))
	}
	f.Add([]byte("data: a\r\ndata: b\r\r\nid: 1\x00\nretry: 12\n\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, maxSize := range []int{defaultMaxEventSize, 16} {
			evs1, id1, retry1, err1 := parseAll(bytes.NewReader(in), maxSize)
			evs2, id2, retry2, err2 := parseAll(iotest.OneByteReader(bytes.NewReader(in)), maxSize)
			if !slices.Equal(evs1, evs2) || id1 != id2 || retry1 != retry2 || (err1 == nil) != (err2 == nil) {
				t.Fatalf("parse(%q, max %d):\none read:  %q, %q, %v, %v\none byte:  %q, %q, %v, %v",
					in, maxSize, evs1, id1, retry1, err1, evs2, id2, retry2, err2)
			}
			if err1 != nil && !errors.Is(err1, ErrEventTooLarge) {
				t.Fatalf("parse(%q) error %v, want nil or ErrEventTooLarge", in, err1)
			}
		}
	})
}

// benchStream is a token stream such as LLM APIs send.
func benchStream(n int) []byte {
	var b bytes.Buffer
	for i := range n {
		fmt.Fprintf(&b, "id: %d\nevent: token\ndata: {\"index\":%d,\"text\":\"hello world\"}\n\n", i, i)
	}
	return b.Bytes()
}

// bufioLoop is what a hand-written client does: LF only, prefixes with one
// space, no limits; the floor to compare the parser with.
func bufioLoop(r io.Reader) int {
	br := bufio.NewReaderSize(r, readBufferSize)
	var data []byte
	var id, typ string
	n := 0
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return n
		}
		line = line[:len(line)-1]
		switch {
		case len(line) == 0:
			ev := Event{ID: id, Type: typ, Data: string(data)}
			if ev.Data != "" {
				n++
			}
			data, typ = data[:0], ""
		case bytes.HasPrefix(line, []byte("data: ")):
			data = append(data, line[6:]...)
		case bytes.HasPrefix(line, []byte("id: ")):
			id = string(line[4:])
		case bytes.HasPrefix(line, []byte("event: ")):
			typ = string(line[7:])
		}
	}
}

func BenchmarkParse(b *testing.B) {
	const events = 10000
	stream := benchStream(events)
	run := func(b *testing.B, parse func(io.Reader) int) {
		b.SetBytes(int64(len(stream)))
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for b.Loop() {
			if n := parse(bytes.NewReader(stream)); n != events {
				b.Fatalf("parsed %d events, want %d", n, events)
			}
		}
		runtime.ReadMemStats(&after)
		total := float64(b.N) * events
		b.ReportMetric(total/b.Elapsed().Seconds(), "events/s")
		b.ReportMetric(float64(after.Mallocs-before.Mallocs)/total, "allocs/event")
	}
	b.Run("sse", func(b *testing.B) {
		run(b, func(r io.Reader) int {
			p := newParser(r, defaultMaxEventSize)
			n := 0
			for {
				if _, err := p.next(); err != nil {
					return n
				}
				n++
			}
		})
	})
	b.Run("bufio-loop", func(b *testing.B) { run(b, bufioLoop) })
}
