package main

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/internal/redact"
)

// printer writes HTTP messages as HTTPie shows them: a start line, headers,
// a blank line, the body; formatted and colored when asked.
type printer struct {
	w       io.Writer
	format  bool // indent JSON
	colors  bool // ANSI colors
	tty     bool // w is a terminal: binary bodies are not shown
	secrets bool // show secrets as sent
	// wire holds the response headers as received, when recorded: the
	// final response's are printed from it.
	wire *received
}

// newPrinter sets a printer up for --pretty (defaulted by the terminal).
func newPrinter(w io.Writer, pretty string, tty, secrets bool) *printer {
	return &printer{
		w:       w,
		format:  pretty == "all" || pretty == "format",
		colors:  pretty == "all" || pretty == "colors",
		tty:     tty,
		secrets: secrets,
	}
}

func (p *printer) paint(color, s string) string {
	if !p.colors || s == "" {
		return s
	}
	return color + s + colorReset
}

// requestHead writes the request line and headers of req as it was sent,
// secrets redacted unless --show-secrets.
func (p *printer) requestHead(req *http.Request) {
	u := *req.URL
	if !p.secrets {
		u.RawQuery = redact.Query(u.RawQuery)
	}
	target := u.RequestURI()
	fmt.Fprintf(p.w, "%s %s %s\n", p.paint(colorBold+colorGreen, req.Method), p.paint(colorCyan, target), p.paint(colorDim, "HTTP/1.1"))
	h := req.Header.Clone()
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	p.headerLine("Host", host)
	switch {
	case req.ContentLength > 0:
		h.Set("Content-Length", strconv.FormatInt(req.ContentLength, 10))
	case req.Body != nil && req.Body != http.NoBody:
		h.Set("Transfer-Encoding", "chunked")
	}
	p.headers(h)
}

// responseHead writes the status line and headers of resp, the headers as
// they were received: courier drops Content-Encoding and Content-Length
// from resp.Header when it decodes the body, and net/http keeps
// Transfer-Encoding out of it.
func (p *printer) responseHead(resp *courier.Response) {
	h := resp.Header
	if x := p.wire.final(); x != nil && x.statusCode == resp.StatusCode {
		h = x.header
	}
	p.statusHead(resp.Proto, resp.Status, resp.StatusCode, h)
}

// statusHead writes a status line and headers.
func (p *printer) statusHead(proto, status string, code int, h http.Header) {
	fmt.Fprintf(p.w, "%s %s\n", p.paint(colorDim, proto), p.paint(statusColor(code)+colorBold, status))
	p.headers(h)
}

// history writes the exchanges that led to the final one (--all): the
// redirects followed, the auth challenges answered, the responses retried;
// each request and response as --history-print asks (H, B, h, b, m).
// Attempts that got no response are left out (--trace tells of them).
func (p *printer) history(wire *received, parts string) {
	for _, x := range wire.history() {
		printRequest(p, x.req, parts)
		p.intermediary(&x, parts)
	}
}

// intermediary writes what parts asks of an intermediary response (h, b,
// m), each part followed by a blank line.
func (p *printer) intermediary(x *wireExchange, parts string) {
	if strings.Contains(parts, "h") {
		p.statusHead(x.proto, x.status, x.statusCode, x.header)
		fmt.Fprintln(p.w)
	}
	if strings.Contains(parts, "b") && len(x.body) > 0 {
		if shown := p.bodyBytes(x.shownBody(), x.header.Get("Content-Type"), false); !bytes.HasSuffix(shown, []byte("\n")) {
			io.WriteString(p.w, "\n")
		}
		if x.truncated {
			fmt.Fprintln(p.w, p.paint(colorDim, fmt.Sprintf("(body cut at %s)", size(maxKeptBody))))
		}
		fmt.Fprintln(p.w)
	}
	if strings.Contains(parts, "m") {
		fmt.Fprintf(p.w, "%s %.6fs\n\n", p.paint(colorDim, "Elapsed time:"), x.elapsed.Seconds())
	}
}

// headers writes h sorted by name, sensitive values redacted unless
// --show-secrets.
func (p *printer) headers(h http.Header) {
	if !p.secrets {
		h = redact.Header(h)
	}
	for _, k := range slices.Sorted(maps.Keys(h)) {
		for _, v := range h[k] {
			p.headerLine(k, v)
		}
	}
}

func (p *printer) headerLine(k, v string) {
	fmt.Fprintf(p.w, "%s: %s\n", p.paint(colorBlue, k), v)
}

// requestBody writes the body of req, when it can be read again without
// consuming it (courier keeps every body it can resend that way).
func (p *printer) requestBody(req *http.Request) {
	if req.Body == nil || req.Body == http.NoBody {
		return
	}
	if req.GetBody == nil {
		fmt.Fprintln(p.w, p.paint(colorDim, "(streamed body, not shown)"))
		return
	}
	rc, err := req.GetBody()
	if err != nil {
		return
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxBufferedBody))
	if err != nil {
		return
	}
	if shown := p.bodyBytes(data, req.Header.Get("Content-Type"), !p.secrets); !bytes.HasSuffix(shown, []byte("\n")) {
		io.WriteString(p.w, "\n")
	}
}

// bodyBytes writes a whole body: a JSON one formatted and colored as asked,
// a binary one on a terminal replaced by a note, secrets masked when
// redacting (request bodies only: a response is shown as it came). It
// returns what it wrote.
func (p *printer) bodyBytes(data []byte, contentType string, redacting bool) []byte {
	if len(data) == 0 {
		return nil
	}
	if p.tty && isBinary(data) {
		return p.binaryNote()
	}
	if redacting {
		data = []byte(redact.Body(string(data)))
	}
	if (p.format || p.colors) && isJSON(contentType, data) {
		if p.format {
			data = formatJSON(data)
		}
		if p.colors {
			data = colorJSON(data)
		}
	}
	p.w.Write(data)
	if p.tty && !bytes.HasSuffix(data, []byte("\n")) {
		io.WriteString(p.w, "\n")
		return append(data, '\n')
	}
	return data
}

// binaryNote says a binary body was not shown, as HTTPie does.
func (p *printer) binaryNote() []byte {
	note := p.paint(colorDim, "+-----------------------------------------+\n| NOTE: binary data not shown in terminal |\n+-----------------------------------------+") + "\n"
	io.WriteString(p.w, note)
	return []byte(note)
}

// responseBody writes a streamed response body. Plain output (piped, or
// --pretty none) is copied as it arrives, so a large body never sits in
// memory; formatted output reads the body whole first.
func (p *printer) responseBody(body io.Reader, contentType string) error {
	if !p.format && !p.colors && !p.tty {
		_, err := io.Copy(p.w, body)
		return err
	}
	// On a terminal, look at the start first: binary data is not shown,
	// and a long text body is copied as it comes.
	head := make([]byte, 64<<10)
	n, err := io.ReadFull(body, head)
	head = head[:n]
	switch err {
	case nil: // more to come
		if isBinary(head) {
			p.binaryNote()
			_, err := io.Copy(io.Discard, body)
			return err
		}
		if !isJSON(contentType, head) && !strings.Contains(contentType, "json") {
			p.w.Write(head)
			_, err := io.Copy(p.w, body)
			return err
		}
		rest, err := io.ReadAll(body)
		if err != nil {
			return err
		}
		p.bodyBytes(append(head, rest...), contentType, false)
		return nil
	case io.EOF, io.ErrUnexpectedEOF:
		p.bodyBytes(head, contentType, false)
		return nil
	default:
		return err
	}
}
