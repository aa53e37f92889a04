package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Report is everything a run measured: what the markdown tables, the JSON
// output and the chart are made from.
type Report struct {
	// Date is the day of the run (YYYY-MM-DD).
	Date       string             `json:"date"`
	Machine    Machine            `json:"machine"`
	Config     Config             `json:"config"`
	Throughput []ThroughputResult `json:"throughput"`
	Download   []DownloadResult   `json:"download"`
	Resilience []ResilienceResult `json:"resilience"`
	// ColdBurst holds the cold-burst section's results, and
	// H2MaxConcurrentStreams the limit on concurrent streams per HTTP/2
	// connection the server announced in its SETTINGS frame.
	ColdBurst              []ColdBurstResult `json:"cold_burst"`
	H2MaxConcurrentStreams uint32            `json:"h2_max_concurrent_streams,omitempty"`
	Targets                []Target          `json:"targets"`
}

// Machine describes where the run happened.
type Machine struct {
	CPUs      int    `json:"cpus"`
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
}

// ThroughputResult is one client on one throughput workload (named by the
// Workload's ID, Label and Concurrency).
type ThroughputResult struct {
	Workload    string `json:"workload"`
	Label       string `json:"label"`
	Concurrency int    `json:"concurrency"`
	JSONGet     bool   `json:"json_get"`
	TLS         bool   `json:"tls,omitempty"`
	Client      string `json:"client"`
	// Median holds the median of each figure over the runs.
	Median Sample `json:"median"`
	// RPSRatio and AllocsRatio compare req/s and allocs/req with tuned
	// net/http's on the same workload: the median of the per-run ratios
	// (0 when tuned net/http was not measured).
	RPSRatio    float64 `json:"rps_vs_tuned"`
	AllocsRatio float64 `json:"allocs_vs_tuned"`
	// Samples are the runs' measurements, in the order of the runs.
	Samples []Sample `json:"samples"`
}

// DownloadResult is one client's streamed download.
type DownloadResult struct {
	Client  string           `json:"client"`
	Median  DownloadSample   `json:"median"`
	Samples []DownloadSample `json:"samples"`
}

// ResilienceResult is one client against one failure rate.
type ResilienceResult struct {
	Client      string        `json:"client"`
	FailureRate float64       `json:"failure_rate"`
	Median      RetrySample   `json:"median"`
	Samples     []RetrySample `json:"samples"`
}

// ColdBurstResult is one client on one cold burst (named by the Burst's ID
// and Label, with its callers and requests).
type ColdBurstResult struct {
	Burst     string `json:"burst"`
	Label     string `json:"label"`
	H2Offered bool   `json:"h2_offered"`
	Callers   int    `json:"callers"`
	Requests  int    `json:"requests"`
	Client    string `json:"client"`
	// IdealConns is the fewest connections the burst needs: ⌈callers /
	// the server's streams per connection⌉ with h2 offered, one per
	// caller over HTTP/1.1 (there, the most a client should open).
	IdealConns int64 `json:"ideal_conns"`
	// Protocol names what the server served the requests over, in all
	// the runs: "h2", "http/1.1", or both with h2's share.
	Protocol string        `json:"protocol"`
	Median   BurstSample   `json:"median"`
	Samples  []BurstSample `json:"samples"`
}

// Target is one of the goals for courier, checked against the
// measured figures.
type Target struct {
	Name   string `json:"name"`
	Figure string `json:"figure"`
	Pass   bool   `json:"pass"`
}

// pick returns the median of one figure over samples.
func pick[S any, T int64 | float64 | time.Duration](ss []S, f func(S) T) T {
	xs := make([]T, len(ss))
	for i, s := range ss {
		xs[i] = f(s)
	}
	return median(xs)
}

// medianSample is the figure-by-figure median of ss.
func medianSample(ss []Sample) Sample {
	return Sample{
		Requests:     pick(ss, func(s Sample) int64 { return s.Requests }),
		Errors:       pick(ss, func(s Sample) int64 { return s.Errors }),
		Elapsed:      pick(ss, func(s Sample) time.Duration { return s.Elapsed }),
		RPS:          pick(ss, func(s Sample) float64 { return s.RPS }),
		P50:          pick(ss, func(s Sample) time.Duration { return s.P50 }),
		P99:          pick(ss, func(s Sample) time.Duration { return s.P99 }),
		AllocsPerReq: pick(ss, func(s Sample) float64 { return s.AllocsPerReq }),
		BytesPerReq:  pick(ss, func(s Sample) float64 { return s.BytesPerReq }),
		CPUPerReq:    pick(ss, func(s Sample) time.Duration { return s.CPUPerReq }),
		WarmupConns:  pick(ss, func(s Sample) int64 { return s.WarmupConns }),
		NewConns:     pick(ss, func(s Sample) int64 { return s.NewConns }),
	}
}

