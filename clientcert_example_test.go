package courier_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/courierhttp/courier"
)

// A session that presents a client certificate (mutual TLS) from files
// renewed on disk, and verifies servers against a CA file renewed likewise.
func ExampleWithClientCertFiles() {
	// An API that requires a client certificate, and the client's files:
	// in a deployment cert-manager, a Vault agent or a cron job keeps them
	// fresh, renaming new files into place.
	api, certFile, keyFile, caFile, done := mtlsExampleAPI()
	defer done()
	ctx := context.Background()

	// The files are read now; renewed files are read again, at most once
	// a second, for new connections.
	s, err := courier.New(
		courier.WithBaseURL(api),
		courier.WithClientCertFiles(certFile, keyFile, caFile),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close(ctx)

	resp, err := s.Get(ctx, "/")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(resp.Bytes()))

	// A file that cannot be used fails New, and the error names it.
	_, err = courier.New(courier.WithClientCertFiles(certFile, "missing.key", caFile))
	var pe *fs.PathError
	if errors.As(err, &pe) {
		fmt.Println("cannot use", pe.Path)
	}
	// Output:
	// hello, client-1
	// cannot use missing.key
}
