package main

import (
	"flag"
	"fmt"
	"html"
	"io"
	"math"
	"os"
	"sort"
	"strings"
)

// runChart is `tbload chart`: an SVG of latency percentiles and memory per client
// against the number of clients, for each target, from one or more -json reports.
func runChart(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tbload chart", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "latency.svg", "the SVG to write")
	mode := fs.String("mode", "single", "which runs' latencies to draw: single or batch")
	title := fs.String("title", "Tickerboard vs a minimal net/http broadcaster", "the chart's title")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return fmt.Errorf("chart: give one or more results files written by -json")
	}
	var results []Result
	for _, path := range fs.Args() {
		rep, err := readReport(path)
		if err != nil {
			return fmt.Errorf("chart: %w", err)
		}
		results = append(results, rep.Results...)
	}
	svg, err := chartSVG(results, *mode, *title)
	if err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	if err := os.WriteFile(*out, []byte(svg), 0o644); err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	fmt.Fprintf(stdout, "wrote %s\n", *out)
	return nil
}

// series is one line on a panel: y (median over repeats) at each client count.
type series struct {
	name   string
	color  string
	dashed bool
	points map[int]float64
}

func collect(results []Result, keep func(Result) bool, target string, y func(Result) float64) map[int]float64 {
	vals := map[int][]float64{}
	for _, r := range results {
		if r.Target == target && keep(r) {
			if v := y(r); v > 0 && !math.IsNaN(v) {
				vals[r.Clients] = append(vals[r.Clients], v)
			}
		}
	}
	out := map[int]float64{}
	for c, vs := range vals {
		out[c] = median(vs)
	}
	return out
}

var targetColors = map[string]string{"tickerboard": "#1565c0", "baseline": "#c62828"}

func chartSVG(results []Result, mode, title string) (string, error) {
	loaded := func(r Result) bool { return r.Mode == mode }
	anyRun := func(Result) bool { return true }
	var lat, mem []series
	for _, target := range []string{"tickerboard", "baseline"} {
		c := targetColors[target]
		lat = append(lat,
			series{target + " p99", c, false, collect(results, loaded, target, func(r Result) float64 { return r.P99Ms })},
			series{target + " p50", c, true, collect(results, loaded, target, func(r Result) float64 { return r.P50Ms })})
		mem = append(mem, series{target, c, false, collect(results, anyRun, target, func(r Result) float64 { return r.IdleKiBPerClient })})
	}
	empty := true
	for _, s := range append(append([]series{}, lat...), mem...) {
		empty = empty && len(s.points) == 0
	}
	if empty {
		return "", fmt.Errorf("no %s runs with latencies or memory to draw", mode)
	}
	var b strings.Builder
	const w, h = 960, 440
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", w, h)
	fmt.Fprintf(&b, `<text x="%d" y="24" font-size="16" text-anchor="middle">%s</text>`+"\n", w/2, html.EscapeString(title))
	panel(&b, 60, 50, 400, 300, "commit → receive latency (ms, log)", true, lat)
	panel(&b, 540, 50, 400, 300, "server RSS per idle client (KiB)", false, mem)
	b.WriteString("</svg>\n")
	return b.String(), nil
}

// panel draws one plot: clients on a log x axis, y on a log or linear axis, a legend.
func panel(b *strings.Builder, x0, y0, pw, ph float64, label string, logY bool, ss []series) {
	var xs []int
	seen := map[int]bool{}
	ymin, ymax := math.Inf(1), math.Inf(-1)
	for _, s := range ss {
		for c, v := range s.points {
			if !seen[c] {
				seen[c] = true
				xs = append(xs, c)
			}
			ymin, ymax = math.Min(ymin, v), math.Max(ymax, v)
		}
	}
	sort.Ints(xs)
	if len(xs) == 0 {
		return
	}
	xlo, xhi := math.Log10(float64(xs[0])), math.Log10(float64(xs[len(xs)-1]))
	if xhi-xlo < 1e-9 {
		xlo, xhi = xlo-0.5, xhi+0.5
	}
	var ylo, yhi float64
	if logY {
		ylo, yhi = math.Floor(math.Log10(ymin)), math.Ceil(math.Log10(ymax))
		if yhi == ylo {
			yhi++
		}
	} else {
		ylo, yhi = 0, niceCeil(ymax*1.1)
	}
	px := func(c float64) float64 { return x0 + (math.Log10(c)-xlo)/(xhi-xlo)*pw }
	py := func(v float64) float64 {
		if logY {
			v = math.Log10(v)
		}
		return y0 + ph - (v-ylo)/(yhi-ylo)*ph
	}
	fmt.Fprintf(b, `<text x="%.0f" y="%.0f" text-anchor="middle">%s</text>`+"\n", x0+pw/2, y0-8, html.EscapeString(label))
	fmt.Fprintf(b, `<rect x="%.0f" y="%.0f" width="%.0f" height="%.0f" fill="none" stroke="#888"/>`+"\n", x0, y0, pw, ph)
	// y grid
	if logY {
		for e := ylo; e <= yhi; e++ {
			v := math.Pow(10, e)
			gridY(b, x0, pw, py(v), trimFloat(v))
		}
	} else {
		step := niceCeil((yhi - ylo) / 5)
		for v := ylo; v <= yhi+1e-9; v += step {
			gridY(b, x0, pw, py(v), trimFloat(v))
		}
	}
	for _, c := range xs {
		x := px(float64(c))
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="#eee"/>`+"\n", x, y0, x, y0+ph)
		fmt.Fprintf(b, `<text x="%.1f" y="%.0f" text-anchor="middle">%d</text>`+"\n", x, y0+ph+16, c)
	}
	fmt.Fprintf(b, `<text x="%.0f" y="%.0f" text-anchor="middle">clients</text>`+"\n", x0+pw/2, y0+ph+34)
	for i, s := range ss {
		var pts []string
		for _, c := range xs {
			if v, ok := s.points[c]; ok {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(float64(c)), py(v)))
			}
		}
		dash := ""
		if s.dashed {
			dash = ` stroke-dasharray="6 4"`
		}
		if len(pts) > 0 {
			fmt.Fprintf(b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"%s/>`+"\n", strings.Join(pts, " "), s.color, dash)
			for _, p := range pts {
				xy := strings.Split(p, ",")
				fmt.Fprintf(b, `<circle cx="%s" cy="%s" r="3" fill="%s"/>`+"\n", xy[0], xy[1], s.color)
			}
		}
		ly := y0 + ph + 52 + float64(i/2)*16
		lx := x0 + float64(i%2)*pw/2
		fmt.Fprintf(b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="%s" stroke-width="2"%s/>`+"\n", lx, ly-4, lx+24, ly-4, s.color, dash)
		fmt.Fprintf(b, `<text x="%.0f" y="%.0f">%s</text>`+"\n", lx+30, ly, html.EscapeString(s.name))
	}
}

func gridY(b *strings.Builder, x0, pw, y float64, label string) {
	fmt.Fprintf(b, `<line x1="%.0f" y1="%.1f" x2="%.0f" y2="%.1f" stroke="#eee"/>`+"\n", x0, y, x0+pw, y)
	fmt.Fprintf(b, `<text x="%.0f" y="%.1f" text-anchor="end">%s</text>`+"\n", x0-6, y+4, label)
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func trimFloat(v float64) string {
	s := fmt.Sprintf("%.3f", v)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s
}
