package courier

import (
	"context"
	"net/http"
	"time"
)

// Hedging: when an attempt of an idempotent request has not answered after
// RetryPolicy.HedgeAfter, another copy is sent, and the first good response
// wins; the others are canceled. It trades a little extra load for a
// shorter tail of slow responses ("The Tail at Scale"). Each extra copy
// draws RetryCost from the host's retry budget, so hedging stops when the
// budget is low: it never becomes a second source of amplification.

type hedgeResult struct {
	i    int
	resp *http.Response
	err  error
}

// hedged sends req, and copies of it after each Delay without an answer,
// and returns the first good response (or the last failure when all fail).
// Every copy it started has finished, and every losing response is closed,
// by the time it returns. sent is how many copies went out; cancel releases
// the winner's context once its body is done with.
func (l *loop) hedged(req *http.Request) (resp *http.Response, cancel func(), sent int, err error) {
	return hedge(l.ctx, l.s.attempt, l.p, l.h, req)
}

// hedge is hedged with its inputs spelled out, so that the loop's state
// stays on its goroutine's stack.
func hedge(ctx context.Context, rt http.RoundTripper, p *RetryPolicy, h *host, req *http.Request) (resp *http.Response, cancel func(), sent int, err error) {
	results := make(chan hedgeResult, 1+p.MaxHedges)
	var cancels []context.CancelFunc
	launch := func(areq *http.Request) {
		actx, acancel := context.WithCancel(ctx)
		i := len(cancels)
		cancels = append(cancels, acancel)
		go func() {
			resp, err := rt.RoundTrip(areq.WithContext(actx))
			results <- hedgeResult{i, resp, err}
		}()
	}
	launch(req)
	timer := time.NewTimer(p.HedgeAfter)
	defer timer.Stop()
	pending := 1
	var winner, last *hedgeResult
	for pending > 0 && winner == nil {
		select {
		case res := <-results:
			pending--
			if res.err == nil && !statusRuleOf(res.resp.StatusCode).transient {
				winner = &res
				continue
			}
			if last != nil {
				closeHedge(last, cancels)
			}
			last = &res
		case <-timer.C:
			if len(cancels) > p.MaxHedges || (h.budget != nil && !h.budget.take(p.Budget.RetryCost)) {
				continue
			}
			areq := req
			if req.Body != nil && req.Body != http.NoBody {
				body, gerr := req.GetBody()
				if gerr != nil {
					continue
				}
				areq = req.Clone(ctx)
				areq.Body = body
			}
			launch(areq)
			pending++
			timer.Reset(p.HedgeAfter)
		}
	}
	if winner == nil {
		winner = last
	} else if last != nil {
		closeHedge(last, cancels)
	}
	// The losers still out: cancel them first, then wait for them and close
	// what they got, so that no goroutine or body outlives the request.
	for i, c := range cancels {
		if i != winner.i {
			c()
		}
	}
	for ; pending > 0; pending-- {
		res := <-results
		closeHedge(&res, cancels)
	}
	if winner.err != nil {
		cancels[winner.i]()
		return nil, nil, len(cancels), winner.err
	}
	return winner.resp, cancels[winner.i], len(cancels), nil
}

func closeHedge(res *hedgeResult, cancels []context.CancelFunc) {
	if res.resp != nil {
		discardResponse(res.resp)
	}
	cancels[res.i]()
}
