package download

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strings"
)

// stateVersion is the version of the sidecar's format; a sidecar of
// another version is not used.
const stateVersion = 1

// state is what the sidecar (path + ".part.json") holds about the .part
// file beside it: the response it began with. A .part is resumed only when
// its sidecar names the same URL and a validator for If-Range.
type state struct {
	Version int    `json:"version"`
	URL     string `json:"url"`
	// ETag is the first response's strong ETag, or "".
	ETag string `json:"etag,omitempty"`
	// LastModified is its Last-Modified, kept when it had no strong ETag.
	LastModified string `json:"last_modified,omitempty"`
	// Total is the whole file's length, or -1 when unknown.
	Total int64 `json:"total"`
	// ReprDigest and ContentDigest are the first response's fields, as
	// sent; ContentDigest only when that response was a full 200.
	ReprDigest    string `json:"repr_digest,omitempty"`
	ContentDigest string `json:"content_digest,omitempty"`
}

// validator is what the If-Range of a resume sends: the strong ETag, else
// Last-Modified, else "" (the .part cannot be resumed).
func (st *state) validator() string {
	if st.ETag != "" {
		return st.ETag
	}
	return st.LastModified
}

// digests returns the digests the state holds.
func (st *state) digests() []Digest {
	h := http.Header{}
	if st.ReprDigest != "" {
		h.Set(SourceReprDigest, st.ReprDigest)
	}
	if st.ContentDigest != "" {
		h.Set(SourceContentDigest, st.ContentDigest)
	}
	return append(headerDigests(h, SourceReprDigest), headerDigests(h, SourceContentDigest)...)
}

// newState describes a response that begins a file at offset 0: full is
// whether it carries the whole file (a 200), total its length or -1.
func newState(url string, h http.Header, full bool, total int64) *state {
	st := &state{Version: stateVersion, URL: url, Total: total, ReprDigest: strings.Join(h.Values(SourceReprDigest), ", ")}
	if full {
		st.ContentDigest = strings.Join(h.Values(SourceContentDigest), ", ")
	}
	if etag := h.Get("ETag"); strongETag(etag) {
		st.ETag = etag
	} else {
		st.LastModified = h.Get("Last-Modified")
	}
	return st
}

// strongETag reports whether etag is a strong entity tag, "...": only a
// strong one may go in If-Range (RFC 9110, 13.1.5).
func strongETag(etag string) bool {
	return len(etag) >= 2 && etag[0] == '"' && etag[len(etag)-1] == '"'
}

// loadState reads the sidecar at name; it returns nil when there is none
// or it cannot be used.
func loadState(name, url string) *state {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil
	}
	var st state
	if json.Unmarshal(data, &st) != nil || st.Version != stateVersion || st.URL != url || st.validator() == "" {
		return nil
	}
	return &st
}

// saveState writes st to the sidecar at name, mode 0600, through a
// temporary file and a rename, so that a sidecar is whole or absent.
func saveState(name string, st *state) error {
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, name); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// removeState removes the sidecar at name; one that is not there is no
// error.
func removeState(name string) error {
	if err := os.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
