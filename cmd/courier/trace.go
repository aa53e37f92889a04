package main

import (
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/internal/redact"
)

// tracer writes --trace: every attempt, retry and redirect as it happens,
// then where the time went. It writes to stderr, so stdout stays the body.
type tracer struct {
	w       io.Writer
	secrets bool
	colors  bool
	mu      sync.Mutex
}

func (t *tracer) printf(format string, a ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintf(t.w, format, a...)
}

func (t *tracer) paint(color, s string) string {
	if !t.colors {
		return s
	}
	return color + s + colorReset
}

func (t *tracer) url(u fmt.Stringer) string {
	if t.secrets {
		return u.String()
	}
	return redact.String(u.String())
}

// hooks are the session hooks that report attempts as they end.
func (t *tracer) hooks() courier.Hooks {
	return courier.Hooks{
		AfterAttempt: func(info courier.AttemptInfo) {
			conn := "new connection"
			if info.Reused {
				conn = "reused connection"
			}
			outcome := ""
			switch {
			case info.Response != nil:
				outcome = t.paint(statusColor(info.Response.StatusCode), info.Response.Status)
			case info.Err != nil:
				outcome = t.paint(colorRed, "failed: "+info.Err.Error())
			}
			t.printf("%s attempt %d: %s %s: %s in %s (%s)\n", t.paint(colorDim, "trace:"), info.Attempt,
				info.Request.Method, t.url(info.Request.URL), outcome, round(info.Duration), conn)
			if info.Stop != 0 {
				t.printf("%s   not retried: %s\n", t.paint(colorDim, "trace:"), info.Stop.String())
			}
		},
		OnRetry: func(info courier.AttemptInfo) {
			budget := ""
			if info.BudgetLeft >= 0 {
				budget = fmt.Sprintf(", retry budget left %d", info.BudgetLeft)
			}
			t.printf("%s   retrying after %s: %s%s\n", t.paint(colorDim, "trace:"), round(info.Wait),
				t.paint(colorYellow, retryReason(info)), budget)
		},
		OnRedirect: func(info courier.RedirectInfo) {
			stripped := ""
			if len(info.Stripped) > 0 {
				stripped = fmt.Sprintf(" (other origin: %v not sent)", info.Stripped)
			}
			t.printf("%s redirect %d: %s -> %s%s\n", t.paint(colorDim, "trace:"), info.Hop,
				info.Response.Status, t.url(info.To), stripped)
		},
	}
}

// summary writes where the time of the final attempt went, and the whole
// request's time with its body read.
func (t *tracer) summary(resp *courier.Response, total time.Duration) {
	tm := resp.Timings
	row := func(name string, d time.Duration, detail string) {
		v := "-"
		if d > 0 {
			v = round(d).String()
		}
		t.printf("%s   %-16s %10s  %s\n", t.paint(colorDim, "trace:"), name, v, t.paint(colorDim, detail))
	}
	t.printf("%s timings of the last attempt (%d attempt(s) in all, %s)\n", t.paint(colorDim, "trace:"), resp.Attempts, resp.Proto)
	conn := "new"
	if tm.Reused {
		conn = fmt.Sprintf("reused after %s idle", round(tm.IdleTime))
	}
	row("DNS", tm.DNS, "")
	row("connect", tm.Connect, "")
	row("TLS", tm.TLS, "")
	row("request sent", tm.RequestWritten, "from the attempt's start")
	row("first byte", tm.FirstByte, "from the attempt's start")
	row("headers", tm.Total, "every attempt, wait and redirect")
	row("total", total, "with the body read")
	t.printf("%s   %-16s %10s\n", t.paint(colorDim, "trace:"), "connection", conn)
}

// round keeps a duration readable: microseconds under a millisecond,
// tenths of a millisecond under a second.
func round(d time.Duration) time.Duration {
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond)
	case d < time.Second:
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(time.Millisecond)
}

// retryReason names why an attempt is retried: its status code or its
// kind of failure.
func retryReason(info courier.AttemptInfo) string {
	if info.Response != nil {
		return strconv.Itoa(info.Response.StatusCode)
	}
	return info.Kind.String()
}
