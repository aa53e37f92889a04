package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/courierhttp/courier"
)

// repeatResult is what --repeat measured.
type repeatResult struct {
	latencies []time.Duration // of requests that got a response
	statuses  map[int]int
	failures  map[string]int // by courier error kind
	elapsed   time.Duration
}

// repeat sends the request a.repeat times over one session, a.concurrency
// at a time, and reports latency percentiles, statuses and connection
// reuse. Bodies are read and dropped.
func repeat(ctx context.Context, p *prepared, sio stdio) int {
	a := p.a
	if p.body.streamed {
		return fail(sio, usagef("--repeat: the body is over %d MiB and is streamed, so it can be sent once only", maxBufferedBody>>20))
	}
	var (
		next atomic.Int64
		mu   sync.Mutex
		res  = repeatResult{statuses: map[int]int{}, failures: map[string]int{}}
		wg   sync.WaitGroup
	)
	start := time.Now()
	for range a.concurrency {
		wg.Go(func() {
			for next.Add(1) <= int64(a.repeat) && ctx.Err() == nil {
				t0 := time.Now()
				resp, err := p.do(ctx)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body())
					if cerr := resp.Close(); err == nil {
						err = cerr
					}
				}
				d := time.Since(t0)
				mu.Lock()
				if err != nil {
					res.failures[failureKind(err)]++
				} else {
					res.statuses[resp.StatusCode]++
					res.latencies = append(res.latencies, d)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.write(sio.Out, a, p.session.Stats())
	if err := p.save(); err != nil {
		return fail(sio, err)
	}
	if ctx.Err() != nil {
		return exitInterrupted
	}
	if len(res.failures) > 0 {
		return exitError
	}
	if a.checkStatus {
		worst := exitOK
		for code := range res.statuses {
			worst = max(worst, statusExit(code, a.follow))
		}
		return worst
	}
	return exitOK
}

// failureKind names a failure for the report: its courier kind, and why
// retrying stopped when something stopped it.
func failureKind(err error) string {
	var e *courier.Error
	if !errors.As(err, &e) {
		return err.Error()
	}
	if e.Stop != 0 {
		return e.Kind.String() + " (" + e.Stop.String() + ")"
	}
	return e.Kind.String()
}

// write prints the report.
func (r *repeatResult) write(w io.Writer, a *args, st courier.Stats) {
	n := len(r.latencies) + sum(slices.Collect(maps.Values(r.failures)))
	fmt.Fprintf(w, "%d requests, concurrency %d, in %s: %.1f requests/s\n",
		n, a.concurrency, round(r.elapsed), float64(n)/r.elapsed.Seconds())
	codes := slices.Sorted(maps.Keys(r.statuses))
	fmt.Fprint(w, "statuses:")
	for _, c := range codes {
		fmt.Fprintf(w, "  %d x%d", c, r.statuses[c])
	}
	if len(codes) == 0 {
		fmt.Fprint(w, "  none")
	}
	fmt.Fprintln(w)
	for _, k := range slices.Sorted(maps.Keys(r.failures)) {
		fmt.Fprintf(w, "failed:   %s x%d\n", k, r.failures[k])
	}
	if len(r.latencies) > 0 {
		slices.Sort(r.latencies)
		fmt.Fprintf(w, "latency:  min %s  p50 %s  p90 %s  p99 %s  max %s\n",
			round(r.latencies[0]), round(percentile(r.latencies, 50)), round(percentile(r.latencies, 90)),
			round(percentile(r.latencies, 99)), round(r.latencies[len(r.latencies)-1]))
	}
	retries := int64(0)
	for _, v := range st.RetriesByStatus {
		retries += v
	}
	for _, v := range st.RetriesByKind {
		retries += v
	}
	fmt.Fprintf(w, "attempts: %d (%d retries)\n", st.Attempts, retries)
	fmt.Fprintf(w, "connections: %d opened, %d reused\n", st.ConnsOpened, st.ConnsReused)
}

// percentile is the nearest-rank percentile of sorted durations.
func percentile(sorted []time.Duration, p int) time.Duration {
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 * n)
	return sorted[max(rank, 1)-1]
}

func sum(xs []int) int {
	t := 0
	for _, x := range xs {
		t += x
	}
	return t
}
