package main

import (
	"cmp"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Burst is one part of the cold-burst section: a fresh client, Callers
// goroutines released together at a barrier, Requests JSON GETs in all
// (each goroutine sends its share one after the other), over TLS.
type Burst struct {
	// ID names the burst in JSON ("h2-c1000"), Label in tables.
	ID, Label string
	// H2 sends the requests to the listener that offers h2 and http/1.1
	// by ALPN; otherwise to the one that offers HTTP/1.1 alone.
	H2                bool
	Callers, Requests int
}

// bursts lists the cold bursts of cfg: ColdBurst GETs at once with h2
// offered, the same with HTTP/1.1 alone, and ColdCallers callers sharing
// ColdRequests GETs over HTTP/1.1.
func bursts(cfg Config) []Burst {
	var bs []Burst
	if n := cfg.ColdBurst; n > 0 {
		bs = append(bs,
			Burst{ID: fmt.Sprintf("h2-c%d", n), Label: fmt.Sprintf("h2 offered, %s at once", fmtCount(float64(n))), H2: true, Callers: n, Requests: n},
			Burst{ID: fmt.Sprintf("http11-c%d", n), Label: fmt.Sprintf("HTTP/1.1 only, %s at once", fmtCount(float64(n))), Callers: n, Requests: n},
		)
	}
	if c, n := cfg.ColdCallers, cfg.ColdRequests; c > 0 && n > 0 {
		bs = append(bs, Burst{
			ID:      fmt.Sprintf("http11-c%d-n%d", c, n),
			Label:   fmt.Sprintf("HTTP/1.1 only, %d callers, %s GETs", c, fmtCount(float64(n))),
			Callers: c, Requests: n,
		})
	}
	return bs
}

// idealConns is the fewest connections a client needs for b when the
// server lets each HTTP/2 connection carry maxStreams streams (0: no
// limit): ⌈callers / maxStreams⌉ with h2, and over HTTP/1.1 one per
// caller, since each caller has one request in flight at a time (the
// most a client needs, not the fewest it could use by queueing).
func idealConns(b Burst, maxStreams uint32) int64 {
	if !b.H2 {
		return int64(b.Callers)
	}
	if maxStreams == 0 {
		return 1
	}
	return (int64(b.Callers) + int64(maxStreams) - 1) / int64(maxStreams)
}

// burstTimeout bounds one burst, so that a client that hangs fails the
// requests still in flight instead of the run.
const burstTimeout = 2 * time.Minute

// BurstSample is one cold burst by one client.
type BurstSample struct {
	// Requests is the number of GETs made, Errors those that failed.
	Requests int64 `json:"requests"`
	Errors   int64 `json:"errors"`
	// Elapsed runs from the release of the callers to the last response
	// (or error): the time to last response.
	Elapsed time.Duration `json:"elapsed_ns"`
	// NewConns counts the connections the server accepted for the
	// burst, UsedConns those of them that carried a request.
	NewConns  int64 `json:"new_conns"`
	UsedConns int64 `json:"used_conns"`
	// Handshakes counts the TLS handshakes that reached the server's
	// check of the connection (ListenerStats.Handshakes), and of those,
	// the ones where ALPN agreed on h2 and on http/1.1.
	Handshakes int64 `json:"handshakes"`
	ALPNH2     int64 `json:"alpn_h2"`
	ALPNHTTP11 int64 `json:"alpn_http11"`
	// H2Requests and H1Requests count the requests the server served
	// over HTTP/2 and over HTTP/1.1.
	H2Requests int64 `json:"h2_requests"`
	H1Requests int64 `json:"http11_requests"`
	// Error is one of the errors, when some requests failed.
	Error string `json:"error,omitempty"`
	// ServerErrors counts the lines the server logged during the burst
	// (a TLS handshake the client abandoned, mostly), ServerError is the
	// last.
	ServerErrors int64  `json:"server_errors"`
	ServerError  string `json:"server_error,omitempty"`
}

// measureColdBurst makes a fresh client that trusts the server's
// certificate, starts b.Callers goroutines and holds them at a barrier,
// releases them together, and waits for the last response. The client
// is closed, and the server's counters read once they stop moving (a
// client may still be dialing a connection it no longer needs when the
// last response arrives).
func measureColdBurst(ctx context.Context, srv *Server, con Contender, b Burst) (BurstSample, error) {
	var s BurstSample
	c, err := con.New(srv.CertPEM)
	if err != nil {
		return s, err
	}
	closed := false
	defer func() {
		if !closed {
			c.Close()
		}
	}()
	base, listener := srv.TLSURL, func(st ServerStats) ListenerStats { return st.H1 }
	if b.H2 {
		base, listener = srv.H2URL, func(st ServerStats) ListenerStats { return st.H2 }
	}
	url := base + pathJSON

	st0, err := srv.Stats(ctx)
	if err != nil {
		return s, err
	}
	rctx, cancel := context.WithTimeout(ctx, burstTimeout)
	defer cancel()
	var (
		ready, done sync.WaitGroup
		start       = make(chan struct{})
		failed      atomic.Int64
		lastErr     atomic.Pointer[error]
	)
	for i := range b.Callers {
		n := b.Requests / b.Callers
		if i < b.Requests%b.Callers {
			n++
		}
		ready.Add(1)
		done.Go(func() {
			ready.Done()
			<-start
			for range n {
				var d Doc
				if err := c.GetJSON(rctx, url, &d); err != nil {
					failed.Add(1)
					keepErr(&lastErr, err)
				}
			}
		})
	}
	ready.Wait()
	t0 := time.Now()
	close(start)
	done.Wait()
	s.Elapsed = time.Since(t0)
	cancel()
	closed = true
	if err := c.Close(); err != nil {
		return s, fmt.Errorf("close: %w", err)
	}
	st1, err := settledStats(ctx, srv, listener)
	if err != nil {
		return s, err
	}
	l0, l1 := listener(st0), listener(st1)
	s.Requests, s.Errors = int64(b.Requests), failed.Load()
	s.NewConns, s.UsedConns = l1.Conns-l0.Conns, l1.Used-l0.Used
	s.Handshakes, s.ALPNH2, s.ALPNHTTP11 = l1.Handshakes-l0.Handshakes, l1.ALPNH2-l0.ALPNH2, l1.ALPNHTTP11-l0.ALPNHTTP11
	s.H2Requests, s.H1Requests = l1.H2Requests-l0.H2Requests, l1.H1Requests-l0.H1Requests
	if p := lastErr.Load(); p != nil {
		s.Error = (*p).Error()
	}
	if s.ServerErrors = l1.Errors - l0.Errors; s.ServerErrors > 0 {
		s.ServerError = l1.LastError
	}
	return s, nil
}

// settledStats reads the server's counters until a listener's accepted
// connections stay the same for 20 ms (at most for a second).
func settledStats(ctx context.Context, srv *Server, listener func(ServerStats) ListenerStats) (ServerStats, error) {
	st, err := srv.Stats(ctx)
	for deadline := time.Now().Add(time.Second); err == nil && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		var next ServerStats
		if next, err = srv.Stats(ctx); err == nil && listener(next).Conns == listener(st).Conns {
			return next, nil
		}
		st = next
	}
	return st, err
}

