package courier

import (
	"net/http/httptrace"
	"sync/atomic"
	"time"
)

// Timings says where the time of a request went. Every response carries
// them ([Response.Timings]); hooks see them per attempt.
//
// The default timings cost nothing measurable: Connect and TLS are taken in
// courier's own dialer and carried by the connection, FirstByte and Total
// around the exchange, Reused and IdleTime from net/http's connection
// report. [WithDetailedTimings] adds DNS
// (split out of Connect) and RequestWritten, through httptrace hooks that
// cost about ten allocations per request.
type Timings struct {
	// DNS is the host name lookup (detailed timings only; else it is part
	// of Connect).
	DNS time.Duration
	// Connect is making the TCP connection, DNS included unless detailed
	// timings split it out. Zero for a reused connection.
	Connect time.Duration
	// TLS is the TLS handshake. Zero for a reused connection or http.
	TLS time.Duration
	// RequestWritten is from the start of the last attempt until the
	// request was written (detailed timings only).
	RequestWritten time.Duration
	// FirstByte is from the start of the last attempt until its response
	// headers arrived.
	FirstByte time.Duration
	// Total is the whole request: every attempt, wait and redirect, and
	// reading a buffered body.
	Total time.Duration
	// Reused reports whether the last attempt's connection came from the
	// pool, and IdleTime how long it had been idle there.
	Reused   bool
	IdleTime time.Duration
}

// WithDetailedTimings adds DNS and RequestWritten to every response's
// [Timings], at the cost of httptrace hooks on every request.
func WithDetailedTimings(enable bool) Option {
	return sessionOption(func(c *config) error {
		c.detailedTimings = enable
		return nil
	})
}

// clock holds a call's timings as they come in, from the request's goroutine
// and from net/http's dialing goroutines alike.
type clock struct {
	attemptStart atomic.Int64 // UnixNano
	dnsStart     atomic.Int64
	dns          atomic.Int64
	connect      atomic.Int64
	tls          atomic.Int64
	wrote        atomic.Int64
	firstByte    atomic.Int64
	idle         atomic.Int64
}

func (k *clock) since(ns int64) int64 { return time.Now().UnixNano() - ns }

// timings returns the call's timings now.
func (c *call) timings() Timings {
	k := &c.clock
	return Timings{
		DNS:            time.Duration(k.dns.Load()),
		Connect:        time.Duration(k.connect.Load()),
		TLS:            time.Duration(k.tls.Load()),
		RequestWritten: time.Duration(k.wrote.Load()),
		FirstByte:      time.Duration(k.firstByte.Load()),
		Total:          time.Since(c.start),
		Reused:         c.reused.Load(),
		IdleTime:       time.Duration(k.idle.Load()),
	}
}

// detailedTrace adds the hooks of WithDetailedTimings to the call's trace.
func (c *call) detailedTrace() {
	k := &c.clock
	c.trace.DNSStart = func(httptrace.DNSStartInfo) { k.dnsStart.Store(time.Now().UnixNano()) }
	c.trace.DNSDone = func(httptrace.DNSDoneInfo) {
		if s := k.dnsStart.Load(); s != 0 {
			k.dns.Store(k.since(s))
		}
	}
	c.trace.WroteRequest = func(httptrace.WroteRequestInfo) {
		if s := k.attemptStart.Load(); s != 0 {
			k.wrote.Store(k.since(s))
		}
	}
}
