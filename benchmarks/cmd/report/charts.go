package main

import (
	"encoding/json"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/rotasafe/rotasafe/benchmarks/fleet"
)

var (
	blue  = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	red   = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}
	gray  = color.RGBA{R: 0x70, G: 0x70, B: 0x70, A: 0xff}
	green = color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}
)

// runLabel names a fleet run's strategy in charts, and runColor gives it its color: rotasafe
// with rotation notices is told apart from rotasafe pulling.
func runLabel(f *fleet.Result) string {
	if f.Config.Scenario == fleet.RotationNotices {
		if f.Config.NoticeLoss > 0 {
			return fmt.Sprintf("%s with notices, %.0f %% lost", f.Config.Strategy, 100*f.Config.NoticeLoss)
		}
		return string(f.Config.Strategy) + " with notices"
	}
	return string(f.Config.Strategy)
}

func runColor(f *fleet.Result) color.Color {
	if f.Config.Scenario == fleet.RotationNotices {
		return green
	}
	return colorOf(string(f.Config.Strategy))
}

// colorOf gives each implementation one color in every chart.
func colorOf(impl string) color.Color {
	if impl == string(fleet.Rotasafe) {
		return blue
	}
	return red
}

// readDurations reads the samples a benchmark wrote with writeSamples.
func readDurations(path string) ([]time.Duration, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var d []time.Duration
	return d, json.Unmarshal(b, &d)
}

// drawCharts writes the charts and returns their file names (relative to the report), keyed
// by what they show.
func drawCharts(dir string, fleets []*fleet.Result, rec map[string][]time.Duration) (map[string]string, error) {
	out := map[string]string{}
	if len(fleets) > 0 {
		for _, sc := range []fleet.Scenario{fleet.Rotation, fleet.Expiry} {
			var runs []*fleet.Result
			largest := 0
			for _, f := range fleets {
				if f.Config.Scenario == sc && !f.Config.RemovePending {
					runs = append(runs, f)
					largest = max(largest, f.Config.Instances)
				}
			}
			if len(runs) == 0 {
				continue
			}
			name := "fleet-" + string(sc) + ".png"
			if err := fleetChart(filepath.Join(dir, name), runs, largest); err != nil {
				return nil, err
			}
			out["fleet-"+string(sc)] = "results/" + name
		}
		// Notices (5d) against rotasafe pulling (5a), at the largest fleet with notices.
		var runs []*fleet.Result
		largest := 0
		for _, f := range fleets {
			if f.Config.Scenario == fleet.RotationNotices {
				largest = max(largest, f.Config.Instances)
			}
		}
		for _, f := range fleets {
			if f.Config.Instances == largest && !f.Config.RemovePending && f.Config.Strategy == fleet.Rotasafe && f.Config.NoticeLoss == 0 &&
				(f.Config.Scenario == fleet.Rotation || f.Config.Scenario == fleet.RotationNotices) {
				runs = append(runs, f)
			}
		}
		if largest > 0 {
			name := "fleet-notices.png"
			if err := fleetChart(filepath.Join(dir, name), runs, largest); err != nil {
				return nil, err
			}
			out["fleet-notices"] = "results/" + name
			name = "fleet-notices-rejected.png"
			if err := rejectedChart(filepath.Join(dir, name), fleets); err != nil {
				return nil, err
			}
			out["fleet-notices-rejected"] = "results/" + name
		}
		name := "fleet-peak.png"
		if err := peakChart(filepath.Join(dir, name), fleets); err != nil {
			return nil, err
		}
		out["peak"] = "results/" + name
	}
	if len(rec) > 0 {
		name := "recover.png"
		if err := recoverChart(filepath.Join(dir, name), rec); err != nil {
			return nil, err
		}
		out["recover"] = "results/" + name
	}
	return out, nil
}

func line(xy plotter.XYs, c color.Color, width float64, dashed bool) (*plotter.Line, error) {
	l, err := plotter.NewLine(xy)
	if err != nil {
		return nil, err
	}
	l.Color = c
	l.Width = vg.Points(width)
	if dashed {
		l.Dashes = []vg.Length{vg.Points(6), vg.Points(4)}
	}
	return l, nil
}

