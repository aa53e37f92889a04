package main

import (
	"errors"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// WriteChart draws requests/s of the small JSON GET over plain HTTP by
// concurrency, one line per client, and saves it to file (the extension
// picks the format: .png, .svg, .pdf). The JSON GET over TLS, measured at
// one concurrency only, is left out: the table has it.
func (r *Report) WriteChart(file string) error {
	var (
		clients []string
		concs   []int
		lines   = map[string]plotter.XYs{}
	)
	for _, t := range r.Throughput {
		if !t.JSONGet || t.TLS || t.Median.RPS == 0 {
			continue
		}
		if _, ok := lines[t.Client]; !ok {
			clients = append(clients, t.Client)
		}
		lines[t.Client] = append(lines[t.Client], plotter.XY{X: float64(t.Concurrency), Y: t.Median.RPS})
		if !slices.Contains(concs, t.Concurrency) {
			concs = append(concs, t.Concurrency)
		}
	}
	if len(clients) == 0 {
		return errors.New("chart: no JSON GET results to draw")
	}
	slices.Sort(concs)

	p := plot.New()
	p.Title.Text = "GET + decode JSON, plain HTTP: requests/s by concurrency (" + r.Config.Mode + ", median of " + strconv.Itoa(r.Config.Runs) + " runs)"
	p.X.Label.Text = "concurrent callers"
	p.Y.Label.Text = "requests/s"
	p.X.Scale = plot.LogScale{}
	p.X.Min = float64(concs[0]) / 1.5
	p.X.Max = float64(concs[len(concs)-1]) * 1.5
	ticks := make(plot.ConstantTicks, len(concs))
	for i, c := range concs {
		ticks[i] = plot.Tick{Value: float64(c), Label: strconv.Itoa(c)}
	}
	p.X.Tick.Marker = ticks
	p.Y.Min = 0
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	p.Legend.Left = true

	var args []any
	for _, c := range clients {
		xys := lines[c]
		slices.SortFunc(xys, func(a, b plotter.XY) int { return int(a.X - b.X) })
		args = append(args, c, xys)
	}
	if err := plotutil.AddLinePoints(p, args...); err != nil {
		return err
	}
	return p.Save(9*vg.Inch, 5.5*vg.Inch, file)
}