// medianDownload is the figure-by-figure median of ss.
func medianDownload(ss []DownloadSample) DownloadSample {
	return DownloadSample{
		Bytes:          pick(ss, func(s DownloadSample) int64 { return s.Bytes }),
		Elapsed:        pick(ss, func(s DownloadSample) time.Duration { return s.Elapsed }),
		MiBPerSec:      pick(ss, func(s DownloadSample) float64 { return s.MiBPerSec }),
		PeakHeapGrowth: pick(ss, func(s DownloadSample) int64 { return s.PeakHeapGrowth }),
		Allocated:      pick(ss, func(s DownloadSample) int64 { return s.Allocated }),
	}
}

// medianRetry is the figure-by-figure median of ss.
func medianRetry(ss []RetrySample) RetrySample {
	m := RetrySample{
		Attempts:           pick(ss, func(s RetrySample) int64 { return s.Attempts }),
		AttemptsLastHalf:   pick(ss, func(s RetrySample) int64 { return s.AttemptsLastHalf }),
		PerRequest:         pick(ss, func(s RetrySample) float64 { return s.PerRequest }),
		PerRequestLastHalf: pick(ss, func(s RetrySample) float64 { return s.PerRequestLastHalf }),
		Succeeded:          pick(ss, func(s RetrySample) float64 { return s.Succeeded }),
		NewConns:           pick(ss, func(s RetrySample) int64 { return s.NewConns }),
		Elapsed:            pick(ss, func(s RetrySample) time.Duration { return s.Elapsed }),
	}
	if len(ss) > 0 {
		m.Requests = ss[0].Requests
	}
	return m
}

// addRatios fills each throughput result's ratios to tuned net/http.
func (r *Report) addRatios() {
	for i := range r.Throughput {
		t := &r.Throughput[i]
		t.RPSRatio, _ = r.compare(t.Workload, t.Client, baseline, func(s Sample) float64 { return s.RPS })
		t.AllocsRatio, _ = r.compare(t.Workload, t.Client, baseline, func(s Sample) float64 { return s.AllocsPerReq })
	}
}

