package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// itemKind is what a request item on the command line adds to the request
// (HTTPie's syntax).
type itemKind int

const (
	itemHeader      itemKind = iota // Name:Value
	itemHeaderEmpty                 // Name;  (an empty header)
	itemHeaderUnset                 // Name:  (no such header, not even a default)
	itemQuery                       // name==value
	itemData                        // field=value
	itemJSON                        // field:=<raw JSON>
	itemFile                        // field@path  (a multipart upload)
)

// item is one parsed request item. A value read from a file (Name:@file,
// name==@file, field=@file, field:=@file) is already read.
type item struct {
	kind  itemKind
	key   string
	value string
	// jsonPath is the key of a data item as the nested JSON syntax reads
	// it (see nested.go): the key with the backslashes of \[, \] and \\
	// kept, so that "a\[b\]=1" names the field "a[b]" and "a[b]=1" the
	// field "b" inside "a".
	jsonPath string
	// For itemFile: the path and the media type given with ;type=.
	path, mime string
	// raw is the item as typed, for error messages.
	raw string
}

// separators, longest first among those that share a start: when several
// begin at the same place, the longest wins (":=@" over ":=" over ":").
var separators = []string{"==@", ":=@", "==", ":=", "=@", ":@", "=", ":", ";", "@"}

// special are the characters a backslash escapes in an item.
const special = `\:=@;`

// itemParts is a request item split at its separator.
type itemParts struct {
	key, sep, value string // key and value unescaped
	// jsonPath is the key with only the escapes of separator characters
	// undone: a backslash before anything else, or doubled, is the nested
	// JSON path's to read (HTTPie reads an item so).
	jsonPath string
}

// splitItem finds the first unescaped separator of arg, and returns the
// parts around it. ok is false when there is none.
func splitItem(arg string) (parts itemParts, ok bool) {
	// Walk the argument, keeping the unescaped text, which of its bytes
	// came escaped, and where each byte starts in the path form.
	var text, path strings.Builder
	var escaped []bool
	var pathAt []int
	for i := 0; i < len(arg); i++ {
		c, esc := arg[i], false
		if c == '\\' && i+1 < len(arg) && strings.IndexByte(special, arg[i+1]) >= 0 {
			i++
			c, esc = arg[i], true
		}
		pathAt = append(pathAt, path.Len())
		if esc && c == '\\' {
			path.WriteByte('\\')
		}
		path.WriteByte(c)
		text.WriteByte(c)
		escaped = append(escaped, esc)
	}
	s := text.String()
	for i := 0; i < len(s); i++ {
		if escaped[i] {
			continue
		}
		for _, sp := range separators {
			if strings.HasPrefix(s[i:], sp) && !anyEscaped(escaped[i:i+len(sp)]) {
				return itemParts{key: s[:i], sep: sp, value: s[i+len(sp):], jsonPath: path.String()[:pathAt[i]]}, true
			}
		}
	}
	return itemParts{}, false
}

func anyEscaped(b []bool) bool {
	for _, e := range b {
		if e {
			return true
		}
	}
	return false
}

// isItem reports whether arg reads as a request item (used to tell a URL
// from a method: in `courier example.org a=1` the first word is the URL).
func isItem(arg string) bool {
	parts, ok := splitItem(arg)
	if !ok || parts.key == "" {
		return false
	}
	// "localhost:8080/x" and "http://x" have a ':' but are URLs: a header
	// name is a token, and a URL's ':' is followed by a port or "//".
	if parts.sep == ":" && looksLikeURL(arg) {
		return false
	}
	return true
}

func looksLikeURL(arg string) bool {
	if strings.Contains(arg, "://") || strings.HasPrefix(arg, ":") {
		return true
	}
	host, rest, found := strings.Cut(arg, ":")
	if !found || strings.ContainsAny(host, "/=@;") {
		return false
	}
	// host:port or host:port/path
	port, _, _ := strings.Cut(rest, "/")
	return isDigits(port)
}

// fileReader reads the file an item names.
type fileReader func(path string) ([]byte, error)