// protocolOf names the protocols the server served a client's requests
// over, in all the samples of a burst.
func protocolOf(ss []BurstSample) string {
	var h2, h1 int64
	for _, s := range ss {
		h2 += s.H2Requests
		h1 += s.H1Requests
	}
	switch {
	case h2 > 0 && h1 > 0:
		return fmt.Sprintf("h2 (%.0f%%) + http/1.1", 100*float64(h2)/float64(h2+h1))
	case h2 > 0:
		return "h2"
	case h1 > 0:
		return "http/1.1"
	}
	return "none"
}

// medianBurst is the figure-by-figure median of ss, with the first error
// of each kind.
func medianBurst(ss []BurstSample) BurstSample {
	m := BurstSample{
		Requests:   pick(ss, func(s BurstSample) int64 { return s.Requests }),
		Errors:     pick(ss, func(s BurstSample) int64 { return s.Errors }),
		Elapsed:    pick(ss, func(s BurstSample) time.Duration { return s.Elapsed }),
		NewConns:   pick(ss, func(s BurstSample) int64 { return s.NewConns }),
		UsedConns:  pick(ss, func(s BurstSample) int64 { return s.UsedConns }),
		Handshakes: pick(ss, func(s BurstSample) int64 { return s.Handshakes }),
		ALPNH2:     pick(ss, func(s BurstSample) int64 { return s.ALPNH2 }),
		ALPNHTTP11: pick(ss, func(s BurstSample) int64 { return s.ALPNHTTP11 }),
		H2Requests: pick(ss, func(s BurstSample) int64 { return s.H2Requests }),
		H1Requests: pick(ss, func(s BurstSample) int64 { return s.H1Requests }),

		ServerErrors: pick(ss, func(s BurstSample) int64 { return s.ServerErrors }),
	}
	for _, s := range ss {
		m.Error = cmp.Or(m.Error, s.Error)
		m.ServerError = cmp.Or(m.ServerError, s.ServerError)
	}
	return m
}

// hasHTTP2 reports whether a client can speak HTTP/2: all but fasthttp.
// The cold burst with h2 offered leaves the others out.
func hasHTTP2(client string) bool { return client != nameFasthttp }
