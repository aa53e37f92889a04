package main

import (
	"bytes"
	"encoding/json"
	"mime"
	"strings"
	"unicode/utf8"
)

// ANSI colors of the terminal output.
const (
	colorReset  = "\x1b[0m"
	colorBold   = "\x1b[1m"
	colorDim    = "\x1b[2m"
	colorRed    = "\x1b[31m"
	colorGreen  = "\x1b[32m"
	colorYellow = "\x1b[33m"
	colorBlue   = "\x1b[34m"
	colorPurple = "\x1b[35m"
	colorCyan   = "\x1b[36m"
)

// isJSON reports whether a body of this media type is JSON (application/json
// and the +json types), or, when the type says nothing useful, whether the
// body reads as a JSON object or array.
func isJSON(contentType string, body []byte) bool {
	mt, _, _ := mime.ParseMediaType(contentType)
	switch {
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		return json.Valid(body)
	case mt == "" || mt == "text/plain" || mt == "application/octet-stream" || mt == "text/javascript" || mt == "application/javascript":
		t := bytes.TrimSpace(body)
		return len(t) > 0 && (t[0] == '{' || t[0] == '[') && json.Valid(t)
	}
	return false
}

// isBinary reports whether a body is not text fit for a terminal: a NUL
// byte, or bytes that are not UTF-8, in its first KiB.
func isBinary(body []byte) bool {
	head := body[:min(len(body), 1024)]
	if bytes.IndexByte(head, 0) >= 0 {
		return true
	}
	if utf8.Valid(head) {
		return false
	}
	// A character cut at the end of head is still text.
	for cut := 1; cut <= 3 && len(body) > len(head); cut++ {
		if utf8.Valid(head[:len(head)-cut]) {
			return false
		}
	}
	return true
}

// formatJSON indents JSON with four spaces (HTTPie's default), keeping the
// order of the keys; body is returned as it is when it is not valid JSON.
func formatJSON(body []byte) []byte {
	var out bytes.Buffer
	if err := json.Indent(&out, bytes.TrimSpace(body), "", "    "); err != nil {
		return body
	}
	out.WriteByte('\n')
	return out.Bytes()
}

// colorJSON colors (already formatted) JSON for a terminal: keys blue,
// strings yellow, numbers cyan, true, false and null purple. It is a
// scanner, not a parser: text that is not JSON passes through uncolored
// where it stops making sense.
func colorJSON(js []byte) []byte {
	var out bytes.Buffer
	out.Grow(len(js) + len(js)/4)
	for i := 0; i < len(js); {
		end, color := jsonToken(js, i)
		if color == "" {
			out.Write(js[i:end])
		} else {
			out.WriteString(color)
			out.Write(js[i:end])
			out.WriteString(colorReset)
		}
		i = end
	}
	return out.Bytes()
}

// jsonToken finds the token that starts at js[i] and returns the index just
// past it, with its color: a string (a key when a ':' follows it), a number,
// or a literal (true, false, null). Anything else is one byte, uncolored
// (color "").
func jsonToken(js []byte, i int) (end int, color string) {
	switch c := js[i]; {
	case c == '"':
		end = stringEnd(js, i)
		if followedByColon(js, end) {
			return end, colorBlue
		}
		return end, colorYellow
	case c == '-' || (c >= '0' && c <= '9'):
		return scanWhile(js, i+1, isNumberByte), colorCyan
	case c == 't' || c == 'f' || c == 'n':
		return scanWhile(js, i, isLowerLetter), colorPurple
	}
	return i + 1, ""
}

// followedByColon reports whether the first byte from js[i] on that is not
// white space is a ':'.
func followedByColon(js []byte, i int) bool {
	for i < len(js) && (js[i] == ' ' || js[i] == '\t' || js[i] == '\n' || js[i] == '\r') {
		i++
	}
	return i < len(js) && js[i] == ':'
}

// scanWhile returns the index of the first byte from js[i] on that ok
// refuses, or len(js).
func scanWhile(js []byte, i int, ok func(byte) bool) int {
	for i < len(js) && ok(js[i]) {
		i++
	}
	return i
}

// isNumberByte reports whether c can continue a JSON number.
func isNumberByte(c byte) bool { return strings.IndexByte("0123456789.eE+-", c) >= 0 }

// isLowerLetter reports whether c is in a-z.
func isLowerLetter(c byte) bool { return c >= 'a' && c <= 'z' }

// stringEnd returns the index just past the JSON string that starts at
// js[i] (a '"'), or len(js) when it is not closed.
func stringEnd(js []byte, i int) int {
	for j := i + 1; j < len(js); j++ {
		switch js[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(js)
}

// statusColor is the color of a status line: green 2xx, yellow 3xx, red
// 4xx and 5xx.
func statusColor(code int) string {
	switch {
	case code >= 400:
		return colorRed
	case code >= 300:
		return colorYellow
	case code >= 200:
		return colorGreen
	}
	return colorCyan
}
