package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Nested JSON: the data items of a JSON body (field=value, field:=json and
// their @file forms) say where their value goes with HTTPie 3's path
// syntax ("nested JSON" in its manual):
//
//	a=1              {"a": "1"}
//	a[b][c]=1        {"a": {"b": {"c": "1"}}}
//	a[]:=1 a[]:=2    {"a": [1, 2]}            [] appends
//	a[2]=x           {"a": [null, null, "x"]} an index; the gap is null
//	[]:=1 []:=2      [1, 2]                   a top-level array
//	[0][b]=x         [{"b": "x"}]
//	a\[b\]=1         {"a[b]": "1"}            \[ \] \\ are escapes
//	a[\1]=x          {"a": {"1": "x"}}        an escaped number is a key
//
// A container takes its type, object or array, from its first use; an
// item that needs the other type later is refused, naming the path. A
// value given twice keeps the last one: "a=1 a=2" sends {"a": "2"}.

// maxIndex bounds an array index in a path, whose gap is filled with nulls.
const maxIndex = 100_000

// jsonDoc is the JSON body that data items build, one set at a time.
type jsonDoc struct {
	root *jsonValue // nil until the first item
}

// set puts value where the path leads, making the containers on the way.
func (d *jsonDoc) set(path string, value *jsonValue) error {
	steps, err := parsePath(path)
	if err != nil {
		return err
	}
	slot := &d.root
	for i, st := range steps {
		cur := *slot
		if cur.isNull() {
			cur = &jsonValue{kind: st.container()}
			*slot = cur
		}
		cur.open()
		if want := st.container(); cur.kind != want {
			return &jsonPathError{kind: "type", path: path, msg: fmt.Sprintf(
				"can't perform '%s' based access on '%s' which has a type of '%s' but this operation requires a type of '%s'",
				st.action, pathText(steps[:i]), cur.kind, want)}
		}
		switch st.action {
		case actKey:
			slot = cur.field(st.key)
		case actIndex:
			n, err := st.checkIndex(path)
			if err != nil {
				return err
			}
			slot = cur.element(n)
		case actAppend:
			cur.vals = append(cur.vals, nil)
			slot = &cur.vals[len(cur.vals)-1]
		}
	}
	*slot = value
	return nil
}

// bytes is the document as JSON, nil when no item set anything.
func (d *jsonDoc) bytes() []byte {
	if d.root == nil {
		return nil
	}
	var buf bytes.Buffer
	d.root.encode(&buf)
	return buf.Bytes()
}

// jsonKind is the type of a JSON value, named as errors name it.
type jsonKind int

const (
	jsonNull jsonKind = iota
	jsonObject
	jsonArray
	jsonString
	jsonNumber
	jsonBoolean
)

func (k jsonKind) String() string {
	return [...]string{"null", "object", "array", "string", "number", "boolean"}[k]
}

// jsonValue is one value of a document. A container holds its members; a
// value given with := is kept as written (raw) until a path reaches into
// it, so that it is sent as given, repeated keys and all.
type jsonValue struct {
	kind jsonKind
	raw  json.RawMessage // a scalar, or a container not opened yet
	// An object's keys and values, in order, or an array's elements; a
	// nil element is null. An object given raw keeps a repeated key, and
	// a path reaches its last one, as JSON decoders read it.
	keys []string
	vals []*jsonValue
	last map[string]int // where each key last appears in keys
}

// jsonStringValue is the JSON string s (field=value).
func jsonStringValue(s string) *jsonValue {
	return &jsonValue{kind: jsonString, raw: quoteJSON(s)}
}

// jsonRawValue is a JSON text given with := (valid: parseItem checked it).
func jsonRawValue(raw []byte) *jsonValue {
	v := &jsonValue{raw: raw, kind: jsonNumber}
	switch t := bytes.TrimLeft(raw, " \t\r\n"); {
	case len(t) == 0:
	case t[0] == '{':
		v.kind = jsonObject
	case t[0] == '[':
		v.kind = jsonArray
	case t[0] == '"':
		v.kind = jsonString
	case t[0] == 't' || t[0] == 'f':
		v.kind = jsonBoolean
	case t[0] == 'n':
		v.kind = jsonNull
	}
	return v
}

func (v *jsonValue) isNull() bool { return v == nil || v.kind == jsonNull }

// open turns a raw object or array into its members, one level deep.
func (v *jsonValue) open() {
	if v.raw == nil || (v.kind != jsonObject && v.kind != jsonArray) {
		return
	}
	dec := json.NewDecoder(bytes.NewReader(v.raw))
	v.raw = nil
	if _, err := dec.Token(); err != nil { // { or [
		return
	}
	for dec.More() {
		key := ""
		if v.kind == jsonObject {
			t, err := dec.Token()
			if err != nil {
				return
			}
			key, _ = t.(string)
		}
		var m json.RawMessage
		if err := dec.Decode(&m); err != nil {
			return
		}
		if v.kind == jsonObject {
			v.addField(key)
		}
		v.vals = append(v.vals, jsonRawValue(m))
	}
}

// field is where the object's key is: its last place, or a new one at the
// end.
func (v *jsonValue) field(key string) **jsonValue {
	i, ok := v.last[key]
	if !ok {
		i = v.addField(key)
		v.vals = append(v.vals, nil)
	}
	return &v.vals[i]
}

// addField appends key to the object's keys, and returns its place; the
// caller appends its value.
func (v *jsonValue) addField(key string) int {
	if v.last == nil {
		v.last = map[string]int{}
	}
	v.keys = append(v.keys, key)
	v.last[key] = len(v.keys) - 1
	return len(v.keys) - 1
}

// element is where the array's element n is, the array grown with nulls
// to hold it.
func (v *jsonValue) element(n int) **jsonValue {
	for len(v.vals) <= n {
		v.vals = append(v.vals, nil)
	}
	return &v.vals[n]
}

// encode writes v as JSON, spaced as HTTPie (and Python) write it.
func (v *jsonValue) encode(buf *bytes.Buffer) {
	if v == nil {
		buf.WriteString("null")
		return
	}
	v.open()
	switch {
	case v.raw != nil:
		if err := json.Compact(buf, v.raw); err != nil {
			buf.Write(v.raw)
		}
	case v.kind == jsonObject:
		buf.WriteByte('{')
		for i, k := range v.keys {
			if i > 0 {
				buf.WriteString(", ")
			}
			buf.Write(quoteJSON(k))
			buf.WriteString(": ")
			v.vals[i].encode(buf)
		}
		buf.WriteByte('}')
	default: // an array
		buf.WriteByte('[')
		for i, e := range v.vals {
			if i > 0 {
				buf.WriteString(", ")
			}
			e.encode(buf)
		}
		buf.WriteByte(']')
	}
}

// quoteJSON is s as a JSON string, without the HTML escapes of
// json.Marshal.
func quoteJSON(s string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.Encode(s) // a string always encodes
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// pathAction is what one step of a path does.
type pathAction int

const (
	actKey    pathAction = iota // a[key]: a field of an object
	actIndex                    // a[3]: an element of an array
	actAppend                   // a[]: a new element at the end of an array
)

func (a pathAction) String() string {
	return [...]string{"key", "index", "append"}[a]
}

// pathStep is one step of a path: the first (a, [3] or []) or one that
// follows it ([key], [3] or []).
type pathStep struct {
	action pathAction
	key    string   // actKey
	index  *big.Int // actIndex
	first  bool
	// from, to are where the step is written in the path (bytes), for
	// errors; both 0 for the empty first step of "=value" or "[]" forms.
	from, to int
}

// container is the type the step reaches into: an object for a key, an
// array otherwise.
func (s pathStep) container() jsonKind {
	if s.action == actKey {
		return jsonObject
	}
	return jsonArray
}

// checkIndex is the step's index, refused when negative or too large.
func (s pathStep) checkIndex(path string) (int, error) {
	switch {
	case s.index.Sign() < 0:
		return 0, &jsonPathError{kind: "value", path: path, msg: "negative indexes are not supported"}
	case !s.index.IsInt64() || s.index.Int64() > maxIndex:
		return 0, &jsonPathError{kind: "value", path: path, msg: fmt.Sprintf("index %s is too large (at most %d)", s.index, maxIndex)}
	}
	return int(s.index.Int64()), nil
}

// pathText writes steps back as a path, the way errors name a container:
// "a[b][0]", "" for the top level.
func pathText(steps []pathStep) string {
	var b strings.Builder
	for _, st := range steps {
		switch {
		case st.action == actKey && st.first:
			b.WriteString(st.key)
		case st.action == actKey:
			b.WriteString("[" + st.key + "]")
		case st.action == actIndex:
			b.WriteString("[" + st.index.String() + "]")
		default:
			b.WriteString("[]")
		}
	}
	return b.String()
}

// jsonPathError is a data item's path that the nested JSON syntax refuses.
type jsonPathError struct {
	kind string // syntax, type or value
	path string
	msg  string
	// at is where in the path the syntax is wrong (bytes; to > from), or
	// its end.
	from, to int
}

func (e *jsonPathError) Error() string {
	msg := e.kind + " error: " + e.msg
	if e.kind != "syntax" {
		return msg
	}
	if e.from >= len(e.path) {
		return fmt.Sprintf("%s at the end of %q", msg, e.path)
	}
	return fmt.Sprintf("%s at %q, column %d of %q", msg, e.path[e.from:e.to],
		utf8.RuneCountInString(e.path[:e.from])+1, e.path)
}

// parsePath reads a path:
//
//	path  = first step*
//	first = "" | text | number | "[" number "]" | "[" "]"
//	step  = "[" text "]" | "[" number "]" | "[" "]"
//
// A first number is a key ("1=x" gives {"1": "x"}); a number elsewhere is
// an index, unless escaped ("[\1]").
func parsePath(path string) ([]pathStep, error) {
	p := &pathParser{path: path, toks: tokenizePath(path)}
	if len(p.toks) == 0 {
		return []pathStep{{action: actKey, first: true}}, nil
	}
	first, err := p.first()
	if err != nil {
		return nil, err
	}
	steps := []pathStep{first}
	for p.pos < len(p.toks) {
		st, err := p.step()
		if err != nil {
			return nil, err
		}
		steps = append(steps, st)
	}
	return steps, nil
}

type pathParser struct {
	path string
	toks []pathToken
	pos  int
}

func (p *pathParser) first() (pathStep, error) {
	t, err := p.expect(tokText, tokNumber, tokOpen)
	if err != nil {
		return pathStep{}, err
	}
	switch t.kind {
	case tokText:
		return pathStep{action: actKey, key: t.text, first: true, from: t.from, to: t.to}, nil
	case tokNumber:
		return pathStep{action: actKey, key: t.num.String(), first: true, from: t.from, to: t.to}, nil
	}
	st, err := p.bracket(tokNumber, tokClose)
	st.first, st.from = true, t.from
	return st, err
}

func (p *pathParser) step() (pathStep, error) {
	t, err := p.expect(tokOpen)
	if err != nil {
		return pathStep{}, err
	}
	st, err := p.bracket(tokText, tokNumber, tokClose)
	st.from = t.from
	return st, err
}

// bracket reads what follows a "[": one of kinds, and the "]" after a
// text or number.
func (p *pathParser) bracket(kinds ...pathTokenKind) (pathStep, error) {
	t, err := p.expect(kinds...)
	if err != nil {
		return pathStep{}, err
	}
	st := pathStep{action: actAppend, to: t.to}
	switch t.kind {
	case tokClose:
		return st, nil
	case tokText:
		st.action, st.key = actKey, t.text
	case tokNumber:
		st.action, st.index = actIndex, t.num
	}
	t, err = p.expect(tokClose)
	st.to = t.to
	return st, err
}

// expect takes the next token, which must be of one of kinds.
func (p *pathParser) expect(kinds ...pathTokenKind) (pathToken, error) {
	if p.pos < len(p.toks) {
		t := p.toks[p.pos]
		p.pos++
		if slices.Contains(kinds, t.kind) {
			return t, nil
		}
		return t, p.expected(kinds, t.from, t.to)
	}
	n := len(p.path)
	return pathToken{from: n, to: n}, p.expected(kinds, n, n+1)
}

func (p *pathParser) expected(kinds []pathTokenKind, from, to int) error {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = k.String()
	}
	want := names[len(names)-1]
	if len(names) > 1 {
		want = strings.Join(names[:len(names)-1], ", ") + " or " + want
	}
	return &jsonPathError{kind: "syntax", path: p.path, msg: "expecting " + want, from: from, to: to}
}

// pathTokenKind is the kind of a token of a path.
type pathTokenKind int

const (
	tokText pathTokenKind = iota
	tokNumber
	tokOpen  // [
	tokClose // ]
)

func (k pathTokenKind) String() string {
	return [...]string{"a text", "a number", "'['", "']'"}[k]
}

type pathToken struct {
	kind     pathTokenKind
	text     string   // tokText, unescaped
	num      *big.Int // tokNumber
	from, to int      // where it is written in the path (bytes)
}

// tokenizePath splits a path into brackets and the texts between them. A
// backslash escapes [, ] and itself; before anything else it is kept.
func tokenizePath(path string) []pathToken {
	var toks []pathToken
	var buf strings.Builder
	from, escaped := 0, false
	flush := func(to int) {
		if buf.Len() > 0 {
			toks = append(toks, textToken(buf.String(), escaped, from, to))
		}
		buf.Reset()
		escaped = false
	}
	for i := 0; i < len(path); i++ {
		if buf.Len() == 0 {
			from = i
		}
		switch c := path[i]; {
		case c == '[' || c == ']':
			flush(i)
			kind := tokOpen
			if c == ']' {
				kind = tokClose
			}
			toks = append(toks, pathToken{kind: kind, from: i, to: i + 1})
		case c == '\\' && i+1 < len(path):
			next := path[i+1]
			if next == '[' || next == ']' || next == '\\' {
				escaped = true
			} else {
				buf.WriteByte(c)
			}
			buf.WriteByte(next)
			i++
		default:
			buf.WriteByte(c)
		}
	}
	flush(len(path))
	return toks
}

// textToken is the text between brackets: a number when it reads as an
// integer and holds no escape, and the number itself, as text, when a
// backslash comes before it ("\1" is the key "1").
func textToken(text string, escaped bool, from, to int) pathToken {
	t := pathToken{kind: tokText, text: text, from: from, to: to}
	if escaped {
		return t
	}
	if n, ok := parseInteger(text); ok {
		t.kind, t.num = tokNumber, n
	} else if rest, ok := strings.CutPrefix(text, `\`); ok {
		if _, ok := parseInteger(rest); ok {
			t.text = rest
		}
	}
	return t
}

// parseInteger reads s as HTTPie does, with Python's int(): white space
// around, a sign, decimal digits of any script with single underscores
// between them.
func parseInteger(s string) (*big.Int, bool) {
	s = strings.TrimFunc(s, isPythonSpace)
	neg := strings.HasPrefix(s, "-")
	if neg || strings.HasPrefix(s, "+") {
		s = s[1:]
	}
	digits := make([]byte, 0, len(s))
	underscore := true // no leading underscore
	for _, r := range s {
		if r == '_' && !underscore {
			underscore = true
			continue
		}
		d, ok := decimalDigit(r)
		if !ok {
			return nil, false
		}
		digits = append(digits, '0'+d)
		underscore = false
	}
	if underscore { // empty, or a trailing underscore
		return nil, false
	}
	n, ok := new(big.Int).SetString(string(digits), 10)
	if ok && neg {
		n.Neg(n)
	}
	return n, ok
}

// isPythonSpace is Python's str.isspace, which int() trims.
func isPythonSpace(r rune) bool {
	return unicode.IsSpace(r) || ('\x1c' <= r && r <= '\x1f')
}

// decimalDigit is the value of a decimal digit of any script. Unicode
// assigns them in runs of ten, zero to nine, some runs back to back.
func decimalDigit(r rune) (byte, bool) {
	if '0' <= r && r <= '9' {
		return byte(r - '0'), true
	}
	if !unicode.Is(unicode.Nd, r) {
		return 0, false
	}
	zero := r
	for unicode.Is(unicode.Nd, zero-1) {
		zero--
	}
	return byte((r - zero) % 10), true
}