// fleetChart plots Secrets Manager calls per second over (modeled) time for each strategy at
// n instances, with the throttled calls, the rate limit and the rotation's two moments.
func fleetChart(path string, fleets []*fleet.Result, n int) error {
	p := plot.New()
	what := "single-user rotation"
	for _, f := range fleets {
		switch f.Config.Scenario {
		case fleet.Expiry:
			what = "lockstep expiry"
		case fleet.RotationNotices:
			what = "single-user rotation, pulling vs notices"
		}
	}
	p.Title.Text = fmt.Sprintf("Fleet of %d instances, %s: Secrets Manager requests per second", n, what)
	p.X.Label.Text = "time (s, modeled)"
	p.Y.Label.Text = "requests per second"
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	var top float64
	var ref *fleet.Result
	for _, f := range fleets {
		if f.Config.Instances != n {
			continue
		}
		ref = f
		perSec := float64(time.Second) / float64(f.Config.Bin)
		calls, thr := make(plotter.XYs, len(f.Calls)), make(plotter.XYs, len(f.Calls))
		for i := range f.Calls {
			x := (float64(i) + 0.5) * f.Config.Bin.Seconds()
			calls[i] = plotter.XY{X: x, Y: float64(f.Calls[i]) * perSec}
			thr[i] = plotter.XY{X: x, Y: float64(f.Throttled[i]) * perSec}
			top = max(top, calls[i].Y)
		}
		s := runLabel(f)
		l, err := line(calls, runColor(f), 2, false)
		if err != nil {
			return err
		}
		t, err := line(thr, runColor(f), 1, true)
		if err != nil {
			return err
		}
		p.Add(l, t)
		p.Legend.Add(s+": requests", l)
		p.Legend.Add(s+": throttled", t)
	}
	if ref == nil {
		return nil
	}
	end := ref.Config.Duration.Seconds()
	lim, err := line(plotter.XYs{{X: 0, Y: ref.Limit}, {X: end, Y: ref.Limit}}, gray, 1.5, true)
	if err != nil {
		return err
	}
	p.Add(lim)
	p.Legend.Add("rate limit (GetSecretValue)", lim)
	marks := []time.Duration{ref.Config.RotateAt, ref.Config.RotateAt + ref.Config.Window}
	if ref.Config.Scenario == fleet.Expiry {
		marks = []time.Duration{ref.Config.RotateAt, 6 * time.Second}
	}
	for _, at := range marks {
		v, err := line(plotter.XYs{{X: at.Seconds(), Y: 0}, {X: at.Seconds(), Y: max(top, ref.Limit) * 1.05}}, gray, 0.75, false)
		if err != nil {
			return err
		}
		p.Add(v)
	}
	p.X.Min, p.X.Max, p.Y.Min = 0, end, 0
	p.Y.Max = max(top, ref.Limit) * 1.45 // room for the legend
	return p.Save(9*vg.Inch, 5*vg.Inch, path)
}

// fleetSizePlot returns a plot of something against the fleet size, with a grid and the
// legend at the top left.
func fleetSizePlot(title, yLabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "instances"
	p.Y.Label.Text = yLabel
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	return p
}

// peakChart plots the peak calls per second against the fleet size.
func peakChart(path string, fleets []*fleet.Result) error {
	p := fleetSizePlot("Peak Secrets Manager requests per second (any 1 s window) vs fleet size", "peak requests per second")
	type key struct {
		sc fleet.Scenario
		s  fleet.Strategy
	}
	by := map[key]plotter.XYs{}
	var limit plotter.XYs
	for _, f := range fleets {
		if f.Config.RemovePending {
			continue
		}
		k := key{f.Config.Scenario, f.Config.Strategy}
		by[k] = append(by[k], plotter.XY{X: float64(f.Config.Instances), Y: float64(f.PeakPerSecond)})
		if k == (key{fleet.Rotation, fleet.Rotasafe}) {
			limit = append(limit, plotter.XY{X: float64(f.Config.Instances), Y: f.Limit})
		}
	}
	for _, sc := range []fleet.Scenario{fleet.Rotation, fleet.Expiry} {
		for _, s := range []fleet.Strategy{fleet.Rotasafe, fleet.Baseline} {
			xy := by[key{sc, s}]
			if len(xy) == 0 {
				continue
			}
			l, err := series(p, xy, colorOf(string(s)), sc == fleet.Expiry)
			if err != nil {
				return err
			}
			p.Legend.Add(fmt.Sprintf("%s, %s", s, sc), l)
		}
	}
	if len(limit) > 0 {
		slices.SortFunc(limit, func(a, b plotter.XY) int { return int(a.X - b.X) })
		l, err := line(limit, gray, 1, true)
		if err != nil {
			return err
		}
		p.Add(l)
		p.Legend.Add("rate limit", l)
	}
	p.X.Min, p.Y.Min = 0, 0
	return p.Save(7*vg.Inch, 4.5*vg.Inch, path)
}

