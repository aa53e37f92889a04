package jsonl_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/courierhttp/courier/jsonl"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type rec struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

// collect ranges over seq and returns the values before the first error,
// and that error.
func collect[T any](seq func(func(T, error) bool)) ([]T, error) {
	var out []T
	for v, err := range seq {
		if err != nil {
			return out, err
		}
		out = append(out, v)
	}
	return out, nil
}

func ids(rs []rec) []int {
	var out []int
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

// Blank lines, whitespace-only lines and CRLF line ends are skipped or
// tolerated, and a last line without a line end is still read.
func TestValuesLineEnds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		want     []int
	}{
		{"LF", "{\"id\":1}\n{\"id\":2}\n", []int{1, 2}},
		{"CRLF", "{\"id\":1}\r\n{\"id\":2}\r\n", []int{1, 2}},
		{"blank lines", "\n\n{\"id\":1}\n \t\r\n\n{\"id\":2}\n\n", []int{1, 2}},
		{"no final newline", "{\"id\":1}\n{\"id\":2}", []int{1, 2}},
		{"no final newline after CR", "{\"id\":1}\r\n{\"id\":2}\r", []int{1, 2}},
		{"empty", "", nil},
		{"only blanks", "\n \n\r\n", nil},
		{"indent inside a line", "  {\"id\": 1 ,  \"name\" : \"a b\" }  \n", []int{1}},
	}
	for _, tt := range tests {
		got, err := collect(jsonl.Values[rec](strings.NewReader(tt.in)))
		if err != nil || !slices.Equal(ids(got), tt.want) {
			t.Errorf("%s: Values(%q) = %v, %v; want %v, nil", tt.name, tt.in, ids(got), err, tt.want)
		}
	}
}

// A line that does not decode is a *LineError naming its line, quoting
// its start, wrapping the json error; the values before it are yielded
// and nothing after it.
func TestValuesBadLine(t *testing.T) {
	t.Parallel()
	in := "{\"id\":1}\n\n{\"id\":\"three\"}\n{\"id\":4}\n"
	got, err := collect(jsonl.Values[rec](strings.NewReader(in)))
	var le *jsonl.LineError
	var te *json.UnmarshalTypeError
	if !errors.As(err, &le) || le.Line != 3 || !errors.As(err, &te) {
		t.Fatalf("Values = %v, %v; want a *LineError at line 3 wrapping *json.UnmarshalTypeError", ids(got), err)
	}
	if !slices.Equal(ids(got), []int{1}) {
		t.Errorf("values before the error = %v, want [1]", ids(got))
	}
	if le.Excerpt != `{"id":"three"}` || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("LineError = %q (excerpt %q), want the line number and the excerpt {\"id\":\"three\"}", err, le.Excerpt)
	}

	// Syntax errors too, and the sequence stops there.
	n := 0
	for _, err := range jsonl.Values[rec](strings.NewReader("{\"id\":1}\n{\"id\":2}\n{\"id\":\n{\"id\":4}\n")) {
		n++
		var syn *json.SyntaxError
		if err != nil && (!errors.As(err, &le) || le.Line != 3 || !errors.As(err, &syn)) {
			t.Errorf("error = %v, want a *LineError at line 3 wrapping *json.SyntaxError", err)
		}
	}
	if n != 3 {
		t.Errorf("the sequence yielded %d times, want 3: two values and the error", n)
	}
}

// The excerpt of a long bad line is cut at 100 bytes and masks secrets.
func TestLineErrorExcerpt(t *testing.T) {
	t.Parallel()
	long := `{"token":"s3cret-value","id":"x` + strings.Repeat("y", 5000) + `"}`
	_, err := collect(jsonl.Values[rec](strings.NewReader(long + "\n")))
	var le *jsonl.LineError
	if !errors.As(err, &le) {
		t.Fatalf("Values = %v, want a *LineError", err)
	}
	if len(le.Excerpt) > 110 || strings.Contains(le.Excerpt, "s3cret") || len(err.Error()) > 300 {
		t.Errorf("LineError = %q; want an excerpt of at most ~100 bytes without the token", err)
	}
}

// Data after a line's value is an error.
func TestValuesTrailingData(t *testing.T) {
	t.Parallel()
	for _, line := range []string{`{"id":1} x`, `{"id":1}{"id":2}`, `{"id":1},`, `1 2`, `{"id":1}` + "\x1e"} {
		_, err := collect(jsonl.Values[json.RawMessage](strings.NewReader("{}\n" + line + "\n")))
		var le *jsonl.LineError
		if !errors.As(err, &le) || le.Line != 2 {
			t.Errorf("Values(%q) = %v, want a *LineError at line 2", line, err)
		}
	}
}