// parseItem parses one request item.
func parseItem(arg string, read fileReader) (item, error) {
	parts, ok := splitItem(arg)
	if !ok {
		return item{}, fmt.Errorf("%q is not a request item (Header:Value, name==value, field=value, field:=json or field@file)", arg)
	}
	it := item{key: parts.key, value: parts.value, raw: arg}
	var err error
	switch sep := parts.sep; sep {
	case ":", ":@", ";":
		err = it.parseHeader(sep, read)
	case "==", "==@", "=", "=@", ":=", ":=@":
		it.jsonPath = parts.jsonPath
		err = it.parseField(sep, read)
	case "@":
		err = it.parseUpload()
	}
	if err != nil {
		return item{}, err
	}
	if it.key == "" && it.kind != itemJSON && it.kind != itemData {
		return item{}, fmt.Errorf("item %q: empty name", arg)
	}
	return it, nil
}

// parseHeader reads a header item: Name:Value, Name:@file (the value from
// a file, without its final line break), Name; (an empty header) or Name:
// (no such header).
func (it *item) parseHeader(sep string, read fileReader) error {
	if !httpguts.ValidHeaderFieldName(it.key) {
		return fmt.Errorf("item %q: %q is not a valid header name", it.raw, it.key)
	}
	switch {
	case sep == ";":
		if it.value != "" {
			return fmt.Errorf("item %q: nothing may follow ';' (Name; sends an empty header)", it.raw)
		}
		it.kind = itemHeaderEmpty
		return nil
	case sep == ":" && it.value == "":
		it.kind = itemHeaderUnset
		return nil
	}
	it.kind = itemHeader
	if sep == ":@" {
		if err := it.readFile(read); err != nil {
			return err
		}
		it.value = strings.TrimRight(it.value, "\r\n")
	}
	it.value = strings.TrimLeft(it.value, " \t")
	if !httpguts.ValidHeaderFieldValue(it.value) {
		return fmt.Errorf("item %q: the header value holds a control character or line break", it.raw)
	}
	return nil
}

// fieldKinds are the kinds of the query, data and JSON items by their
// separator; the same separator followed by @ reads the value from a file.
var fieldKinds = map[string]itemKind{
	"==": itemQuery,
	"=":  itemData,
	":=": itemJSON,
}

// parseField reads a query, data or JSON item (name==value, field=value,
// field:=json, and their @file forms). A JSON value must be valid JSON.
func (it *item) parseField(sep string, read fileReader) error {
	base, fromFile := strings.CutSuffix(sep, "@")
	it.kind = fieldKinds[base]
	if fromFile {
		if err := it.readFile(read); err != nil {
			return err
		}
	}
	if it.kind == itemJSON && !json.Valid([]byte(it.value)) {
		return fmt.Errorf("item %q: the value is not valid JSON", it.raw)
	}
	return nil
}

// parseUpload reads a file upload, field@path or field@path;type=media/type.
func (it *item) parseUpload() error {
	it.kind = itemFile
	it.path, it.mime, _ = strings.Cut(it.value, ";type=")
	if it.path == "" {
		return fmt.Errorf("item %q: no file name after @", it.raw)
	}
	return nil
}

// readFile replaces the item's value, a file name, with the file's
// content, read with read.
func (it *item) readFile(read fileReader) error {
	if it.value == "" {
		return fmt.Errorf("item %q: no file name after @", it.raw)
	}
	data, err := read(it.value)
	if err != nil {
		return fmt.Errorf("item %q: %w", it.raw, err)
	}
	it.value = string(data)
	return nil
}

// osReadFile reads a file for an item, expanding a leading ~.
func osReadFile(path string) ([]byte, error) {
	data, err := os.ReadFile(expandHome(path))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no such file %s", path)
	}
	return data, err
}

// expandHome expands a leading ~/ to the home directory, as a shell would
// have.
func expandHome(path string) string {
	if rest, ok := strings.CutPrefix(path, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, rest)
		}
	}
	return path
}
