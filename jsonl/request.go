package jsonl

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"mime"
	"net/http"
	"strings"

	"github.com/courierhttp/courier"
)

// accept is the Accept header Get and Do send; a [Request] option may
// replace it.
const accept = "application/x-ndjson, application/jsonl, application/json-seq;q=0.9, application/json;q=0.5"

// lineTypes are the media types read as JSON lines, and seqType the one
// read as a JSON text sequence. One table, read by [checkContentType].
var lineTypes = []string{
	"application/x-ndjson",
	"application/ndjson",
	"application/jsonl",
	"application/x-jsonl",
	"application/jsonlines",
	"application/x-jsonlines",
	"application/json",
	"application/stream+json",
	"application/x-json-stream",
}

const seqType = "application/json-seq"

// Get sends a GET request to path through s and yields the values of the
// response body, read as JSON lines (or as a JSON text sequence, for
// application/json-seq or with [Seq]). It is [Do] with the GET method.
//
// Most streaming endpoints are GETs of an export or a feed, so this is the
// call most code makes:
//
//	for ev, err := range jsonl.Get[Event](ctx, s, "/events", jsonl.Request(courier.Query("since", t))) {
func Get[T any](ctx context.Context, s *courier.Session, path string, opts ...Option) iter.Seq2[T, error] {
	return Do[T](ctx, s, http.MethodGet, path, opts...)
}

// Do sends a request with the given method to path through s (resolved
// against the session's base URL, as [courier.Session.Do] does), streamed,
// and yields the values of the response body: for an endpoint that
// streams the answer to a POST.
//
// Each range over the sequence sends the request anew. The request asks
// for JSON lines with an Accept header (a [Request] option may replace
// it), and carries the options of [Request]. The errors, in order: a bad
// option; the session's [*courier.Error] or [*courier.StatusError] (for a
// non-2xx status); [ErrContentType] for a response that is not JSON lines;
// then those of [Values], and the cause of ctx when it ends. The body is
// closed when the sequence ends, on an error, or when the caller breaks
// out of the loop.
func Do[T any](ctx context.Context, s *courier.Session, method, path string, opts ...Option) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		cfg, err := newConfig(opts)
		if err == nil && s == nil {
			err = errors.New("jsonl: nil Session")
		}
		if err != nil {
			yield(zero, err)
			return
		}
		ro := make([]courier.RequestOption, 0, len(cfg.request)+2)
		ro = append(ro, courier.Header("Accept", accept))
		ro = append(append(ro, cfg.request...), courier.Stream())
		resp, err := s.Do(ctx, method, path, ro...)
		if resp != nil {
			defer resp.Close()
		}
		if err != nil {
			yield(zero, err)
			return
		}
		seq, err := checkContentType(resp.Header.Get("Content-Type"))
		if err != nil {
			yield(zero, err)
			return
		}
		d := newDecoder(resp.Body(), cfg.maxLine, seq || cfg.seq)
		d.ctx = ctx
		each(d, yield)
	}
}

// checkContentType reports whether ct is a JSON text sequence, or an error
// if it is no JSON lines type. No Content-Type at all is read as lines.
func checkContentType(ct string) (seq bool, err error) {
	if ct == "" {
		return false, nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false, fmt.Errorf("%w: bad Content-Type %q: %w", ErrContentType, ct, err)
	}
	if mt == seqType {
		return true, nil
	}
	for _, t := range lineTypes {
		if mt == t {
			return false, nil
		}
	}
	if strings.HasSuffix(mt, "+json") {
		return false, nil // a vendor's JSON type, such as application/vnd.api+json
	}
	return false, fmt.Errorf("%w: Content-Type is %q", ErrContentType, mt)
}
