package courier_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/internal/testenv"
)

// Trailers a server sends after the body are on the Response once the body
// is read: at once when courier buffered it, after the last read of a
// streamed one; declared or not, over HTTP/1.1 and HTTP/2.
func TestTrailers(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T, m testenv.Mode) {
		ts := testenv.NewServer(t, m, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Trailer", "X-Checksum")
			io.WriteString(w, "payload")
			w.(http.Flusher).Flush()
			w.Header().Set("X-Checksum", "sha256=abc")
			w.Header().Set(http.TrailerPrefix+"X-Undeclared", "late")
		}))
		s := ts.Session(t)
		resp, err := s.Get(t.Context(), "/")
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Trailer().Get("X-Checksum"); got != "sha256=abc" {
			t.Errorf("buffered: Trailer X-Checksum = %q, want sha256=abc", got)
		}
		if got := resp.Trailer().Get("X-Undeclared"); got != "late" {
			t.Errorf("buffered: Trailer X-Undeclared = %q, want late", got)
		}

		resp, err = s.Get(t.Context(), "/", courier.Stream())
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body())
		resp.Close()
		if err != nil || string(body) != "payload" {
			t.Fatalf("stream = %q, %v", body, err)
		}
		if got := resp.Trailer().Get("X-Checksum"); got != "sha256=abc" {
			t.Errorf("streamed: Trailer X-Checksum = %q, want sha256=abc", got)
		}
		if got := resp.Trailer().Get("X-Undeclared"); got != "late" {
			t.Errorf("streamed: Trailer X-Undeclared = %q, want late", got)
		}
	})
}
