package courier

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// The connection gate keeps a burst of requests from opening a connection
// each when one would carry them all.
//
// net/http dials a connection for every request that finds none idle. To
// an HTTP/2 server that is a storm: a cold burst of 1,000 requests opened
// over 2,000 TLS connections to use a few, and every GOAWAY started
// another. The gate coalesces the dials courier makes to one https
// address while it may speak HTTP/2 (before the first handshake says, and
// after it said h2): one dial goes, and the others wait for it. When it
// lands on h2, each waiting dial fails with errDialCoalesced, which the
// transport's wrapper (gatedTransport) answers by sending its request again,
// on the new connection: nothing of it was sent. When it lands on
// HTTP/1.1, the address is remembered as such and dials run freely, a
// connection per request as HTTP/1.1 needs. When it fails, the waiting
// dials fail with it: the address is down for all of them alike.
//
// An address's entry lives while it has connections, so the gate holds no
// more state than the pool.
type connGate struct {
	mu    sync.Mutex
	addrs map[string]*gateEntry
	// unsettled counts the entries whose newest HTTP/2 connection has
	// not carried a response yet; while it is 0, a response costs the
	// gate nothing.
	unsettled atomic.Int32
}

// gateEntry is what the gate knows of one address.
type gateEntry struct {
	proto  string      // "h2", "http/1.1", or "" before the first handshake
	flight *dialFlight // the dial the others wait for, or nil
	conns  int         // connections open
	// dialing counts the dials in progress outside a flight.
	dialing int
	// active counts the requests to the address in flight through
	// gatedTransport, from RoundTrip until their bodies are done with.
	active int
	// settled is closed once a response came after the newest HTTP/2
	// connection was made, nil while none was made. Until then the
	// connection may not have the server's SETTINGS yet, and net/http
	// counts it full at 100 streams: a dial then waits, and tries the
	// connection again, rather than open another one it may not need.
	settled chan struct{}
	// newest names the newest HTTP/2 connection, until settled: keying
	// material exported from its TLS session, which no other connection
	// shares and every response over it carries (Response.TLS). Empty
	// when the session cannot export it (TLS 1.2 without extended master
	// secret).
	newest []byte
	// heard is closed when the newest HTTP/2 connection first read
	// something after its handshake: the server's SETTINGS come first.
	heard chan struct{}
	// settledAt is when the newest HTTP/2 connection was settled.
	settledAt time.Time
}

// dialFlight is a dial in progress that other dials wait for.
type dialFlight struct {
	done  chan struct{}
	proto string // when done: the protocol it negotiated
	err   error  // when done: why it failed
}

// errDialCoalesced: a dial was folded into another one to the same
// address, which made an HTTP/2 connection the request can use. The
// request was not sent; gatedTransport sends it again.
var errDialCoalesced = errors.New("courier: dial coalesced into another")

// maxSettle bounds how long a dial waits for the newest HTTP/2 connection
// to carry a response before it goes ahead.
const maxSettle = 500 * time.Millisecond

// heardSettle is how long after a connection first heard from the server
// a dial waits before it tries the connection again: the time for
// net/http's reader to take in the SETTINGS frame.
const heardSettle = 50 * time.Millisecond

// settleGrace is how long after a connection's settling a dial gives way.
const settleGrace = 20 * time.Millisecond

// noCoalesceKey marks a request context whose dials may not be coalesced:
// its body cannot be sent again.
type noCoalesceKey struct{}

func newConnGate() *connGate { return &connGate{addrs: map[string]*gateEntry{}} }

// join returns the flight a dial to addr should wait for, or starts one
// that the caller leads (lead true), or returns neither when the caller
// should dial on its own.
func (g *connGate) join(addr string) (f *dialFlight, lead bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	e := g.addrs[addr]
	if e == nil {
		e = &gateEntry{}
		g.addrs[addr] = e
	}
	switch {
	case e.flight != nil:
		return e.flight, false
	case e.proto == "http/1.1":
		return nil, false
	}
	e.flight = &dialFlight{done: make(chan struct{})}
	return e.flight, true
}

