package couriertest

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/courierhttp/courier/internal/redact"
)

// Mode says what a [Recorder] does with each request.
type Mode int

const (
	// ModeReplay answers from the cassette only; a request with no
	// recorded match fails. Nothing touches the network.
	ModeReplay Mode = iota
	// ModeRecord sends every request and writes the cassette anew.
	ModeRecord
	// ModeRecordMissing replays what the cassette has, and sends and
	// records what it lacks.
	ModeRecordMissing
	// ModePassthrough sends every request and records nothing.
	ModePassthrough
)

// String returns the mode's name: "replay", "record", "record-missing" or
// "passthrough".
func (m Mode) String() string {
	switch m {
	case ModeRecord:
		return "record"
	case ModeRecordMissing:
		return "record-missing"
	case ModePassthrough:
		return "passthrough"
	}
	return "replay"
}

// RecordedRequest is a request as the cassette holds it, redacted.
type RecordedRequest struct {
	Method string      `json:"method"`
	URL    string      `json:"url"`
	Header http.Header `json:"header,omitempty"`
	Body   string      `json:"body,omitempty"`
	// BodyEncoding is "base64" for a body that is not UTF-8 text.
	BodyEncoding string `json:"body_encoding,omitempty"`
}

// RecordedResponse is a response as the cassette holds it, redacted.
type RecordedResponse struct {
	Status       int         `json:"status"`
	Header       http.Header `json:"header,omitempty"`
	Body         string      `json:"body,omitempty"`
	BodyEncoding string      `json:"body_encoding,omitempty"`
}

// Interaction is one recorded exchange.
type Interaction struct {
	Request  RecordedRequest  `json:"request"`
	Response RecordedResponse `json:"response"`
}

// cassette is the file format: versioned JSON, indented, so that a diff
// of testdata reads well.
type cassette struct {
	Version      int           `json:"version"`
	Interactions []Interaction `json:"interactions"`
}

const cassetteVersion = 1

// MatchFunc decides whether a request is the one a recorded request
// stands for. The default compares the method and the redacted URL.
type MatchFunc func(req *http.Request, body []byte, recorded RecordedRequest) bool

// DefaultMatch compares the method and the URL, both as recorded (that is,
// redacted: a secret that changed between runs still matches).
func DefaultMatch(req *http.Request, _ []byte, recorded RecordedRequest) bool {
	return req.Method == recorded.Method && redact.URL(req.URL) == recorded.URL
}

// MatchBody is a MatchFunc that also compares the (redacted) request body.
func MatchBody(req *http.Request, body []byte, recorded RecordedRequest) bool {
	if !DefaultMatch(req, body, recorded) {
		return false
	}
	text, _ := encodeBody(redactBody(req.Header.Get("Content-Type"), body))
	return text == recorded.Body
}

// A RecordOption configures a Recorder. Options apply in order; the last
// one for a setting wins. Only this package defines options.
type RecordOption interface {
	apply(*Recorder) error
}

type recordOption func(*Recorder) error

func (f recordOption) apply(r *Recorder) error { return f(r) }

// WithRealTransport sets the transport that record and passthrough modes
// send through (default: a fresh clone of http.DefaultTransport, closed
// on cleanup).
func WithRealTransport(rt http.RoundTripper) RecordOption {
	return recordOption(func(r *Recorder) error {
		if rt == nil {
			return errors.New("WithRealTransport: nil transport")
		}
		r.real = rt
		return nil
	})
}

// WithMatch sets how a request finds its recorded match.
func WithMatch(m MatchFunc) RecordOption {
	return recordOption(func(r *Recorder) error {
		if m == nil {
			return errors.New("WithMatch: nil MatchFunc")
		}
		r.match = m
		return nil
	})
}

// WithRedactedHeaders names more headers to redact, besides Authorization,
// Cookie, Set-Cookie, X-Api-Key and the like.
func WithRedactedHeaders(names ...string) RecordOption {
	return recordOption(func(r *Recorder) error {
		r.extraSecrets = append(r.extraSecrets, names...)
		return nil
	})
}

