package courier

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// newTransport builds the session's tuned transport, layer 4 of the path.
//
// courier dials TLS itself (DialTLSContext) for direct https connections, so
// that a failed handshake is known to be one by where it happened and not by
// the text of its error: crypto/tls reports, for example, a server that
// offers only TLS 1.0 with a plain formatted error. The standard transport
// still runs the handshake for https through a CONNECT proxy; those failures
// are classified by their types.
//
// Its dialer counts the connections it opens in stats, and each connection
// carries its own dial and handshake times (dialedConn), which the call
// that gets it reads from httptrace's GotConn: nothing of a request travels
// down to the dialer.
func newTransport(c *config, stats *counters) http.RoundTripper {
	d := dialer{
		gate:  newConnGate(),
		net:   &net.Dialer{Timeout: off(c.timeouts.Dial), KeepAlive: 30 * time.Second},
		stats: stats,
		tls:   clientTLSConfig(c),
		// The handshake is bounded here, where courier runs it.
		handshake: off(c.timeouts.TLSHandshake),
	}
	proxy := http.ProxyFromEnvironment
	switch {
	case c.proxySet:
		proxy = c.proxy
	case c.guard != nil:
		// The guard would judge the proxy, not the target.
		proxy = nil
	}
	if c.guard != nil {
		d.guard = newGuardRules(c.guard, d.net)
	}
	t := &http.Transport{
		Proxy:                  proxy,
		DialContext:            d.dialPlain,
		DialTLSContext:         d.dialTLSGated,
		TLSClientConfig:        d.tls,
		TLSHandshakeTimeout:    off(c.timeouts.TLSHandshake),
		ResponseHeaderTimeout:  off(c.timeouts.ResponseHeader),
		ExpectContinueTimeout:  1 * time.Second,
		MaxIdleConns:           c.pool.MaxIdleConns,
		MaxIdleConnsPerHost:    c.pool.MaxIdleConnsPerHost,
		MaxConnsPerHost:        c.pool.MaxConnsPerHost,
		IdleConnTimeout:        off(c.pool.IdleTimeout),
		MaxResponseHeaderBytes: maxResponseHeaderBytes,
		// courier decodes gzip and deflate itself, with the decoded size
		// counted against the body limit.
		DisableCompression: true,
		ForceAttemptHTTP2:  !c.disableHTTP2,
	}
	if c.disableHTTP2 {
		// A non-nil empty map turns HTTP/2 off (net/http documents this).
		t.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	return gatedTransport{t: t, gate: d.gate}
}

// maxResponseHeaderBytes caps the size of response headers.
const maxResponseHeaderBytes = 1 << 20

// clientTLSConfig returns the session's TLS configuration with courier's
// defaults filled in: TLS 1.2 at least, and h2 offered unless turned off.
func clientTLSConfig(c *config) *tls.Config {
	cfg := c.tlsConfig
	if cfg == nil {
		cfg = &tls.Config{}
	}
	if cfg.MinVersion == 0 {
		cfg.MinVersion = tls.VersionTLS12
	}
	if c.clientCert != nil {
		cfg = c.clientCert.apply(cfg, c.logger)
	}
	if len(cfg.NextProtos) == 0 {
		if c.disableHTTP2 {
			cfg.NextProtos = []string{"http/1.1"}
		} else {
			cfg.NextProtos = []string{"h2", "http/1.1"}
		}
	}
	return cfg
}

// dialer makes the session's connections.
type dialer struct {
	gate      *connGate
	guard     *guardRules // nil: no guard
	net       *net.Dialer
	stats     *counters
	tls       *tls.Config
	handshake time.Duration
}

// dial makes a TCP connection, counts it, and records how long it took.
func (d dialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	start := time.Now()
	var conn net.Conn
	var err error
	if d.guard != nil {
		conn, err = d.guard.dial(ctx, network, addr)
	} else {
		conn, err = d.net.DialContext(ctx, network, addr)
	}
	if err != nil {
		return nil, err
	}
	d.stats.connsNew.Add(1)
	return &dialedConn{Conn: conn, times: connTimes{connect: time.Since(start)}}, nil
}

// dialTLS makes a TCP connection and runs the TLS handshake on it.
func (d dialer) dialTLS(ctx context.Context, network, addr string) (net.Conn, error) {
	raw, err := d.dial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		raw.Close()
		return nil, err
	}
	cfg := d.tls
	if cfg.ServerName == "" {
		cfg = cfg.Clone()
		cfg.ServerName = host
	}
	conn := tls.Client(raw, cfg)
	hctx := ctx
	if d.handshake > 0 {
		var cancel context.CancelFunc
		hctx, cancel = context.WithTimeout(ctx, d.handshake)
		defer cancel()
	}
	start := time.Now()
	err = conn.HandshakeContext(hctx)
	raw.(*dialedConn).times.tls = time.Since(start)
	if err != nil {
		raw.Close()
		if ctx.Err() != nil {
			// The request ended (canceled or timed out): not a TLS
			// failure.
			return nil, ctx.Err()
		}
		return nil, &tlsError{err}
	}
	return conn, nil
}

// connTimes is how long a connection took to make.
type connTimes struct{ connect, tls time.Duration }

// dialedConn is a connection courier's dialer made, with its times.
type dialedConn struct {
	net.Conn
	times connTimes
	// onClose, when set, is called once, at the first Close.
	onClose func()
	closed  sync.Once
	// heard, when set (after the TLS handshake), is closed at the first
	// read that returns data.
	heard     chan struct{}
	heardOnce sync.Once
}

// Read reads from the connection, and closes heard at the first data.
func (c *dialedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && c.heard != nil {
		c.heardOnce.Do(func() { close(c.heard) })
	}
	return n, err
}

// Close closes the connection, and tells onClose.
func (c *dialedConn) Close() error {
	if c.onClose != nil {
		c.closed.Do(c.onClose)
	}
	return c.Conn.Close()
}

// ReadFrom keeps the TCP connection's fast path (sendfile, splice) for
// request bodies.
func (c *dialedConn) ReadFrom(r io.Reader) (int64, error) { return io.Copy(c.Conn, r) }

// dialTimes returns the times of a connection courier's dialer made, TLS
// or not, and whether it was one.
func dialTimes(conn net.Conn) (connTimes, bool) {
	if tc, ok := conn.(*tls.Conn); ok {
		conn = tc.NetConn()
	}
	if dc, ok := conn.(*dialedConn); ok {
		return dc.times, true
	}
	return connTimes{}, false
}
