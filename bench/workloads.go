package main

import (
	"context"
	"fmt"
	"io"
	"math/bits"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Config says what a run measures and for how long.
type Config struct {
	// Mode is "quick" or "full" (informational).
	Mode string `json:"mode"`
	// Runs is how many times each figure is measured; reports show the
	// median. The clients' order changes from run to run.
	Runs int `json:"runs"`
	// Warmup is how long a fresh client runs a workload, at its
	// concurrency, before the measured phase; Measure is how long the
	// measured phase lasts.
	Warmup  time.Duration `json:"warmup_ns"`
	Measure time.Duration `json:"measure_ns"`
	// Concurrency lists the concurrencies of the small JSON GET.
	Concurrency []int `json:"concurrency"`
	// TLSConcurrency is the concurrency of the same JSON GET over TLS
	// (HTTP/1.1, a self-signed certificate the clients trust); 0 leaves
	// it out.
	TLSConcurrency int `json:"tls_concurrency,omitempty"`
	// LargeBytes is the body size of the large GET, read at
	// LargeConcurrency; PostConcurrency is the POST's concurrency.
	LargeBytes       int64 `json:"large_bytes"`
	LargeConcurrency int   `json:"large_concurrency"`
	PostConcurrency  int   `json:"post_concurrency"`
	// DownloadBytes is the size of the streamed download.
	DownloadBytes int64 `json:"download_bytes"`
	// RetryRequests logical requests are made per resilience run, by
	// RetryConcurrency workers, against a server failing each of
	// FailureRates of the time.
	RetryRequests    int       `json:"retry_requests"`
	RetryConcurrency int       `json:"retry_concurrency"`
	FailureRates     []float64 `json:"failure_rates"`
	// ColdBurst is how many GETs a fresh client fires at once, one per
	// goroutine, over TLS, in the cold-burst section (0 leaves the
	// section out); in its last part, ColdCallers goroutines share
	// ColdRequests GETs on a fresh client over TLS, HTTP/1.1 only.
	ColdBurst    int `json:"cold_burst,omitempty"`
	ColdCallers  int `json:"cold_callers,omitempty"`
	ColdRequests int `json:"cold_requests,omitempty"`
	// Clients and Workloads, when not empty, keep only the clients and
	// the throughput workloads (by ID, such as "get-json-c64") named.
	Clients   []string `json:"clients,omitempty"`
	Workloads []string `json:"workloads,omitempty"`
}

// QuickConfig finishes in well under a minute on two cores, with a 64 MiB
// download instead of 1 GiB.
func QuickConfig() Config {
	return Config{
		Mode: "quick", Runs: 3,
		Warmup: 60 * time.Millisecond, Measure: 200 * time.Millisecond,
		Concurrency: []int{1, 64, 256}, TLSConcurrency: 64,
		LargeBytes: 1 << 20, LargeConcurrency: 8, PostConcurrency: 64,
		DownloadBytes: 64 << 20,
		RetryRequests: 200, RetryConcurrency: 8, FailureRates: []float64{0, 0.1, 1},
		ColdBurst: 1000, ColdCallers: 32, ColdRequests: 4000,
	}
}

// FullConfig is the run the README's table comes from: about eight minutes
// on two cores.
func FullConfig() Config {
	return Config{
		Mode: "full", Runs: 9,
		Warmup: 300 * time.Millisecond, Measure: 700 * time.Millisecond,
		Concurrency: []int{1, 64, 256}, TLSConcurrency: 64,
		LargeBytes: 1 << 20, LargeConcurrency: 8, PostConcurrency: 64,
		DownloadBytes: 1 << 30,
		RetryRequests: 2000, RetryConcurrency: 8, FailureRates: []float64{0, 0.1, 1},
		ColdBurst: 1000, ColdCallers: 32, ColdRequests: 4000,
	}
}

// Workload is one kind of request made over and over by Concurrency
// goroutines sharing one client.
type Workload struct {
	// ID names the workload in JSON ("get-json-c64"), Label in tables.
	ID, Label string
	// Concurrency is how many goroutines share the client.
	Concurrency int
	// JSONGet marks the small JSON GET, the workload the concurrency
	// chart and the throughput targets are about.
	JSONGet bool
	// TLS sends the requests over TLS, to the server's TLS listener,
	// with clients that trust its certificate. The chart leaves such
	// workloads out.
	TLS  bool
	path string
	do   func(ctx context.Context, c Client, url string) error
}

// workloads lists the throughput workloads of cfg.
func workloads(cfg Config) []Workload {
	var ws []Workload
	getJSON := func(ctx context.Context, c Client, url string) error {
		var d Doc
		return c.GetJSON(ctx, url, &d)
	}
	for _, n := range cfg.Concurrency {
		ws = append(ws, Workload{
			ID: fmt.Sprintf("get-json-c%d", n), Label: fmt.Sprintf("GET JSON, c=%d", n),
			Concurrency: n, JSONGet: true, path: pathJSON, do: getJSON,
		})
	}
	if n := cfg.TLSConcurrency; n > 0 {
		ws = append(ws, Workload{
			ID: fmt.Sprintf("get-json-c%d-tls", n), Label: fmt.Sprintf("GET JSON, c=%d, TLS", n),
			Concurrency: n, JSONGet: true, TLS: true, path: pathJSON, do: getJSON,
		})
	}
	size := cfg.LargeBytes
	ws = append(ws,
		Workload{
			ID: fmt.Sprintf("get-%s-c%d", sizeName(size), cfg.LargeConcurrency), Label: fmt.Sprintf("GET %s, c=%d", sizeName(size), cfg.LargeConcurrency),
			Concurrency: cfg.LargeConcurrency, path: pathBytes + "?n=" + strconv.FormatInt(size, 10),
			do: func(ctx context.Context, c Client, url string) error {
				n, err := c.GetBytes(ctx, url)
				if err == nil && int64(n) != size {
					err = fmt.Errorf("got %d bytes, want %d", n, size)
				}
				return err
			},
		},
		Workload{
			ID: fmt.Sprintf("post-json-c%d", cfg.PostConcurrency), Label: fmt.Sprintf("POST JSON, c=%d", cfg.PostConcurrency),
			Concurrency: cfg.PostConcurrency, path: pathJSON,
			do: func(ctx context.Context, c Client, url string) error {
				var d Doc
				return c.PostJSON(ctx, url, &sampleDoc, &d)
			},
		},
	)
	if len(cfg.Workloads) > 0 {
		ws = slices.DeleteFunc(ws, func(w Workload) bool { return !slices.Contains(cfg.Workloads, w.ID) })
	}
	return ws
}

// sizeName writes a byte count the short way: "1MiB", "64MiB", "1GiB".
func sizeName(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

// Sample is one measurement of a client on a throughput workload.
type Sample struct {
	// Requests completed in the measured phase, and Errors among the
	// requests made (not counted in Requests).
	Requests int64 `json:"requests"`
	Errors   int64 `json:"errors"`
	// Elapsed is the measured phase's length, until the last request
	// in flight ended.
	Elapsed time.Duration `json:"elapsed_ns"`
	RPS     float64       `json:"rps"`
	// P50 and P99 are latency percentiles of the measured requests.
	P50 time.Duration `json:"p50_ns"`
	P99 time.Duration `json:"p99_ns"`
	// AllocsPerReq and BytesPerReq are the client process's heap
	// allocations per request (runtime.MemStats Mallocs and TotalAlloc).
	AllocsPerReq float64 `json:"allocs_per_req"`
	BytesPerReq  float64 `json:"bytes_per_req"`
	// CPUPerReq is the client process's CPU time (user and system) per
	// request: steadier than requests/s on a shared machine.
	CPUPerReq time.Duration `json:"cpu_per_req_ns"`
	// WarmupConns are the connections the server accepted during the
	// warm-up, NewConns those it accepted during the measured phase.
	WarmupConns int64 `json:"warmup_conns"`
	NewConns    int64 `json:"new_conns"`
}

// measureThroughput makes a fresh client, warms it up on w, then measures
// it on w for cfg.Measure.
func measureThroughput(ctx context.Context, srv *Server, con Contender, w Workload, cfg Config) (Sample, error) {
	var s Sample
	base, rootPEM := srv.URL, []byte(nil)
	if w.TLS {
		base, rootPEM = srv.TLSURL, srv.CertPEM
	}
	c, err := con.New(rootPEM)
	if err != nil {
		return s, err
	}
	defer c.Close()
	url := base + w.path
	op := func() error { return w.do(ctx, c, url) }

	st0, err := srv.Stats(ctx)
	if err != nil {
		return s, err
	}
	if _, err := drive(w.Concurrency, cfg.Warmup, op, nil, nil); err != nil {
		return s, fmt.Errorf("warm-up: %w", err)
	}
	st1, err := srv.Stats(ctx)
	if err != nil {
		return s, err
	}
	runtime.GC()
	hists := make([]histogram, w.Concurrency)
	var m0, m1 runtime.MemStats
	var cpu0 time.Duration
	res, err := drive(w.Concurrency, cfg.Measure, op, hists, func() {
		runtime.ReadMemStats(&m0)
		cpu0 = processCPU()
	})
	cpu1 := processCPU()
	runtime.ReadMemStats(&m1)
	if err != nil {
		return s, err
	}
	st2, err := srv.Stats(ctx)
	if err != nil {
		return s, err
	}
	var all histogram
	for i := range hists {
		all.merge(&hists[i])
	}
	s = Sample{
		Requests: res.ok, Errors: res.failed, Elapsed: res.elapsed,
		P50: all.quantile(0.50), P99: all.quantile(0.99),
		WarmupConns: st1.Conns - st0.Conns, NewConns: st2.Conns - st1.Conns,
	}
	if res.ok > 0 {
		s.RPS = float64(res.ok) / res.elapsed.Seconds()
		s.AllocsPerReq = float64(m1.Mallocs-m0.Mallocs) / float64(res.ok)
		s.BytesPerReq = float64(m1.TotalAlloc-m0.TotalAlloc) / float64(res.ok)
		s.CPUPerReq = (cpu1 - cpu0) / time.Duration(res.ok)
	}
	return s, nil
}

// processCPU returns the CPU time this process has used, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// driveResult is what drive counted.
type driveResult struct {
	ok, failed int64
	elapsed    time.Duration
}

// drive runs op from n goroutines for about d (each makes at least one
// call) and counts the results.
// With hists (one per goroutine), each success's latency is recorded
// there. ready, if not nil, runs once every goroutine has started and
// before any calls op, so that what it snapshots excludes the start-up.
// drive fails if every call failed, with the last error.
func drive(n int, d time.Duration, op func() error, hists []histogram, ready func()) (driveResult, error) {
	var (
		wg      sync.WaitGroup
		stop    atomic.Bool
		start   = make(chan struct{})
		ok      = make([]int64, n)
		failed  = make([]int64, n)
		lastErr atomic.Pointer[error]
	)
	for i := range n {
		wg.Go(func() {
			<-start
			// Every goroutine makes at least one request, however soon
			// the phase ends.
			for first := true; first || !stop.Load(); first = false {
				t := time.Now()
				if err := op(); err != nil {
					failed[i]++
					keepErr(&lastErr, err)
					continue
				}
				ok[i]++
				if hists != nil {
					hists[i].record(time.Since(t))
				}
			}
		})
	}
	if ready != nil {
		ready()
	}
	t0 := time.Now()
	close(start)
	time.Sleep(d)
	stop.Store(true)
	wg.Wait()
	r := driveResult{elapsed: time.Since(t0)}
	for i := range n {
		r.ok += ok[i]
		r.failed += failed[i]
	}
	if r.ok == 0 {
		if p := lastErr.Load(); p != nil {
			return r, *p
		}
		return r, fmt.Errorf("no request completed in %v", d)
	}
	return r, nil
}

// keepErr stores err in p. It is a function of its own so that only a
// failed request pays for the error's copy on the heap, not every one.
func keepErr(p *atomic.Pointer[error], err error) { p.Store(&err) }

// histogram counts latencies in buckets about 3% wide (32 per power of
// two), so that goroutines record without allocating or sharing.
type histogram [64 + 58*32]int64

// histBucket returns the bucket of v nanoseconds.
func histBucket(v uint64) int {
	if v < 64 {
		return int(v)
	}
	s := bits.Len64(v) - 6 // v>>s is in [32, 64)
	return 64 + (s-1)*32 + int(v>>s) - 32
}

// histValue returns the middle of bucket i.
func histValue(i int) time.Duration {
	if i < 64 {
		return time.Duration(i)
	}
	s := (i-64)/32 + 1
	top := uint64((i-64)%32 + 32)
	return time.Duration(top<<s + 1<<(s-1))
}

func (h *histogram) record(d time.Duration) { h[histBucket(uint64(max(d, 0)))]++ }

func (h *histogram) merge(o *histogram) {
	for i := range h {
		h[i] += o[i]
	}
}

// quantile returns the latency below which a share q of the recorded ones
// fall (0 when none was recorded).
func (h *histogram) quantile(q float64) time.Duration {
	var total int64
	for _, c := range h {
		total += c
	}
	if total == 0 {
		return 0
	}
	rank := int64(q*float64(total) + 0.5)
	rank = min(max(rank, 1), total)
	var seen int64
	for i, c := range h {
		seen += c
		if seen >= rank {
			return histValue(i)
		}
	}
	return histValue(len(h) - 1)
}

// DownloadSample is one streamed download by one client.
type DownloadSample struct {
	Bytes   int64         `json:"bytes"`
	Elapsed time.Duration `json:"elapsed_ns"`
	// MiBPerSec is the download's throughput.
	MiBPerSec float64 `json:"mib_per_sec"`
	// PeakHeapGrowth is the highest heap (live and not yet collected
	// objects, /memory/classes/heap/objects:bytes), sampled every
	// millisecond during the download, less the heap before it.
	PeakHeapGrowth int64 `json:"peak_heap_growth_bytes"`
	// Allocated is what the client process allocated during the
	// download (runtime.MemStats TotalAlloc).
	Allocated int64 `json:"allocated_bytes"`
}

// heapObjectsMetric is the runtime/metrics name of the bytes held by heap
// objects, live or not yet swept.
const heapObjectsMetric = "/memory/classes/heap/objects:bytes"

// measureDownload streams size bytes with a fresh client into w (io.Discard
// for the benchmark) while sampling the heap every millisecond.
func measureDownload(ctx context.Context, srv *Server, con Contender, size int64, w io.Writer) (DownloadSample, error) {
	var s DownloadSample
	c, err := con.New(nil)
	if err != nil {
		return s, err
	}
	defer c.Close()
	url := srv.URL + pathBytes + "?n=" + strconv.FormatInt(size, 10)

	sample := []metrics.Sample{{Name: heapObjectsMetric}}
	heap := func() int64 {
		metrics.Read(sample)
		return int64(sample[0].Value.Uint64())
	}
	runtime.GC()
	base := heap()
	var peak atomic.Int64
	peak.Store(base)
	done := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Go(func() {
		buf := []metrics.Sample{{Name: heapObjectsMetric}}
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				metrics.Read(buf)
				if v := int64(buf[0].Value.Uint64()); v > peak.Load() {
					peak.Store(v)
				}
			}
		}
	})
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	t0 := time.Now()
	n, err := c.Download(ctx, url, w)
	s.Elapsed = time.Since(t0)
	runtime.ReadMemStats(&m1)
	if v := heap(); v > peak.Load() {
		peak.Store(v)
	}
	close(done)
	sampler.Wait()
	if err != nil {
		return s, err
	}
	if n != size {
		return s, fmt.Errorf("downloaded %d bytes, want %d", n, size)
	}
	s.Bytes = n
	s.MiBPerSec = float64(n) / (1 << 20) / s.Elapsed.Seconds()
	s.PeakHeapGrowth = max(peak.Load()-base, 0)
	s.Allocated = int64(m1.TotalAlloc - m0.TotalAlloc)
	return s, nil
}