// Recorder is a transport that records real exchanges to a cassette file
// and replays them offline. Give it to a session with
// courier.WithTransport(rec): it then sits below courier's retries and
// redirects, and records each attempt as it went over the wire.
//
// Secrets are redacted before anything is written: the URL's userinfo and
// token-like query values, sensitive headers, and secret fields of JSON and
// form bodies. A compressed response is stored decoded, so the cassette
// stays readable. The cassette is written when the test ends, atomically.
//
// In replay, each request takes the first recorded match not yet used; when
// all its matches are used, the last one answers again (polling works).
type Recorder struct {
	t            TB
	path         string
	mode         Mode
	real         http.RoundTripper
	ownReal      *http.Transport
	match        MatchFunc
	extraSecrets []string

	mu      sync.Mutex
	tape    []Interaction
	used    []bool
	changed bool
}

var _ http.RoundTripper = (*Recorder)(nil)

// NewRecorder returns a recorder for the cassette at path (conventionally
// under testdata/). In ModeReplay and ModeRecordMissing the cassette is
// loaded now; a missing one fails the test in ModeReplay.
func NewRecorder(t TB, path string, mode Mode, opts ...RecordOption) *Recorder {
	t.Helper()
	r := &Recorder{t: t, path: path, mode: mode, match: DefaultMatch}
	for _, o := range opts {
		if o == nil {
			t.Fatalf("couriertest: NewRecorder: nil RecordOption")
		}
		if err := o.apply(r); err != nil {
			t.Fatalf("couriertest: NewRecorder: %v", err)
		}
	}
	if r.real == nil {
		r.ownReal = http.DefaultTransport.(*http.Transport).Clone()
		r.real = r.ownReal
	}
	if mode == ModeReplay || mode == ModeRecordMissing {
		tape, err := loadCassette(path)
		switch {
		case errors.Is(err, os.ErrNotExist) && mode == ModeRecordMissing:
		case err != nil:
			t.Fatalf("couriertest: cassette %s: %v", path, err)
		default:
			r.tape = tape
		}
		r.used = make([]bool, len(r.tape))
	}
	t.Cleanup(r.finish)
	return r
}

// Interactions returns what the cassette holds now.
func (r *Recorder) Interactions() []Interaction {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Interaction(nil), r.tape...)
}

// RoundTrip answers req from the cassette or the network, as the mode says.
func (r *Recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	body, err := readRequestBody(req)
	if err != nil {
		return nil, err
	}
	if r.mode == ModeReplay || r.mode == ModeRecordMissing {
		if resp, ok := r.replay(req, body); ok {
			return resp, nil
		}
		if r.mode == ModeReplay {
			err := fmt.Errorf("couriertest: no recorded response for %s %s in %s", req.Method, redact.URL(req.URL), r.path)
			r.t.Errorf("%v", err)
			return nil, err
		}
	}
	resp, err := r.real.RoundTrip(req)
	if err != nil || r.mode == ModePassthrough {
		return resp, err
	}
	data, err := readDecoded(resp)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.tape = append(r.tape, r.interaction(req, body, resp, data))
	r.used = append(r.used, true)
	r.changed = true
	r.mu.Unlock()
	resp.Body = io.NopCloser(bytes.NewReader(data))
	resp.ContentLength = int64(len(data))
	return resp, nil
}

func (r *Recorder) replay(req *http.Request, body []byte) (*http.Response, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	last := -1
	for i, in := range r.tape {
		if !r.match(req, body, in.Request) {
			continue
		}
		last = i
		if !r.used[i] {
			r.used[i] = true
			return responseFrom(req, in.Response), true
		}
	}
	if last >= 0 {
		return responseFrom(req, r.tape[last].Response), true
	}
	return nil, false
}

func (r *Recorder) interaction(req *http.Request, body []byte, resp *http.Response, data []byte) Interaction {
	reqBody, reqEnc := encodeBody(redactBody(req.Header.Get("Content-Type"), body))
	respBody, respEnc := encodeBody(redactBody(resp.Header.Get("Content-Type"), data))
	return Interaction{
		Request: RecordedRequest{
			Method: req.Method, URL: redact.URL(req.URL),
			Header: redact.Header(req.Header, r.extraSecrets...),
			Body:   reqBody, BodyEncoding: reqEnc,
		},
		Response: RecordedResponse{
			Status: resp.StatusCode, Header: redact.Header(resp.Header, r.extraSecrets...),
			Body: respBody, BodyEncoding: respEnc,
		},
	}
}

