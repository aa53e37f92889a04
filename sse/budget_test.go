package sse_test

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"testing"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/sse"
)

// Reconnects after a connection that delivered nothing are paid for from
// the session's retry budget: against a server that drops every stream at
// once, the budget ends the stream before MaxReconnects would, with a
// DropError that says so; and since the budget is the host's, the streams
// to it share it.
func TestStreamReconnectsDrawFromRetryBudget(t *testing.T) {
	srv := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		send(w, "retry: 10\n\n")
	})
	// Capacity 20, 5 a reconnect: four reconnects in all, for every
	// stream to the host together.
	s := newSession(t, srv.URL, courier.WithRetry(courier.RetryPolicy{
		Budget: courier.RetryBudget{Capacity: 20, RetryCost: 5}}))

	// One after the other, so that the count is exact: the first stream
	// spends the budget (4 reconnects), and the next ones find it short,
	// as each first request's success puts back only 1.
	const streams = 3
	errs := make([]error, streams)
	for i := range streams {
		_, errs[i] = collect(t, sse.Stream(t.Context(), s, http.MethodGet, "/events", sse.MaxReconnects(100)))
	}
	refused := 0
	for i, err := range errs {
		var drop *sse.DropError
		if !errors.As(err, &drop) {
			t.Fatalf("stream %d ended with %v, want a *DropError", i, err)
		}
		if errors.Is(err, courier.ErrRetryBudget) {
			refused++
		}
	}
	if refused != streams {
		t.Errorf("%d of %d streams ended on the retry budget, want all: %v", refused, streams, errs)
	}
	// Each stream's first request is free, then 4 paid reconnects in all.
	if got := srv.count(); got != streams+4 {
		t.Errorf("requests at the server = %d, want %d (%d first requests, 4 reconnects the budget paid for)", got, streams+4, streams)
	}
}

// A reconnect after a connection that delivered events is a fresh start:
// a server that closes each stream after one event costs the budget
// nothing, however often it does.
func TestStreamReconnectAfterEventsIsFree(t *testing.T) {
	srv := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n > 8 {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		send(w, "retry: 10\nid: "+strconv.Itoa(n)+"\ndata: x\n\n")
	})
	left := -2
	s := newSession(t, srv.URL,
		courier.WithRetry(courier.RetryPolicy{Budget: courier.RetryBudget{Capacity: 5, RetryCost: 5}}),
		courier.WithHooks(courier.Hooks{AfterAttempt: func(i courier.AttemptInfo) { left = i.BudgetLeft }}))
	evs, err := collect(t, sse.Stream(t.Context(), s, http.MethodGet, "/events"))
	if err != nil || len(evs) != 8 {
		t.Fatalf("Stream = %d events, %v; want 8 and the end at the 204", len(evs), err)
	}
	if left != 5 {
		t.Errorf("budget left %d, want 5: no reconnect after events is paid for", left)
	}
}

// With the budget disabled, only MaxReconnects bounds the reconnects.
func TestStreamReconnectsWithoutBudget(t *testing.T) {
	srv := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		send(w, "retry: 10\n\n")
	})
	s := newSession(t, srv.URL, courier.WithRetry(courier.RetryPolicy{Budget: courier.RetryBudget{Disabled: true}}))
	_, err := collect(t, sse.Stream(t.Context(), s, http.MethodGet, "/events", sse.MaxReconnects(7)))
	var drop *sse.DropError
	if !errors.As(err, &drop) || !errors.Is(err, io.EOF) || drop.Reconnects != 7 {
		t.Fatalf("Stream = %v, want a *DropError of io.EOF after 7 reconnects", err)
	}
	if got := srv.count(); got != 8 {
		t.Errorf("requests at the server = %d, want 8", got)
	}
}