// RetrySample is one resilience run: logical requests (GetJSON calls) in
// two halves, one after the other, against a server failing a share of
// the attempts with 503.
type RetrySample struct {
	Requests int `json:"requests"`
	// Attempts the server saw for all the logical requests, and for the
	// second half alone (after the first half drained any budget).
	Attempts         int64 `json:"attempts"`
	AttemptsLastHalf int64 `json:"attempts_last_half"`
	// PerRequest and PerRequestLastHalf are attempts per logical request.
	PerRequest         float64 `json:"attempts_per_request"`
	PerRequestLastHalf float64 `json:"attempts_per_request_last_half"`
	// Succeeded is the share of logical requests that succeeded.
	Succeeded float64 `json:"succeeded"`
	// NewConns counts the connections the server accepted during the run.
	NewConns int64         `json:"new_conns"`
	Elapsed  time.Duration `json:"elapsed_ns"`
}

// measureResilience makes n logical requests with a fresh client against
// a server failing a share fail of the attempts, in two halves of n/2.
// Each logical request has a context of its own, canceled when it returns,
// as a request handler's would be: that also reclaims the connections of
// responses a client never closes (failsafe-go's retried ones).
func measureResilience(ctx context.Context, srv *Server, con Contender, fail float64, n, workers int) (RetrySample, error) {
	var s RetrySample
	c, err := con.New(nil)
	if err != nil {
		return s, err
	}
	defer c.Close()
	url := srv.URL + pathFlaky + "?fail=" + strconv.FormatFloat(fail, 'g', -1, 64)
	var ok atomic.Int64
	logical := func() {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var d Doc
		if c.GetJSON(ctx, url, &d) == nil {
			ok.Add(1)
		}
	}
	half := func(k int) (int64, error) {
		st0, err := srv.Stats(ctx)
		if err != nil {
			return 0, err
		}
		var next atomic.Int64
		var wg sync.WaitGroup
		for range min(workers, k) {
			wg.Go(func() {
				for next.Add(1) <= int64(k) {
					logical()
				}
			})
		}
		wg.Wait()
		st1, err := srv.Stats(ctx)
		return st1.Attempts - st0.Attempts, err
	}
	st0, err := srv.Stats(ctx)
	if err != nil {
		return s, err
	}
	t0 := time.Now()
	first, err := half(n / 2)
	if err != nil {
		return s, err
	}
	last, err := half(n - n/2)
	if err != nil {
		return s, err
	}
	st1, err := srv.Stats(ctx)
	if err != nil {
		return s, err
	}
	s = RetrySample{
		Requests: n, Attempts: first + last, AttemptsLastHalf: last, NewConns: st1.Conns - st0.Conns,
		PerRequest:         float64(first+last) / float64(n),
		PerRequestLastHalf: float64(last) / float64(n-n/2),
		Succeeded:          float64(ok.Load()) / float64(n),
		Elapsed:            time.Since(t0),
	}
	return s, nil
}

// order returns the contenders in the order of run r: rotated by r/2, and
// reversed on odd runs, so that no client always goes first or last or
// always follows the same one (with two clients: ab, ba, ba, ab, ...).
func order(cs []Contender, r int) []Contender {
	out := make([]Contender, 0, len(cs))
	for i := range cs {
		out = append(out, cs[(i+r/2)%len(cs)])
	}
	if r%2 == 1 {
		slices.Reverse(out)
	}
	return out
}

// median returns the median of xs (the mean of the middle two for an even
// count), or 0 for none.
func median[T int64 | float64 | time.Duration](xs []T) T {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}
