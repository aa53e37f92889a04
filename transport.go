package courier

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"time"
)

// newTransport builds the session's tuned transport.
//
// courier dials TLS itself (DialTLSContext) for direct https connections, so
// that a failed handshake is known to be one by where it happened and not by
// the text of its error: crypto/tls reports, for example, a server that
// offers only TLS 1.0 with a plain formatted error. The standard transport
// still runs the handshake for https through a CONNECT proxy; those failures
// are classified by their types.
func newTransport(c *config) *http.Transport {
	dialer := &net.Dialer{Timeout: off(c.timeouts.Dial), KeepAlive: 30 * time.Second}
	tlsConfig := c.tlsConfig
	if tlsConfig == nil {
		tlsConfig = &tls.Config{}
	}
	if tlsConfig.MinVersion == 0 {
		tlsConfig.MinVersion = tls.VersionTLS12
	}
	if len(tlsConfig.NextProtos) == 0 {
		if c.disableHTTP2 {
			tlsConfig.NextProtos = []string{"http/1.1"}
		} else {
			tlsConfig.NextProtos = []string{"h2", "http/1.1"}
		}
	}
	proxy := http.ProxyFromEnvironment
	if c.proxySet {
		proxy = c.proxy
	}
	t := &http.Transport{
		Proxy:                  proxy,
		DialContext:            timedDial(dialer.DialContext),
		TLSClientConfig:        tlsConfig,
		TLSHandshakeTimeout:    off(c.timeouts.TLSHandshake),
		ResponseHeaderTimeout:  off(c.timeouts.ResponseHeader),
		ExpectContinueTimeout:  1 * time.Second,
		MaxIdleConns:           c.pool.MaxIdleConns,
		MaxIdleConnsPerHost:    c.pool.MaxIdleConnsPerHost,
		MaxConnsPerHost:        c.pool.MaxConnsPerHost,
		IdleConnTimeout:        off(c.pool.IdleTimeout),
		MaxResponseHeaderBytes: DefaultMaxResponseHeaderBytes,
		// courier decodes gzip and deflate itself, with the decoded size
		// counted against the body limit.
		DisableCompression: true,
		ForceAttemptHTTP2:  !c.disableHTTP2,
	}
	if c.disableHTTP2 {
		// A non-nil empty map turns HTTP/2 off (net/http documents this).
		t.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	handshakeTimeout := off(c.timeouts.TLSHandshake)
	t.DialTLSContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		raw, err := timedDial(dialer.DialContext)(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			raw.Close()
			return nil, err
		}
		cfg := tlsConfig
		if cfg.ServerName == "" {
			cfg = cfg.Clone()
			cfg.ServerName = host
		}
		conn := tls.Client(raw, cfg)
		hctx := ctx
		if handshakeTimeout > 0 {
			var cancel context.CancelFunc
			hctx, cancel = context.WithTimeout(ctx, handshakeTimeout)
			defer cancel()
		}
		tlsStart := time.Now()
		err = conn.HandshakeContext(hctx)
		if c := callFrom(ctx); c != nil {
			c.clock.tls.Store(int64(time.Since(tlsStart)))
		}
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
	return t
}
