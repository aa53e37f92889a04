// Package slots carries a concurrency gate from package fanout, in the
// context it gives each item's function, to courier's request path, which
// asks it for a slot before a request goes out: the limits per host and per
// route are applied where the URL is known.
package slots

import (
	"context"
	"net/url"
)

// Gate holds requests back until they may go.
type Gate interface {
	// Acquire waits, within ctx, for a slot for a request to u, and
	// returns the function that gives it back (called once, when the
	// request is done with, its body included). An error means the
	// request got no slot: ctx ended first.
	Acquire(ctx context.Context, u *url.URL) (release func(), err error)
}

type key struct{}

// With returns ctx carrying g.
func With(ctx context.Context, g Gate) context.Context {
	return context.WithValue(ctx, key{}, g)
}

// From returns the gate ctx carries, or nil.
func From(ctx context.Context) Gate {
	g, _ := ctx.Value(key{}).(Gate)
	return g
}
