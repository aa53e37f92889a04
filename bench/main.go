// Command bench compares courier with its peers: net/http (Go's default
// transport, and tuned), resty v3 and v2, go-retryablehttp, fasthttp, and for
// retries failsafe-go. It measures requests/s, latency, allocations and
// bytes per request, new connections, a streamed download's peak heap,
// attempts per logical request against a failing server, and the
// connections a fresh client opens for a burst of requests over TLS
// (HTTP/2 offered, and HTTP/1.1 alone). The server runs
// in a process of its own (this binary, started again), so that every
// figure taken in this process is the client's alone.
//
//	go run .                 # full mode, about eleven minutes: the README's tables
//	go run . -quick          # under a minute, with a 64 MiB download and no cold bursts
//	go run . -only coldburst # the cold bursts alone (about 20 s a run)
//	go run . -json           # JSON instead of markdown
//	go run . -chart rps.png  # also draw requests/s by concurrency
//	go run . -from r.json    # render a report saved with -json again
//
// See README.md for what each figure means and how it is measured.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"time"
)

func main() {
	code := 0
	if os.Getenv(serverEnv) == "1" {
		if err := serve(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "bench server:", err)
			code = 1
		}
	} else if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "bench:", err)
		}
		code = 1
	}
	os.Exit(code)
}

// sections of a run, as -only names them.
const (
	sectionRequests   = "requests"
	sectionDownload   = "download"
	sectionResilience = "resilience"
	sectionColdBurst  = "coldburst"
)

// run parses the command line, starts the server, measures, and writes the
// report to stdout; progress goes to stderr.
func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		quick      = fs.Bool("quick", false, "quick mode: short phases, 64 MiB download (under a minute)")
		asJSON     = fs.Bool("json", false, "write the report as JSON instead of markdown")
		chart      = fs.String("chart", "", "also draw requests/s by concurrency into this `file` (.png)")
		runs       = fs.Int("runs", 0, "measure each figure this many times (default: 3 quick, 5 full)")
		clients    = fs.String("clients", "", "comma-separated `names` of the clients to measure (default all)")
		wls        = fs.String("workloads", "", "comma-separated `IDs` of the request workloads to run, such as get-json-c64 (default all)")
		only       = fs.String("only", "", "comma-separated `sections` to run: requests, download, resilience, coldburst (default all; all but coldburst with -quick)")
		from       = fs.String("from", "", "measure nothing: write the report saved with -json in `file` (as markdown, or JSON, and the chart)")
		cpuprofile = fs.String("cpuprofile", "", "write a CPU profile of the client process to `file`")
		memprofile = fs.String("memprofile", "", "write an allocation profile of the client process to `file`")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	cfg := FullConfig()
	if *quick {
		cfg = QuickConfig()
	}
	if *runs > 0 {
		cfg.Runs = *runs
	}
	cfg.Clients = splitList(*clients)
	cfg.Workloads = splitList(*wls)
	sections, err := parseSections(*only, *quick)
	if err != nil {
		return err
	}
	if *memprofile != "" {
		runtime.MemProfileRate = 4096
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	var rep *Report
	if *from != "" {
		data, err := os.ReadFile(*from)
		if err != nil {
			return err
		}
		rep = new(Report)
		if err := json.Unmarshal(data, rep); err != nil {
			return fmt.Errorf("%s: %w", *from, err)
		}
	} else {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		defer stop()
		srv, err := StartServer()
		if err != nil {
			return err
		}
		defer srv.Stop()

		start := time.Now()
		if rep, err = Run(ctx, cfg, srv, sections, stderr); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "done in %v\n", time.Since(start).Round(time.Second))
		if *memprofile != "" {
			if err := writeHeapProfile(*memprofile); err != nil {
				return err
			}
		}
	}
	if *chart != "" {
		if err := rep.WriteChart(*chart); err != nil {
			return err
		}
	}
	if *asJSON {
		return rep.WriteJSON(stdout)
	}
	return rep.WriteMarkdown(stdout)
}

