package download_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/download"
)

// Download a file whose first response is cut half-way: the download
// resumes with Range and If-Range, and the whole file is checked against
// the caller's SHA-256 and the server's Repr-Digest before it is renamed
// into place.
func ExampleFile() {
	data := bytes.Repeat([]byte("courier "), 1<<16) // 512 KiB
	sum := sha256.Sum256(data)
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Repr-Digest", "sha-256=:"+base64.StdEncoding.EncodeToString(sum[:])+":")
		if requests.Add(1) == 1 {
			// The first response breaks after half the file.
			w.Header().Set("Content-Length", strconv.Itoa(len(data)))
			w.Write(data[:len(data)/2])
			http.NewResponseController(w).Flush()
			panic(http.ErrAbortHandler)
		}
		http.ServeContent(w, r, "file", time.Time{}, bytes.NewReader(data))
	}))
	defer srv.Close()

	ctx := context.Background()
	s, _ := courier.New(courier.WithBaseURL(srv.URL))
	defer s.Close(ctx)
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)

	path := filepath.Join(dir, "file.bin")
	res, err := download.File(ctx, s, "/file", path, download.SHA256(hex.EncodeToString(sum[:])))
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Printf("%d bytes in %d requests, resumed: %v\n", res.Size, res.Requests, res.Resumed)
	for _, d := range res.Verified {
		fmt.Printf("verified %s from %s\n", d.Algorithm, d.Source)
	}
	_, err = os.Stat(path + ".part")
	fmt.Println(".part left:", err == nil)
	// Output:
	// 524288 bytes in 2 requests, resumed: true
	// verified sha-256 from caller
	// verified sha-256 from Repr-Digest
	// .part left: false
}