// finish writes the cassette, when there is something new, and releases
// the recorder's own transport.
func (r *Recorder) finish() {
	if r.ownReal != nil {
		r.ownReal.CloseIdleConnections()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.changed || r.mode == ModeReplay || r.mode == ModePassthrough {
		return
	}
	if err := saveCassette(r.path, r.tape); err != nil {
		r.t.Errorf("couriertest: write cassette %s: %v", r.path, err)
	}
}

func loadCassette(path string) ([]Interaction, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var c cassette
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("not a cassette: %w", err)
	}
	if c.Version != cassetteVersion {
		return nil, fmt.Errorf("cassette version %d, want %d", c.Version, cassetteVersion)
	}
	return c.Interactions, nil
}

// saveCassette writes through a temporary file and a rename, so that a
// test killed mid-write never leaves a torn cassette.
func saveCassette(path string, tape []Interaction) error {
	data, err := json.MarshalIndent(cassette{Version: cassetteVersion, Interactions: tape}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".cassette-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func readRequestBody(req *http.Request) ([]byte, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return nil, nil
	}
	if req.GetBody != nil {
		rc, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		return io.ReadAll(rc)
	}
	data, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return nil, err
	}
	req.Body = io.NopCloser(bytes.NewReader(data))
	return data, nil
}

// readDecoded reads a response body, decoding gzip or deflate so that the
// cassette holds readable text; it then drops Content-Encoding.
func readDecoded(resp *http.Response) ([]byte, error) {
	defer resp.Body.Close()
	var rd io.Reader = resp.Body
	switch strings.ToLower(strings.TrimSpace(resp.Header.Get("Content-Encoding"))) {
	case "gzip", "x-gzip":
		gz, err := gzip.NewReader(resp.Body)
		if err != nil {
			return nil, err
		}
		rd = gz
	case "deflate":
		rd = flate.NewReader(resp.Body)
	case "", "identity":
	default:
		return io.ReadAll(rd) // kept as it came; stored as base64 if binary
	}
	data, err := io.ReadAll(rd)
	if err != nil {
		return nil, err
	}
	if resp.Header.Get("Content-Encoding") != "" {
		resp.Header.Del("Content-Encoding")
		resp.Header.Del("Content-Length")
	}
	return data, nil
}

func responseFrom(req *http.Request, rr RecordedResponse) *http.Response {
	body := decodeBody(rr.Body, rr.BodyEncoding)
	h := rr.Header.Clone()
	if h == nil {
		h = http.Header{}
	}
	return &http.Response{
		StatusCode: rr.Status, Status: strconv.Itoa(rr.Status) + " " + http.StatusText(rr.Status),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)),
		Request: req,
	}
}

func encodeBody(b []byte) (string, string) {
	if utf8.Valid(b) {
		return string(b), ""
	}
	return base64.StdEncoding.EncodeToString(b), "base64"
}

func decodeBody(s, enc string) []byte {
	if enc == "base64" {
		b, _ := base64.StdEncoding.DecodeString(s)
		return b
	}
	return []byte(s)
}

// redactBody masks secret fields of a JSON or form body; other bodies are
// kept as they are.
func redactBody(contentType string, body []byte) []byte {
	ct := strings.ToLower(contentType)
	switch {
	case len(body) == 0:
		return body
	case strings.Contains(ct, "json") || json.Valid(body) && (body[0] == '{' || body[0] == '['):
		var v any
		if json.Unmarshal(body, &v) != nil {
			return body
		}
		out, err := json.Marshal(maskJSON(v))
		if err != nil {
			return body
		}
		return out
	case strings.HasPrefix(ct, "application/x-www-form-urlencoded"):
		vals, err := url.ParseQuery(string(body))
		if err != nil {
			return body
		}
		for k, vs := range vals {
			if redact.IsSecretKey(k) {
				for i := range vs {
					vs[i] = redact.Mask
				}
			}
		}
		return []byte(vals.Encode())
	case strings.HasPrefix(ct, "text/") || ct == "" && utf8.Valid(body):
		// A page can quote a URL with its secrets (a redirect's "Found"
		// page does).
		return []byte(redact.Text(string(body)))
	}
	return body
}

func maskJSON(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if redact.IsSecretKey(k) {
				if _, nested := val.(map[string]any); !nested {
					x[k] = redact.Mask
					continue
				}
			}
			x[k] = maskJSON(val)
		}
	case []any:
		for i := range x {
			x[i] = maskJSON(x[i])
		}
	}
	return v
}