// land ends the flight f of addr with its result, and wakes the dials that
// wait for it.
func (g *connGate) land(addr string, f *dialFlight, conn net.Conn, proto string, err error) {
	g.mu.Lock()
	e := g.addrs[addr]
	e.flight = nil
	if err == nil {
		e.proto = proto
		e.conns++
		if proto == "h2" {
			if e.settled == nil || isClosed(e.settled) {
				e.settled = make(chan struct{})
				g.unsettled.Add(1)
			}
			e.newest = connKey(conn)
			e.heard = hearing(conn)
		}
	}
	g.drop(addr, e)
	g.mu.Unlock()
	f.proto, f.err = proto, err
	close(f.done)
}

// reserve counts a dial to addr about to start outside a flight, or
// refuses it (false) when the address speaks HTTP/1.1 and its connections
// and dials already match the requests in flight to it: the dial would
// race a connection on its way back to the pool (net/http puts one back
// after its body is done with, on a goroutine of its own), and open one
// more than the requests need. plain says the dial is without TLS, so for
// HTTP/1.1.
func (g *connGate) reserve(addr string, plain bool) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	e := g.addrs[addr]
	if e == nil {
		e = &gateEntry{}
		g.addrs[addr] = e
	}
	if plain {
		e.proto = "http/1.1"
	}
	if e.proto == "http/1.1" && e.active > 0 && e.conns+e.dialing >= e.active {
		return false
	}
	e.dialing++
	return true
}

// dialed ends a reserved dial, and counts the connection it made, if any.
func (g *connGate) dialed(addr, proto string, ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	e := g.addrs[addr]
	e.dialing--
	if ok {
		if e.proto == "" {
			e.proto = proto
		}
		e.conns++
	}
	g.drop(addr, e)
}

// force counts a dial that goes whatever reserve said: its request cannot
// be sent again.
func (g *connGate) force(addr string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.addrs[addr].dialing++
}

// closed counts a connection to addr gone.
func (g *connGate) closed(addr string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if e := g.addrs[addr]; e != nil {
		e.conns--
		g.drop(addr, e)
	}
}

// begin counts a request to addr in flight; end, once it is done with.
func (g *connGate) begin(addr string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	e := g.addrs[addr]
	if e == nil {
		e = &gateEntry{}
		g.addrs[addr] = e
	}
	e.active++
}

func (g *connGate) end(addr string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if e := g.addrs[addr]; e != nil {
		e.active--
		g.drop(addr, e)
	}
}

// drop forgets an address with no connection and no dial. g.mu is held.
func (g *connGate) drop(addr string, e *gateEntry) {
	if e.conns <= 0 && e.flight == nil && e.active <= 0 && e.dialing <= 0 {
		g.settle(e)
		delete(g.addrs, addr)
	}
}

// settle marks e's newest connection as having carried a response. g.mu
// is held.
func (g *connGate) settle(e *gateEntry) {
	if e.settled != nil && !isClosed(e.settled) {
		close(e.settled)
		g.unsettled.Add(-1)
		e.settledAt = time.Now()
	}
	e.newest, e.heard = nil, nil
}

// connLabel is the label of the keying material that names a connection.
const connLabel = "EXPORTER-courier-connection-id"

// connKey returns the keying material that names a TLS connection, or nil.
func connKey(conn net.Conn) []byte {
	if tc, ok := conn.(*tls.Conn); ok {
		st := tc.ConnectionState()
		return stateKey(&st)
	}
	return nil
}

func stateKey(st *tls.ConnectionState) []byte {
	if st == nil {
		return nil
	}
	k, err := st.ExportKeyingMaterial(connLabel, nil, 16)
	if err != nil {
		return nil
	}
	return k
}

// responded notes a response from u's host: when it came over the host's
// newest HTTP/2 connection, that connection has the server's settings (a
// server sends them first).
func (g *connGate) responded(u *url.URL, st *tls.ConnectionState) {
	if g.unsettled.Load() == 0 || u.Scheme != "https" {
		return
	}
	key := stateKey(st)
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "443")
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	// Without a name for the connection, a response settles a host of
	// one connection.
	if e := g.addrs[addr]; e != nil && e.settled != nil && (e.newest != nil && bytes.Equal(e.newest, key) || e.conns == 1) {
		g.settle(e)
	}
}

// settleIf settles addr's newest connection, if settled is still its
// channel.
func (g *connGate) settleIf(addr string, settled chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if e := g.addrs[addr]; e != nil && e.settled == settled {
		g.settle(e)
	}
}