// compare returns figure f of client a over that of client b on a
// workload (0 when either was not measured), and the ratio in each run.
// Each run measures the clients one after the other, so the ratio is the
// median of the per-run ratios: that cancels the drift of a shared machine
// better than a ratio of medians. Results without samples are compared by
// their medians.
func (r *Report) compare(workload, a, b string, f func(Sample) float64) (float64, []float64) {
	ta, ok1 := r.throughput(workload, a)
	tb, ok2 := r.throughput(workload, b)
	if !ok1 || !ok2 {
		return 0, nil
	}
	if len(ta.Samples) == 0 || len(ta.Samples) != len(tb.Samples) {
		return ratio(f(ta.Median), f(tb.Median)), nil
	}
	xs := make([]float64, len(ta.Samples))
	for i := range ta.Samples {
		xs[i] = ratio(f(ta.Samples[i]), f(tb.Samples[i]))
	}
	return median(xs), xs
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// throughput finds a client's result on a workload.
func (r *Report) throughput(workload, client string) (ThroughputResult, bool) {
	for _, t := range r.Throughput {
		if t.Workload == workload && t.Client == client {
			return t, true
		}
	}
	return ThroughputResult{}, false
}

// Targets for courier, from the issue.
const (
	targetRPSvsTuned      = 0.95
	targetRPSvsRetrying   = 1.5
	targetRPSvsAtConc     = 64
	targetAllocsVsTuned   = 1.1
	targetPeakHeapGrowth  = 8 << 20
	targetAttemptsAllFail = 1.1
)

// checkTargets evaluates the targets for courier against r's
// figures. A target whose figures were not measured is left out. The
// JSON GET over TLS is held to the targets at concurrency 64 (1.5 × the
// retrying peers), on connections and on allocations, not to 0.95 ×
// tuned net/http, which the issue set for plain HTTP.
func (r *Report) checkTargets() []Target {
	var ts []Target
	add := func(pass bool, name, figure string, args ...any) {
		ts = append(ts, Target{Name: name, Figure: fmt.Sprintf(figure, args...), Pass: pass})
	}
	rps := func(s Sample) float64 { return s.RPS }
	for _, c := range r.Throughput {
		if c.Client != nameCourier || !c.JSONGet {
			continue
		}
		if b, ok := r.throughput(c.Workload, baseline); ok && !c.TLS {
			x, runs := r.compare(c.Workload, nameCourier, baseline, rps)
			add(x >= targetRPSvsTuned,
				fmt.Sprintf("req/s ≥ %.2f × tuned net/http, %s", targetRPSvsTuned, c.Label),
				"%s (%s vs %s req/s%s)", fmtRatio(x), fmtCount(c.Median.RPS), fmtCount(b.Median.RPS), fmtRuns(runs))
		}
		if c.Concurrency != targetRPSvsAtConc {
			continue
		}
		for _, peer := range []string{nameRestyV3, nameRetryable} {
			if p, ok := r.throughput(c.Workload, peer); ok {
				x, runs := r.compare(c.Workload, nameCourier, peer, rps)
				add(x >= targetRPSvsRetrying,
					fmt.Sprintf("req/s ≥ %.1f × %s, %s", targetRPSvsRetrying, peer, c.Label),
					"%s (%s vs %s req/s%s)", fmtRatio(x), fmtCount(c.Median.RPS), fmtCount(p.Median.RPS), fmtRuns(runs))
			}
		}
	}
	for _, c := range r.Throughput {
		if c.Client != nameCourier {
			continue
		}
		add(c.Median.NewConns <= int64(c.Concurrency),
			fmt.Sprintf("new connections after warm-up ≤ concurrency, %s", c.Label),
			"%d (concurrency %d)", c.Median.NewConns, c.Concurrency)
	}
	for _, c := range r.Throughput {
		if c.Client != nameCourier {
			continue
		}
		if b, ok := r.throughput(c.Workload, baseline); ok {
			add(c.AllocsRatio > 0 && c.AllocsRatio <= targetAllocsVsTuned,
				fmt.Sprintf("allocations/request ≤ %.1f × tuned net/http, %s", targetAllocsVsTuned, c.Label),
				"%s (%.1f vs %.1f)", fmtRatio(c.AllocsRatio), c.Median.AllocsPerReq, b.Median.AllocsPerReq)
		}
	}
	for _, d := range r.Download {
		if d.Client == nameCourier {
			add(d.Median.PeakHeapGrowth < targetPeakHeapGrowth,
				fmt.Sprintf("streamed %s download: peak heap growth < %s", sizeName(r.Config.DownloadBytes), fmtBytes(targetPeakHeapGrowth)),
				"%s", fmtBytes(float64(d.Median.PeakHeapGrowth)))
		}
	}
	for _, x := range r.Resilience {
		if x.Client == nameCourier && x.FailureRate == 1 {
			add(x.Median.PerRequestLastHalf <= targetAttemptsAllFail,
				fmt.Sprintf("attempts per request at 100%% failure ≤ %.1f in steady state (last half)", targetAttemptsAllFail),
				"%.2f (all requests: %.2f)", x.Median.PerRequestLastHalf, x.Median.PerRequest)
		}
	}
	return ts
}

// WriteJSON writes r as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteMarkdown writes r as the tables the README shows, then the targets.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	cfg := r.Config
	p("Measured %s, %s mode: %d CPUs, %s %s/%s. Each figure is the median of %d runs;\n",
		r.Date, cfg.Mode, r.Machine.CPUs, r.Machine.GoVersion, r.Machine.OS, r.Machine.Arch, cfg.Runs)
	p("each run warms a fresh client for %v and measures it for %v.\n", cfg.Warmup, cfg.Measure)

	if len(r.Throughput) > 0 {
		p("\n### Requests\n\n")
		p("| workload | client | req/s | × tuned | p50 | p99 | client CPU/req | allocs/req | bytes/req | allocs × tuned | new conns after warm-up |\n")
		p("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
		errs := false
		for _, t := range r.Throughput {
			m := t.Median
			name := t.Client
			if m.Errors > 0 {
				name += " *"
				errs = true
			}
			p("| %s | %s | %s | %s | %s | %s | %s | %.1f | %s | %s | %d |\n",
				t.Label, name, fmtCount(m.RPS), fmtRatio(t.RPSRatio), fmtDuration(m.P50), fmtDuration(m.P99),
				fmtDuration(m.CPUPerReq), m.AllocsPerReq, fmtBytes(m.BytesPerReq), fmtRatio(t.AllocsRatio), m.NewConns)
		}
		if errs {
			p("\n\\* some requests failed (median errors per run: ")
			var parts []string
			for _, t := range r.Throughput {
				if t.Median.Errors > 0 {
					parts = append(parts, fmt.Sprintf("%s %s: %d", t.Client, t.Label, t.Median.Errors))
				}
			}
			p("%s); failed requests are not counted in req/s.\n", strings.Join(parts, "; "))
		}
	}

	if len(r.Download) > 0 {
		p("\n### Streamed download of %s to io.Discard\n\n", sizeName(cfg.DownloadBytes))
		p("| client | MiB/s | peak heap growth | allocated |\n")
		p("| --- | ---: | ---: | ---: |\n")
		for _, d := range r.Download {
			p("| %s | %s | %s | %s |\n", d.Client, fmtCount(d.Median.MiBPerSec),
				fmtBytes(float64(d.Median.PeakHeapGrowth)), fmtBytes(float64(d.Median.Allocated)))
		}
	}

	if len(r.Resilience) > 0 {
		p("\n### Resilience: %d logical GETs against a server answering 503 to a share of attempts\n\n", cfg.RetryRequests)
		p("| client | failing | attempts/request | attempts/request, last half | succeeded | new conns |\n")
		p("| --- | ---: | ---: | ---: | ---: | ---: |\n")
		for _, x := range r.Resilience {
			p("| %s | %s | %.2f | %.2f | %s | %d |\n", x.Client, fmtPercent(x.FailureRate),
				x.Median.PerRequest, x.Median.PerRequestLastHalf, fmtPercent(x.Median.Succeeded), x.Median.NewConns)
		}
	}

	if len(r.ColdBurst) > 0 {
		p("\n### Cold burst over TLS: a fresh client, all callers released at once\n\n")
		p("Each measurement makes a fresh client that trusts the server's certificate (nothing else set: every client but\n")
		p("fasthttp offers h2 by ALPN), holds its callers at a barrier, releases them together and waits for the last response;\n")
		p("the server counts the connections it accepted for the burst and the protocol of each request. ")
		p("One listener offers h2 and http/1.1 and allows %d concurrent streams per HTTP/2 connection (read from its SETTINGS frame), ", r.H2MaxConcurrentStreams)
		p("the other HTTP/1.1 alone. ")
		p("Ideal: with h2, ⌈callers / %d⌉ connections; over HTTP/1.1, at most one per caller. ", r.H2MaxConcurrentStreams)
		p("fasthttp has no HTTP/2 and is measured over HTTP/1.1 only.\n\n")
		p("| burst | client | protocol | new conns | conns used | ideal | time to last response | errors |\n")
		p("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |\n")
		var errs, serverErrs []string
		for _, x := range r.ColdBurst {
			m := x.Median
			ideal := strconv.FormatInt(x.IdealConns, 10)
			if !x.H2Offered {
				ideal = "≤ " + fmtCount(float64(x.IdealConns))
			}
			p("| %s | %s | %s | %s | %s | %s | %s | %s |\n", x.Label, x.Client, x.Protocol,
				fmtCount(float64(m.NewConns)), fmtCount(float64(m.UsedConns)), ideal, fmtDuration(m.Elapsed), fmtCount(float64(m.Errors)))
			if m.Error != "" {
				errs = append(errs, fmt.Sprintf("%s, %s: %q", x.Client, x.Label, m.Error))
			}
			if m.ServerErrors > 0 {
				serverErrs = append(serverErrs, fmt.Sprintf("%s, %s: %d (%q)", x.Client, x.Label, m.ServerErrors, m.ServerError))
			}
		}
		if len(errs) > 0 {
			p("\nErrors (one per client and burst): %s.\n", strings.Join(errs, "; "))
		}
		if len(serverErrs) > 0 {
			p("\nErrors the server logged (median per burst, and one of them): %s.\n", strings.Join(serverErrs, "; "))
		}
	}

	if len(r.Targets) > 0 {
		p("\n### Targets (courier with its defaults)\n\n")
		p("| target | figure | result |\n")
		p("| --- | --- | --- |\n")
		pass := 0
		for _, t := range r.Targets {
			res := "FAIL"
			if t.Pass {
				res = "pass"
				pass++
			}
			p("| %s | %s | %s |\n", t.Name, t.Figure, res)
		}
		p("\n%d of %d targets met.\n", pass, len(r.Targets))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// fmtRuns lists per-run ratios: "; runs 0.98 1.02 1.05", or "" for none.
func fmtRuns(xs []float64) string {
	if len(xs) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("; per run")
	for _, x := range slices.Sorted(slices.Values(xs)) {
		fmt.Fprintf(&b, " %.2f", x)
	}
	return b.String()
}

// fmtCount writes a count with thousands separators: "12,345".
func fmtCount(x float64) string {
	s := strconv.FormatInt(int64(x+0.5), 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// fmtRatio writes a ratio as "1.02×", or "–" when there is none.
func fmtRatio(x float64) string {
	if x == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", x)
}

// fmtDuration writes a latency with three significant digits.
func fmtDuration(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.3gs", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.3gms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.3gµs", float64(d)/float64(time.Microsecond))
	}
}

// fmtBytes writes a byte count in B, KiB, MiB or GiB.
func fmtBytes(n float64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", n/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", n/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", n/(1<<10))
	}
	return fmt.Sprintf("%.0f B", n)
}

// fmtPercent writes a share as a percentage: "10%", "99.5%".
func fmtPercent(x float64) string {
	return strings.TrimSuffix(strconv.FormatFloat(x*100, 'f', 1, 64), ".0") + "%"
}
