module github.com/courierhttp/courier

go 1.25.0

require (
	github.com/creack/pty v1.1.24
	github.com/mccutchen/go-httpbin/v2 v2.25.0
	go.uber.org/goleak v1.3.0
	golang.org/x/net v0.58.0
	golang.org/x/oauth2 v0.36.0
	golang.org/x/term v0.45.0
	golang.org/x/time v0.15.0
)

require (
	golang.org/x/sys v0.47.0 // indirect
	golang.org/x/text v0.41.0 // indirect
)