// graceFor returns how long a dial to addr should still give way after
// its newest HTTP/2 connection was settled, or 0. A request that found the
// connection full by net/http's count before the settings came may reach
// the dialer after they came: it should try the connection again, not
// open another.
func (g *connGate) graceFor(addr string) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	e := g.addrs[addr]
	if e == nil || e.proto != "h2" || e.settledAt.IsZero() {
		return 0
	}
	return settleGrace - time.Since(e.settledAt)
}

// unsettledFor returns the channels to wait on before dialing addr again
// (settled nil: none): settled, closed when the newest connection carried
// a response, and heard, when it read the server's first frames.
func (g *connGate) unsettledFor(addr string) (settled, heard chan struct{}) {
	if g.unsettled.Load() == 0 {
		return nil, nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if e := g.addrs[addr]; e != nil && e.proto == "h2" && e.settled != nil && !isClosed(e.settled) {
		return e.settled, e.heard
	}
	return nil, nil
}

// hearing arms conn to say when it first reads after its handshake, and
// returns the channel it closes then (nil for a connection courier did not
// dial).
func hearing(conn net.Conn) chan struct{} {
	tc, ok := conn.(*tls.Conn)
	if !ok {
		return nil
	}
	dc, ok := tc.NetConn().(*dialedConn)
	if !ok {
		return nil
	}
	dc.heard = make(chan struct{})
	return dc.heard
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// dialTLS dials addr through the gate: the first dial to an address that
// may speak HTTP/2 goes alone, and the others wait for it.
func (d dialer) dialTLSGated(ctx context.Context, network, addr string) (net.Conn, error) {
	if ctx.Value(noCoalesceKey{}) != nil {
		return d.dialTLSCounted(ctx, network, addr)
	}
	if settled, heard := d.gate.unsettledFor(addr); settled != nil {
		// The newest connection may be full only by net/http's count
		// before the server's settings: try it again once it has them
		// (a response came over it, or a moment after it first heard
		// from the server), or after a while if neither says so.
		t := time.NewTimer(maxSettle)
		defer t.Stop()
		select {
		case <-settled:
			return nil, errDialCoalesced
		case <-heard: // nil: never
			t.Reset(heardSettle)
			select {
			case <-settled:
			case <-t.C:
				// It has the settings by now, whether or not a
				// response came (its only request may have been
				// refused, and the connection gone): settle it, so
				// that the next dial does not wait again.
				d.gate.settleIf(addr, settled)
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			return nil, errDialCoalesced
		case <-t.C:
			d.gate.settleIf(addr, settled)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if wait := d.gate.graceFor(addr); wait > 0 {
		return nil, giveWay(ctx, wait)
	}
	f, lead := d.gate.join(addr)
	switch {
	case lead:
		conn, err := d.dialTLS(ctx, network, addr)
		proto := ""
		if err == nil {
			proto = negotiated(conn)
			d.track(conn, addr)
		}
		d.gate.land(addr, f, conn, proto, err)
		return conn, err
	case f == nil:
		return d.dialTLSCounted(ctx, network, addr)
	}
	select {
	case <-f.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	switch {
	case f.err != nil:
		return nil, f.err
	case f.proto == "h2":
		return nil, errDialCoalesced
	}
	return d.dialTLSCounted(ctx, network, addr)
}

// giveWay gives way, for wait, to a connection on its way back to the
// pool (or to a newly settled one), long enough for net/http to hand it to
// the request that is waiting; then the dial gives up with
// errDialCoalesced. When that request got
// the connection, nobody hears of it; when it did not (the connection was
// closed instead), gatedTransport sends the request again.
func giveWay(ctx context.Context, wait time.Duration) error {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return errDialCoalesced
	case <-ctx.Done():
		return ctx.Err()
	}
}

// admit counts a dial to addr that is about to start, or gives way (and
// returns why not) when the address's HTTP/1.1 connections and dials
// already match its requests in flight. A request whose body cannot be
// sent again never gives way.
func (d dialer) admit(ctx context.Context, addr string, plain bool) error {
	if d.gate.reserve(addr, plain) {
		return nil
	}
	if ctx.Value(noCoalesceKey{}) == nil {
		return giveWay(ctx, yieldFor)
	}
	d.gate.force(addr)
	return nil
}

// yieldFor is how long a dial gives way to a connection coming back.
const yieldFor = 5 * time.Millisecond

// dialPlain makes a connection without TLS (http, or to a proxy), giving
// way to a connection coming back to the pool as dialTLSGated does.
func (d dialer) dialPlain(ctx context.Context, network, addr string) (net.Conn, error) {
	if err := d.admit(ctx, addr, true); err != nil {
		return nil, err
	}
	conn, err := d.dial(ctx, network, addr)
	d.gate.dialed(addr, "http/1.1", err == nil)
	if err != nil {
		return nil, err
	}
	conn.(*dialedConn).onClose = func() { d.gate.closed(addr) }
	return conn, nil
}

// dialTLSCounted dials on its own (giving way to a connection coming back,
// for HTTP/1.1), and counts the connection in the gate.
func (d dialer) dialTLSCounted(ctx context.Context, network, addr string) (net.Conn, error) {
	if err := d.admit(ctx, addr, false); err != nil {
		return nil, err
	}
	conn, err := d.dialTLS(ctx, network, addr)
	proto := ""
	if err == nil {
		proto = negotiated(conn)
	}
	d.gate.dialed(addr, proto, err == nil)
	if err != nil {
		return nil, err
	}
	d.track(conn, addr)
	return conn, nil
}

// track makes the closing of conn count in the gate.
func (d dialer) track(conn net.Conn, addr string) {
	if tc, ok := conn.(*tls.Conn); ok {
		if dc, ok := tc.NetConn().(*dialedConn); ok {
			dc.onClose = func() { d.gate.closed(addr) }
		}
	}
}

// negotiated returns the protocol a TLS connection's handshake chose.
func negotiated(conn net.Conn) string {
	if tc, ok := conn.(*tls.Conn); ok {
		if p := tc.ConnectionState().NegotiatedProtocol; p != "" {
			return p
		}
	}
	return "http/1.1"
}

// gatedTransport sends again a request whose dial was coalesced into
// another one that made an HTTP/2 connection, on that connection.
type gatedTransport struct {
	t    *http.Transport
	gate *connGate
}

// maxCoalesced bounds how many times one request is sent again after its
// dial was coalesced: a server whose every connection is full at once,
// round after round, gets the error rather than an endless loop.
const maxCoalesced = 64

func (g gatedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	addr := dialAddr(req.URL)
	g.gate.begin(addr)
	resp, err := g.roundTrip(req)
	if err != nil || resp.Body == nil || resp.Body == http.NoBody || resp.StatusCode == http.StatusSwitchingProtocols {
		// A 101's body is the connection, handed to the caller as an
		// io.ReadWriteCloser: the request is over, and the body must stay
		// what net/http made it.
		g.gate.end(addr)
		return resp, err
	}
	resp.Body = &gatedBody{ReadCloser: resp.Body, end: func() { g.gate.end(addr) }}
	return resp, nil
}

// dialAddr returns the host:port a request to u dials (without a proxy).
func dialAddr(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	if u.Scheme == "https" {
		return net.JoinHostPort(u.Hostname(), "443")
	}
	return net.JoinHostPort(u.Hostname(), "80")
}

// gatedBody ends the count of its request in flight at EOF or Close,
// whichever comes first.
type gatedBody struct {
	io.ReadCloser
	end  func()
	once sync.Once
}

func (b *gatedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.once.Do(b.end)
	}
	return n, err
}

func (b *gatedBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.end)
	return err
}

func (g gatedTransport) roundTrip(req *http.Request) (*http.Response, error) {
	replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	if !replayable {
		return g.t.RoundTrip(req.WithContext(context.WithValue(req.Context(), noCoalesceKey{}, true)))
	}
	for n := 0; ; n++ {
		resp, err := g.t.RoundTrip(req)
		if err == nil {
			g.gate.responded(req.URL, resp.TLS)
			return resp, nil
		}
		if n == maxCoalesced || !errors.Is(err, errDialCoalesced) {
			return resp, err
		}
		if req.Body != nil && req.Body != http.NoBody {
			// net/http closed the body when the dial failed.
			body, berr := req.GetBody()
			if berr != nil {
				return nil, berr
			}
			req = req.Clone(req.Context())
			req.Body = body
		}
	}
}

// CloseIdleConnections closes the transport's idle connections.
func (g gatedTransport) CloseIdleConnections() { g.t.CloseIdleConnections() }