// series adds xy, sorted by X, to p as a line of width 2 (dashed or not) with its points, all
// in c, and returns the line for the legend.
func series(p *plot.Plot, xy plotter.XYs, c color.Color, dashed bool) (*plotter.Line, error) {
	slices.SortFunc(xy, func(a, b plotter.XY) int { return int(a.X - b.X) })
	l, err := line(xy, c, 2, dashed)
	if err != nil {
		return nil, err
	}
	pts, err := plotter.NewScatter(xy)
	if err != nil {
		return nil, err
	}
	pts.Color = c
	p.Add(l, pts)
	return l, nil
}

// rejectedChart plots the rejected logins of one rotation, summed over the fleet, against the
// fleet size: rotasafe pulling (5a) and with notices (5d).
func rejectedChart(path string, fleets []*fleet.Result) error {
	p := fleetSizePlot("Rejected logins in one single-user rotation, summed over the fleet", "rejected logins")
	for _, sc := range []fleet.Scenario{fleet.Rotation, fleet.RotationNotices} {
		var xy plotter.XYs
		var ref *fleet.Result
		for _, f := range fleets {
			if f.Config.Scenario == sc && f.Config.Strategy == fleet.Rotasafe && !f.Config.RemovePending && f.Config.NoticeLoss == 0 {
				xy = append(xy, plotter.XY{X: float64(f.Config.Instances), Y: float64(f.Rejected.Total())})
				ref = f
			}
		}
		if ref == nil {
			continue
		}
		l, err := series(p, xy, runColor(ref), false)
		if err != nil {
			return err
		}
		label := "rotasafe pulling (5a)"
		if sc == fleet.RotationNotices {
			label = "rotasafe with notices (5d)"
		}
		p.Legend.Add(label, l)
	}
	p.X.Min, p.Y.Min = 0, 0
	return p.Save(7*vg.Inch, 4.5*vg.Inch, path)
}

// recoverChart plots the empirical distribution (CDF) of the time to recover, log time axis.
func recoverChart(path string, rec map[string][]time.Duration) error {
	p := plot.New()
	p.Title.Text = "Time from the password change to the first successful query (single user)"
	p.X.Label.Text = "milliseconds (log scale)"
	p.Y.Label.Text = "fraction of rotations"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	series := []struct {
		key, label string
		c          color.Color
		dashed     bool
	}{
		{"rotasafe", "rotasafe", blue, false},
		{"cachinggo", "cachinggo", red, false},
		{"floor", "floor during the rotation", gray, false},
		{"idlefloor", "floor, no rotation", gray, true},
	}
	for _, sr := range series {
		d := slices.Clone(rec[sr.key])
		if len(d) == 0 {
			continue
		}
		slices.Sort(d)
		xy := make(plotter.XYs, 0, 2*len(d))
		for i, v := range d {
			ms := max(float64(v)/1e6, 0.01)
			xy = append(xy, plotter.XY{X: ms, Y: float64(i) / float64(len(d))}, plotter.XY{X: ms, Y: float64(i+1) / float64(len(d))})
		}
		l, err := line(xy, sr.c, 2, sr.dashed)
		if err != nil {
			return err
		}
		p.Add(l)
		p.Legend.Add(fmt.Sprintf("%s (%d rotations)", sr.label, len(d)), l)
	}
	p.Y.Min, p.Y.Max = 0, 1
	p.Legend.Top, p.Legend.Left = false, false
	p.Legend.XOffs = -vg.Points(10)
	p.Legend.YOffs = vg.Points(10)
	if lo, hi := rangeMs(rec); hi > 0 {
		p.X.Min, p.X.Max = lo/1.5, hi*1.5
	}
	return p.Save(8*vg.Inch, 4.5*vg.Inch, path)
}

// rangeMs returns the smallest and largest sample, in milliseconds.
func rangeMs(rec map[string][]time.Duration) (lo, hi float64) {
	lo = math.Inf(1)
	for _, d := range rec {
		for _, v := range d {
			ms := max(float64(v)/1e6, 0.01)
			lo, hi = min(lo, ms), max(hi, ms)
		}
	}
	return lo, hi
}
