package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	"github.com/courierhttp/courier"
)

// maxBufferedBody is how much of a body from stdin is
// held in memory, so that it can be sent again on a retry and shown by -v.
// A longer one is streamed: sent once, never retried.
const maxBufferedBody = 8 << 20

// body is a request's body, ready to send.
type body struct {
	opt         courier.RequestOption // nil: no body
	contentType string                // the default Content-Type
	accept      string                // the default Accept, "" for none
	streamed    bool                  // too large to hold: sent once, never again
	stdin       bool                  // read from stdin
	// close releases what the body holds open (a file).
	close func()
}

// buildBody makes the body that a's items, --raw or stdin give.
func buildBody(a *args, stdin io.Reader, stdinData bool) (body, error) {
	b := body{close: func() {}}
	data, files := bodyItems(a.items)
	if !a.form && !a.multipart && (a.json || len(data) > 0) {
		b.accept = "application/json, */*;q=0.5"
	}
	if stdinData && !a.ignoreStdin && a.raw == nil {
		opt, streamed, err := stdinBody(stdin, len(data)+len(files) > 0)
		if err != nil {
			return b, err
		}
		if opt != nil {
			b.opt, b.streamed, b.stdin = opt, streamed, true
			b.contentType = defaultContentType(a)
			return b, nil
		}
	}
	return itemsBody(a, b, data, files)
}

// bodyItems picks the items that make a body: data (field=value,
// field:=json) and files (field@path), each in the order given.
func bodyItems(items []item) (data, files []item) {
	for _, it := range items {
		switch it.kind {
		case itemData, itemJSON:
			data = append(data, it)
		case itemFile:
			files = append(files, it)
		}
	}
	return data, files
}

// stdinBody reads the body piped to stdin. opt is nil when stdin is empty,
// so that the items make the body; a body on stdin does not mix with data
// or file items (haveItems).
func stdinBody(stdin io.Reader, haveItems bool) (opt courier.RequestOption, streamed bool, err error) {
	opt, n, streamed, err := readBody(stdin)
	if err != nil {
		return nil, false, fmt.Errorf("reading the body from stdin: %w", err)
	}
	if n == 0 {
		return nil, false, nil
	}
	if haveItems {
		return nil, false, usagef("a body from stdin and data items (field=value) cannot be mixed: pass --ignore-stdin to send the items")
	}
	return opt, streamed, nil
}

// itemsBody completes b from --raw or the data and file items: multipart
// with files or --multipart, a URL-encoded form with --form, JSON
// otherwise, and no body when there is nothing to send.
func itemsBody(a *args, b body, data, files []item) (body, error) {
	switch {
	case a.raw != nil:
		b.opt = courier.Body([]byte(*a.raw))
		b.contentType = defaultContentType(a)
	case a.multipart || len(files) > 0:
		return multipartBody(data, files)
	case len(data) == 0:
	case a.form:
		b.opt = courier.Body([]byte(formBody(data)))
		b.contentType = "application/x-www-form-urlencoded; charset=utf-8"
	default:
		// parseArgs built it, following the items' nested JSON paths.
		b.opt = courier.Body(a.jsonData)
		b.contentType = "application/json"
	}
	return b, nil
}

// defaultContentType is the Content-Type of a body given whole (stdin,
// --raw): JSON unless --form, as HTTPie.
func defaultContentType(a *args) string {
	if a.form {
		return "application/x-www-form-urlencoded; charset=utf-8"
	}
	return "application/json"
}

// readBody reads up to maxBufferedBody of r: a body that fits is sent from
// memory (replayable); a longer one is streamed, its first part from memory.
// n is the number of bytes read so far.
func readBody(r io.Reader) (opt courier.RequestOption, n int, streamed bool, err error) {
	buf, err := io.ReadAll(io.LimitReader(r, maxBufferedBody+1))
	if err != nil {
		return nil, 0, false, err
	}
	if len(buf) <= maxBufferedBody {
		return courier.Body(buf), len(buf), false, nil
	}
	return courier.BodyReader(io.MultiReader(bytes.NewReader(buf), r)), len(buf), true, nil
}

// formBody writes data items as a URL-encoded form, in the order given.
func formBody(data []item) string {
	var b strings.Builder
	for i, it := range data {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(it.key))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(it.value))
	}
	return b.String()
}

// multipartBody sends fields and then files as multipart/form-data with
// the library's streamed builder: each file goes from disk to the
// connection as it is sent, and is read again for a retry, a 307 or -v.
func multipartBody(data, files []item) (body, error) {
	// Check every file first, so a missing one is bad input, before
	// anything is sent.
	parts := make([]courier.Part, 0, len(data)+len(files))
	for _, it := range data {
		parts = append(parts, courier.Field(it.key, it.value))
	}
	for _, it := range files {
		path := expandHome(it.path)
		if _, err := os.Stat(path); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return body{}, usagef("item %q: no such file %s", it.raw, it.path)
			}
			return body{}, usagef("item %q: %v", it.raw, err)
		}
		p := courier.File(it.key, path)
		if it.mime != "" {
			p = p.Type(it.mime)
		}
		parts = append(parts, p)
	}
	return body{opt: courier.Multipart(parts...), close: func() {}}, nil
}
