package courier

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A cache entry is what a CacheStore holds under one key (a URL for one
// identity): the responses stored for it, one per variant its Vary header
// selects, newest first. It is encoded as a magic string, the length of a
// JSON header, the header (the responses without their bodies), and the
// bodies one after another.

const (
	entryMagic = "courier-cache/1\n"
	// maxVariants bounds the responses kept under one key.
	maxVariants = 4
)

// cachedResponse is one stored response.
type cachedResponse struct {
	Status int         `json:"status"`
	Proto  string      `json:"proto"`
	Header http.Header `json:"header"`
	// Selected holds the request's values of the headers the response's
	// Vary names (and Accept-Encoding, which always selects): a request
	// matches when its values are the same.
	Selected  map[string]string `json:"selected,omitempty"`
	Requested time.Time         `json:"requested"`
	Responded time.Time         `json:"responded"`
	BodyLen   int               `json:"body_len"`
	Body      []byte            `json:"-"`
}

type cacheEntry struct {
	Responses []*cachedResponse `json:"responses"`
}

func (e *cacheEntry) encode() ([]byte, error) {
	meta, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	n := len(entryMagic) + 4 + len(meta)
	for _, r := range e.Responses {
		n += len(r.Body)
	}
	out := make([]byte, 0, n)
	out = append(out, entryMagic...)
	out = binary.BigEndian.AppendUint32(out, uint32(len(meta)))
	out = append(out, meta...)
	for _, r := range e.Responses {
		out = append(out, r.Body...)
	}
	return out, nil
}

var errBadEntry = errors.New("courier: cache entry does not decode")

func decodeEntry(b []byte) (*cacheEntry, error) {
	rest, ok := bytes.CutPrefix(b, []byte(entryMagic))
	if !ok || len(rest) < 4 {
		return nil, errBadEntry
	}
	n := binary.BigEndian.Uint32(rest)
	rest = rest[4:]
	if uint64(n) > uint64(len(rest)) {
		return nil, errBadEntry
	}
	var e cacheEntry
	if err := json.Unmarshal(rest[:n], &e); err != nil {
		return nil, errBadEntry
	}
	rest = rest[n:]
	for _, r := range e.Responses {
		if r == nil || r.BodyLen < 0 || r.BodyLen > len(rest) {
			return nil, errBadEntry
		}
		r.Body, rest = rest[:r.BodyLen:r.BodyLen], rest[r.BodyLen:]
	}
	return &e, nil
}

// varyNames returns the request headers a response's Vary selects on
// (canonical names, sorted), Accept-Encoding always among them, and
// whether it is "*", which matches no later request.
func varyNames(h http.Header) (names []string, star bool) {
	names = []string{"Accept-Encoding"}
	for _, line := range h.Values("Vary") {
		for f := range strings.SplitSeq(line, ",") {
			f = strings.TrimSpace(f)
			switch {
			case f == "*":
				return nil, true
			case f != "":
				names = append(names, textproto.CanonicalMIMEHeaderKey(f))
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names), false
}

// selected returns req's values of names, each header's field lines
// joined as one list.
func selected(req *http.Request, names []string) map[string]string {
	m := make(map[string]string, len(names))
	for _, n := range names {
		vs := req.Header.Values(n)
		if len(vs) == 0 {
			m[n] = "\x00" // absent: matches only absent (§4.1)
			continue
		}
		parts := make([]string, 0, len(vs))
		for _, v := range vs {
			for p := range strings.SplitSeq(v, ",") {
				if p = strings.TrimSpace(p); p != "" {
					parts = append(parts, p)
				}
			}
		}
		m[n] = strings.Join(parts, ", ")
	}
	return m
}

// matches reports whether req selects r.
func (r *cachedResponse) matches(req *http.Request) bool {
	for n, want := range r.Selected {
		if got := selected(req, []string{n})[n]; got != want {
			return false
		}
	}
	return true
}

// response makes an *http.Response of r for req, with an Age header of
// age.
func (r *cachedResponse) response(req *http.Request, age time.Duration) *http.Response {
	h := r.Header.Clone()
	h.Set("Age", formatSeconds(age))
	var body io.ReadCloser = http.NoBody
	if len(r.Body) > 0 || req.Method != http.MethodHead && r.Status != http.StatusNoContent && r.Status != http.StatusNotModified {
		body = io.NopCloser(bytes.NewReader(r.Body))
	}
	return &http.Response{
		Status: statusLine(r.Status), StatusCode: r.Status, Proto: r.Proto,
		ProtoMajor: 1, ProtoMinor: 1, Header: h, Body: body,
		ContentLength: int64(len(r.Body)), Request: req,
	}
}

func statusLine(code int) string {
	if t := http.StatusText(code); t != "" {
		return strconv.Itoa(code) + " " + t
	}
	return strconv.Itoa(code)
}

func formatSeconds(d time.Duration) string {
	return strconv.FormatInt(int64(max(d, 0)/time.Second), 10)
}

// storedHeader is the header a response is stored with: without the
// hop-by-hop fields (and those Connection names), and without Set-Cookie,
// which the jar took when the response came and which must not be set
// again by a copy. Its Age stays: it is the age the response came with
// (§4.2.3), and a copy served gets its own.
func storedHeader(h http.Header) http.Header {
	out := h.Clone()
	for _, line := range h.Values("Connection") {
		for f := range strings.SplitSeq(line, ",") {
			out.Del(strings.TrimSpace(f))
		}
	}
	for _, k := range []string{"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization",
		"Te", "Trailer", "Transfer-Encoding", "Upgrade", "Set-Cookie"} {
		out.Del(k)
	}
	return out
}

// freshened returns a copy of r with the header of a 304 that validated
// it (§3.2, §4.3.4): every field but the framing ones replaces the stored
// one; and the times of the exchange that got it. r is shared by the
// requests that read it, and is not changed.
func (r *cachedResponse) freshened(notModified http.Header, requested, responded time.Time) *cachedResponse {
	c := *r
	c.Header = r.Header.Clone()
	for k, v := range storedHeader(notModified) {
		switch k {
		case "Content-Length", "Content-Encoding", "Content-Range":
			continue
		}
		c.Header[k] = v
	}
	c.Requested, c.Responded = requested, responded
	return &c
}