// A line over the limit is ErrLineTooLong, never a silent end; a larger
// limit reads it. The limit counts the line without its line end.
func TestValuesLineTooLong(t *testing.T) {
	t.Parallel()
	huge := `{"id":2,"name":"` + strings.Repeat("x", 2<<20) + `"}`
	in := "{\"id\":1}\n" + huge + "\n{\"id\":3}\n"

	got, err := collect(jsonl.Values[rec](strings.NewReader(in)))
	var le *jsonl.LineError
	if !errors.Is(err, jsonl.ErrLineTooLong) || !errors.As(err, &le) || le.Line != 2 || !slices.Equal(ids(got), []int{1}) {
		t.Errorf("Values(2 MiB line) = %v, %v; want [1], ErrLineTooLong at line 2", ids(got), err)
	}
	if le != nil && len(le.Excerpt) > 110 {
		t.Errorf("excerpt of the long line is %d bytes, want at most ~100", len(le.Excerpt))
	}

	got, err = collect(jsonl.Values[rec](strings.NewReader(in), jsonl.MaxLineSize(3<<20)))
	if err != nil || !slices.Equal(ids(got), []int{1, 2, 3}) || len(got[1].Name) != 2<<20 {
		t.Errorf("Values(MaxLineSize(3 MiB)) = %v, %v; want [1 2 3], nil", ids(got), err)
	}

	// Exactly at the limit is fine, with or without CRLF; one more is not.
	line := `{"id":7}`
	for _, end := range []string{"\n", "\r\n", ""} {
		got, err := collect(jsonl.Values[rec](strings.NewReader(line+end), jsonl.MaxLineSize(len(line)+len(end)-min(len(end), 1))))
		if err != nil || !slices.Equal(ids(got), []int{7}) {
			t.Errorf("Values(%q) at its limit = %v, %v; want [7], nil", line+end, ids(got), err)
		}
	}
	_, err = collect(jsonl.Values[rec](strings.NewReader(line+"\n"), jsonl.MaxLineSize(len(line)-1)))
	if !errors.Is(err, jsonl.ErrLineTooLong) {
		t.Errorf("Values(%q) one byte over its limit = %v, want ErrLineTooLong", line, err)
	}
}

// A line over the limit without any newline in the stream (a stream that
// is not JSON lines at all) ends with ErrLineTooLong within the limit.
func TestValuesNoNewline(t *testing.T) {
	t.Parallel()
	r := io.LimitReader(endless{'x'}, 64<<20)
	_, err := collect(jsonl.Values[rec](r, jsonl.MaxLineSize(1<<16)))
	if !errors.Is(err, jsonl.ErrLineTooLong) {
		t.Errorf("Values(endless line) = %v, want ErrLineTooLong", err)
	}
}

type endless struct{ c byte }

func (e endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = e.c
	}
	return len(p), nil
}

// A read error is yielded, wrapped, after the values before it.
func TestValuesReadError(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	r := io.MultiReader(strings.NewReader("{\"id\":1}\n{\"id\":2}\n{\"id\""), iotest.ErrReader(boom))
	got, err := collect(jsonl.Values[rec](r))
	if !errors.Is(err, boom) || !slices.Equal(ids(got), []int{1, 2}) {
		t.Errorf("Values = %v, %v; want [1 2], boom", ids(got), err)
	}
}

// Breaking out of the loop and ranging again goes on where it stopped.
func TestValuesResume(t *testing.T) {
	t.Parallel()
	seq := jsonl.Values[rec](strings.NewReader("{\"id\":1}\n{\"id\":2}\n{\"id\":3}\n"))
	for v, err := range seq {
		if err != nil || v.ID != 1 {
			t.Fatalf("first value = %v, %v", v, err)
		}
		break
	}
	got, err := collect(seq)
	if err != nil || !slices.Equal(ids(got), []int{2, 3}) {
		t.Errorf("second range = %v, %v; want [2 3], nil", ids(got), err)
	}
}

// Bad options are yielded as the only error.
func TestValuesBadOptions(t *testing.T) {
	t.Parallel()
	for name, seq := range map[string]func(func(rec, error) bool){
		"negative MaxLineSize": jsonl.Values[rec](strings.NewReader("{}"), jsonl.MaxLineSize(-1)),
		"nil Option":           jsonl.Values[rec](strings.NewReader("{}"), nil),
		"nil reader":           jsonl.Values[rec](nil),
	} {
		got, err := collect(seq)
		if err == nil || len(got) != 0 {
			t.Errorf("%s: Values = %v, %v; want an error and nothing else", name, got, err)
		}
	}
}

