package courier

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/courierhttp/courier/internal/redact"
)

// logAttempt writes one line for an attempt, when the session has a
// logger that takes its level: method, redacted URL, status or error,
// attempt, its duration, whether the connection was reused, and the retry's
// reason and wait or why retrying stopped. Nothing is built when the level
// is off.
//
// Levels are chosen so that a healthy service logs nothing above Debug: a
// success, or a response the server meant (a 404), is Debug; an attempt
// that is retried is Info; a failure given up on is Warn.
func (s *Session) logAttempt(ctx context.Context, info AttemptInfo, d decision) {
	level, msg := slog.LevelDebug, "courier: attempt"
	switch {
	case !d.final:
		level, msg = slog.LevelInfo, "courier: retrying"
	case info.Err != nil || statusRuleOf(info.Response.StatusCode).transient:
		level, msg = slog.LevelWarn, "courier: attempt failed"
	}
	l := s.cfg.logger
	if l == nil || !l.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 10)
	attrs = append(attrs,
		slog.String("method", info.Request.Method),
		slog.String("url", redact.URL(info.Request.URL)),
		slog.Int("attempt", info.Attempt),
		slog.Duration("duration", info.Duration))
	if info.Response != nil {
		attrs = append(attrs, slog.Int("status", info.Response.StatusCode))
		if info.Response.ContentLength >= 0 {
			attrs = append(attrs, slog.Int64("bytes", info.Response.ContentLength))
		}
	}
	if info.Err != nil {
		attrs = append(attrs, slog.String("error", info.Err.Error()))
	}
	attrs = append(attrs, slog.Bool("reused", info.Reused))
	if !d.final {
		attrs = append(attrs, slog.String("reason", retryReason(info)), slog.Duration("wait", d.wait))
	}
	if d.stop != 0 {
		attrs = append(attrs, slog.String("stopped", d.stop.String()))
	}
	l.LogAttrs(ctx, level, msg, attrs...)
}

// retryReason names why an attempt is retried: its status or its kind.
func retryReason(info AttemptInfo) string {
	if info.Response != nil {
		return strconv.Itoa(info.Response.StatusCode)
	}
	return info.Kind.String()
}

// logStoreFailed logs what a shared store (a Pacer, a BreakerStore) failed
// to record for req: what says what it was.
func (s *Session) logStoreFailed(ctx context.Context, req *http.Request, what string, err error) {
	l := s.cfg.logger
	if l == nil || !l.Enabled(ctx, slog.LevelWarn) {
		return
	}
	l.LogAttrs(ctx, slog.LevelWarn, "courier: shared state not recorded", slog.String("what", what),
		slog.String("method", req.Method), slog.String("url", redact.URL(req.URL)), slog.String("error", err.Error()))
}

// logCache writes, at Debug, what the cache did for a request hop, and at
// Info when it served a stale response for a failure.
func (s *Session) logCache(req *http.Request, st CacheStatus, age time.Duration) {
	l := s.cfg.logger
	level := slog.LevelDebug
	if st == CacheStaleIfError {
		level = slog.LevelInfo
	}
	ctx := req.Context()
	if l == nil || !l.Enabled(ctx, level) {
		return
	}
	l.LogAttrs(ctx, level, "courier: cache", slog.String("status", st.String()), slog.String("method", req.Method),
		slog.String("url", redact.URL(req.URL)), slog.Duration("age", age))
}

// logCacheStore writes, at Warn, that the cache's store failed.
func (s *Session) logCacheStore(ctx context.Context, op string, err error) {
	l := s.cfg.logger
	if l == nil || !l.Enabled(ctx, slog.LevelWarn) {
		return
	}
	l.LogAttrs(ctx, slog.LevelWarn, "courier: cache store failed", slog.String("op", op), slog.String("error", err.Error()))
}

// logPaced writes, at Info, that a request waited for the server's pause
// (a 429's Retry-After, or rate-limit headers that said nothing was left).
func (s *Session) logPaced(ctx context.Context, req *http.Request, waited time.Duration) {
	l := s.cfg.logger
	if l == nil || !l.Enabled(ctx, slog.LevelInfo) {
		return
	}
	l.LogAttrs(ctx, slog.LevelInfo, "courier: paced", slog.String("method", req.Method),
		slog.String("url", redact.URL(req.URL)), slog.Duration("waited", waited))
}