func writeHeapProfile(file string) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// parseSections reads -only: the sections named, or none for all; but a
// quick run leaves the cold bursts out unless -only names them, since
// they take about 25 s a run on two cores (thousands of TLS handshakes).
func parseSections(only string, quick bool) ([]string, error) {
	all := []string{sectionRequests, sectionDownload, sectionResilience, sectionColdBurst}
	sections := splitList(only)
	for _, s := range sections {
		if !slices.Contains(all, s) {
			return nil, fmt.Errorf("-only: unknown section %q", s)
		}
	}
	if len(sections) == 0 && quick {
		sections = slices.DeleteFunc(all, func(s string) bool { return s == sectionColdBurst })
	}
	return sections, nil
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// keep returns the contenders named in names (all when names is empty).
func keep(cs []Contender, names []string) []Contender {
	if len(names) == 0 {
		return cs
	}
	return slices.DeleteFunc(slices.Clone(cs), func(c Contender) bool { return !slices.Contains(names, c.Name) })
}

// Run measures every section of cfg (those in sections, or all when it is
// empty) against srv, logging progress to progress, and returns the
// report with its medians, ratios and targets.
func Run(ctx context.Context, cfg Config, srv *Server, sections []string, progress io.Writer) (*Report, error) {
	rep := &Report{
		Date:   time.Now().Format(time.DateOnly),
		Config: cfg,
		Machine: Machine{
			CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH,
		},
	}
	want := func(s string) bool { return len(sections) == 0 || slices.Contains(sections, s) }
	cons := keep(contenders(), cfg.Clients)
	if len(cons) == 0 && (want(sectionRequests) || want(sectionDownload) || want(sectionColdBurst)) {
		return nil, fmt.Errorf("no client named %q", cfg.Clients)
	}
	logf := func(format string, args ...any) { fmt.Fprintf(progress, format+"\n", args...) }

	if want(sectionRequests) {
		ws := workloads(cfg)
		got := map[[2]string][]Sample{}
		for r := range cfg.Runs {
			for _, w := range ws {
				for _, c := range order(cons, r) {
					if err := ctx.Err(); err != nil {
						return nil, err
					}
					s, err := measureThroughput(ctx, srv, c, w, cfg)
					if err != nil {
						return nil, fmt.Errorf("%s, %s: %w", w.Label, c.Name, err)
					}
					logf("run %d/%d  %-19s %-16s %9s req/s  p99 %7s  cpu %7s/req  %6.1f allocs/req  %d new conns",
						r+1, cfg.Runs, w.Label, c.Name, fmtCount(s.RPS), fmtDuration(s.P99), fmtDuration(s.CPUPerReq), s.AllocsPerReq, s.NewConns)
					k := [2]string{w.ID, c.Name}
					got[k] = append(got[k], s)
				}
			}
		}
		for _, w := range ws {
			for _, c := range cons {
				ss := got[[2]string{w.ID, c.Name}]
				rep.Throughput = append(rep.Throughput, ThroughputResult{
					Workload: w.ID, Label: w.Label, Concurrency: w.Concurrency, JSONGet: w.JSONGet, TLS: w.TLS,
					Client: c.Name, Median: medianSample(ss), Samples: ss,
				})
			}
		}
		rep.addRatios()
	}

	if want(sectionDownload) {
		got := map[string][]DownloadSample{}
		for r := range cfg.Runs {
			for _, c := range order(cons, r) {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				s, err := measureDownload(ctx, srv, c, cfg.DownloadBytes, io.Discard)
				if err != nil {
					return nil, fmt.Errorf("download, %s: %w", c.Name, err)
				}
				logf("run %d/%d  download %-7s %-16s %7s MiB/s  peak heap +%s",
					r+1, cfg.Runs, sizeName(cfg.DownloadBytes), c.Name, fmtCount(s.MiBPerSec), fmtBytes(float64(s.PeakHeapGrowth)))
				got[c.Name] = append(got[c.Name], s)
			}
		}
		for _, c := range cons {
			rep.Download = append(rep.Download, DownloadResult{Client: c.Name, Median: medianDownload(got[c.Name]), Samples: got[c.Name]})
		}
	}

	if want(sectionResilience) {
		rcons := keep(retryContenders(), cfg.Clients)
		got := map[string][]RetrySample{}
		key := func(c string, rate float64) string { return fmt.Sprintf("%s@%g", c, rate) }
		for r := range cfg.Runs {
			for _, rate := range cfg.FailureRates {
				for _, c := range order(rcons, r) {
					if err := ctx.Err(); err != nil {
						return nil, err
					}
					s, err := measureResilience(ctx, srv, c, rate, cfg.RetryRequests, cfg.RetryConcurrency)
					if err != nil {
						return nil, fmt.Errorf("resilience %s, %s: %w", fmtPercent(rate), c.Name, err)
					}
					logf("run %d/%d  %4s failing  %-16s %.2f attempts/request (last half %.2f), %s succeeded, %v",
						r+1, cfg.Runs, fmtPercent(rate), c.Name, s.PerRequest, s.PerRequestLastHalf, fmtPercent(s.Succeeded), s.Elapsed.Round(time.Millisecond))
					got[key(c.Name, rate)] = append(got[key(c.Name, rate)], s)
				}
			}
		}
		for _, rate := range cfg.FailureRates {
			for _, c := range rcons {
				ss := got[key(c.Name, rate)]
				rep.Resilience = append(rep.Resilience, ResilienceResult{Client: c.Name, FailureRate: rate, Median: medianRetry(ss), Samples: ss})
			}
		}
	}
	if bs := bursts(cfg); want(sectionColdBurst) && len(bs) > 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ms, err := srv.H2MaxConcurrentStreams(ctx)
		if err != nil {
			return nil, err
		}
		rep.H2MaxConcurrentStreams = ms
		logf("cold burst: the server allows %d concurrent streams per HTTP/2 connection", ms)
		got := map[[2]string][]BurstSample{}
		for r := range cfg.Runs {
			for _, b := range bs {
				for _, c := range order(cons, r) {
					if b.H2 && !hasHTTP2(c.Name) {
						continue
					}
					if err := ctx.Err(); err != nil {
						return nil, err
					}
					s, err := measureColdBurst(ctx, srv, c, b)
					if err != nil {
						return nil, fmt.Errorf("cold burst %s, %s: %w", b.Label, c.Name, err)
					}
					logf("run %d/%d  %-37s %-16s %5d new conns (%d used, %d h2 + %d http/1.1 requests)  last response %7s  %d errors (server: %d)",
						r+1, cfg.Runs, b.Label, c.Name, s.NewConns, s.UsedConns, s.H2Requests, s.H1Requests, fmtDuration(s.Elapsed), s.Errors, s.ServerErrors)
					k := [2]string{b.ID, c.Name}
					got[k] = append(got[k], s)
				}
			}
		}
		for _, b := range bs {
			for _, c := range cons {
				ss, ok := got[[2]string{b.ID, c.Name}]
				if !ok {
					continue
				}
				rep.ColdBurst = append(rep.ColdBurst, ColdBurstResult{
					Burst: b.ID, Label: b.Label, H2Offered: b.H2, Callers: b.Callers, Requests: b.Requests,
					Client: c.Name, IdealConns: idealConns(b, ms), Protocol: protocolOf(ss),
					Median: medianBurst(ss), Samples: ss,
				})
			}
		}
	}
	rep.Targets = rep.checkTargets()
	return rep, nil
}