// JSON text sequences: records after 0x1E, LF optional, empty records
// skipped; a record that fails to parse is yielded and reading goes on
// (RFC 7464 section 2.1); a cut record matches ErrTruncated, including a
// top-level scalar not followed by whitespace (section 2.4).
func TestValuesSeq(t *testing.T) {
	t.Parallel()
	type event struct {
		V   any
		Err error
		N   int // LineError.Line
	}
	run := func(in string) []event {
		var out []event
		for v, err := range jsonl.Values[any](strings.NewReader(in), jsonl.Seq(true)) {
			e := event{V: v, Err: err}
			var le *jsonl.LineError
			if errors.As(err, &le) {
				e.N = le.Line
			}
			out = append(out, e)
		}
		return out
	}
	got := run("\x1e{\"a\":1}\n\x1e\x1e[1,2]\n\x1e\"s\"\x1e  true \n\x1e42\n\x1e{\"a\"\x1e{\"b\":2}\n\x1e42")
	type want struct {
		v         string // the value as JSON, or "" for an error
		truncated bool
		n         int
	}
	wants := []want{
		{`{"a":1}`, false, 0}, {`[1,2]`, false, 0}, {`"s"`, false, 0}, {`true`, false, 0}, {`42`, false, 0},
		{"", true, 7}, // {"a" cut by the next separator
		{`{"b":2}`, false, 0},
		{"", true, 9}, // 42 at the end, no whitespace: may be 420
	}
	if len(got) != len(wants) {
		t.Fatalf("Values(Seq) yielded %d times: %+v; want %d", len(got), got, len(wants))
	}
	for i, w := range wants {
		g := got[i]
		if w.v != "" {
			b, _ := json.Marshal(g.V)
			if g.Err != nil || string(b) != w.v {
				t.Errorf("yield %d = %s, %v; want %s, nil", i, b, g.Err, w.v)
			}
			continue
		}
		if !errors.Is(g.Err, jsonl.ErrTruncated) || g.N != w.n {
			t.Errorf("yield %d = %v (record %d); want ErrTruncated at record %d", i, g.Err, g.N, w.n)
		}
	}

	// A record that is not JSON at all is an error that is not
	// ErrTruncated, and reading goes on.
	got = run("\x1e{\"a\":1}\n\x1enope\n\x1e{\"a\":3}\n")
	if len(got) != 3 || got[1].Err == nil || errors.Is(got[1].Err, jsonl.ErrTruncated) || got[1].N != 2 || got[2].Err != nil {
		t.Errorf("Values(Seq, bad middle record) = %+v; want a value, a non-truncation error at record 2, a value", got)
	}

	// A record over the limit ends the sequence.
	got = run("\x1e\"" + strings.Repeat("x", 100) + "\"\n\x1e1\n")
	var n int
	for range jsonl.Values[any](strings.NewReader("\x1e\""+strings.Repeat("x", 100)+"\"\n\x1e1\n"), jsonl.Seq(true), jsonl.MaxLineSize(50)) {
		n++
	}
	if n != 1 || len(got) != 2 {
		t.Errorf("Values(Seq, record over the limit) yielded %d times, want once (%d without the limit, want 2)", n, len(got))
	}
}

// Reading one byte at a time gives the same result as reading at once.
func TestValuesOneByteReads(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	for i := range 2000 {
		json.NewEncoder(&b).Encode(rec{ID: i, Name: strings.Repeat("n", i%300)})
		if i%7 == 0 {
			b.WriteString("\r\n")
		}
	}
	got, err := collect(jsonl.Values[rec](iotest.OneByteReader(bytes.NewReader(b.Bytes())), jsonl.MaxLineSize(200)))
	want, werr := collect(jsonl.Values[rec](bytes.NewReader(b.Bytes()), jsonl.MaxLineSize(200)))
	if !slices.Equal(got, want) || errors.Is(err, jsonl.ErrLineTooLong) != errors.Is(werr, jsonl.ErrLineTooLong) || len(want) < 100 {
		t.Errorf("one-byte reads = %d values, %v; all at once = %d values, %v", len(got), err, len(want), werr)
	}
}

// In a JSON text sequence, breaking at a bad record and ranging again goes
// on with the next record.
func TestValuesSeqResumeAfterError(t *testing.T) {
	t.Parallel()
	seq := jsonl.Values[int](strings.NewReader("\x1e1\n\x1e{\n\x1e3\n"), jsonl.Seq(true))
	var got []int
	for v, err := range seq {
		if err != nil {
			break
		}
		got = append(got, v)
	}
	rest, err := collect(seq)
	if err != nil || !slices.Equal(got, []int{1}) || !slices.Equal(rest, []int{3}) {
		t.Errorf("break at the bad record then range again = %v then %v, %v; want [1] then [3], nil", got, rest, err)
	}
}
