package main

import (
	"context"

	"github.com/courierhttp/courier/cmd/courier/internal/demo"
)

// runDemo runs "courier demo": the library's tour against an API it starts
// on loopback.
func runDemo(ctx context.Context, argv []string, sio stdio) int {
	if len(argv) > 0 {
		return fail(sio, usagef("courier demo takes no arguments"))
	}
	if err := demo.Run(ctx, sio.Out, demo.Options{Color: sio.OutTTY}); err != nil {
		return fail(sio, err)
	}
	return exitOK
}
