package load

import (
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// Files written by WriteFiles, beside the ledger (ledger.jsonl).
const (
	ReportJSON = "report.json"
	ReportHTML = "report.html"
	LedgerFile = "ledger.jsonl"
)

// WriteFiles writes rep as dir/report.json and dir/report.html.
func (rep *Report) WriteFiles(dir string) error {
	if err := writeFile(filepath.Join(dir, ReportJSON), rep.WriteJSON); err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, ReportHTML), rep.WriteHTML)
}

func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if err := write(f); err != nil {
		_ = f.Close() // the write error is the one to report
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// WriteJSON writes rep as indented JSON.
func (rep *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// chart geometry, in SVG user units.
const (
	chartW, chartH         = 900, 260
	padL, padR, padT, padB = 60, 20, 20, 40
)

// series is one line of a chart.
type series struct {
	Name, Color string
	Points      template.HTMLAttr // points="…"
}

// chart is one SVG chart.
type chart struct {
	Title, Unit string
	W, H        int
	Series      []series
	YTicks      []tick
	XTicks      []tick
	X0, X1      int // plot area
	Y0, Y1      int
}

type tick struct {
	Pos   float64
	Label string
}

// newChart plots ys (one slice per series, indexed by second).
func newChart(title, unit string, n int, names, colors []string, ys [][]float64) chart {
	c := chart{Title: title, Unit: unit, W: chartW, H: chartH, X0: padL, X1: chartW - padR, Y0: padT, Y1: chartH - padB}
	top := 0.0
	for _, s := range ys {
		for _, v := range s {
			top = math.Max(top, v)
		}
	}
	top = niceCeil(top)
	x := func(i int) float64 {
		if n <= 1 {
			return float64(c.X0)
		}
		return float64(c.X0) + float64(i)*float64(c.X1-c.X0)/float64(n-1)
	}
	y := func(v float64) float64 { return float64(c.Y1) - v/top*float64(c.Y1-c.Y0) }
	for k, s := range ys {
		var b strings.Builder
		for i, v := range s {
			fmt.Fprintf(&b, "%.1f,%.1f ", x(i), y(v))
		}
		c.Series = append(c.Series, series{Name: names[k], Color: colors[k],
			Points: template.HTMLAttr(`points="` + strings.TrimSpace(b.String()) + `"`)})
	}
	for k := 0; k <= 4; k++ {
		v := top * float64(k) / 4
		c.YTicks = append(c.YTicks, tick{Pos: y(v), Label: trimFloat(v)})
	}
	step := max(1, n/10)
	for i := 0; i < n; i += step {
		c.XTicks = append(c.XTicks, tick{Pos: x(i), Label: fmt.Sprintf("%ds", i)})
	}
	return c
}

// niceCeil rounds v up to a round number (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6
// or 8 times a power of ten; 1 for v <= 0): the top of a chart's axis.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func trimFloat(v float64) string {
	s := fmt.Sprintf("%.2f", v)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s
}

// charts returns the latency and throughput charts of rep.
func (rep *Report) charts() []chart {
	n := len(rep.Timeline)
	lat := make([][]float64, 4)
	thr := make([][]float64, 2)
	for _, p := range rep.Timeline {
		lat[0], lat[1], lat[2], lat[3] = append(lat[0], p.P50), append(lat[1], p.P90), append(lat[2], p.P99), append(lat[3], p.Max)
		thr[0], thr[1] = append(thr[0], float64(p.Commands)), append(thr[1], float64(p.Errors))
	}
	return []chart{
		newChart("Latency per second (from the intended send time)", "ms", n,
			[]string{"p50", "p90", "p99", "max"}, []string{"#1b9e77", "#7570b3", "#d95f02", "#999999"}, lat),
		newChart("Throughput per second (commands answered)", "commands/s", n,
			[]string{"answered", "not applied"}, []string{"#1f78b4", "#e31a1c"}, thr),
	}
}

// WriteHTML writes rep as one self-contained HTML page (inline SVG, no
// scripts, nothing fetched).
func (rep *Report) WriteHTML(w io.Writer) error {
	return reportPage.Execute(w, struct {
		R      *Report
		Codes  []string
		Charts []chart
	}{rep, rep.codes(), rep.charts()})
}

var reportPage = template.Must(template.New("report").Funcs(template.FuncMap{
	"f1":  func(v float64) string { return fmt.Sprintf("%.1f", v) },
	"f3":  func(v float64) string { return fmt.Sprintf("%.3f", v) },
	"f0":  func(v float64) string { return fmt.Sprintf("%.0f", v) },
	"pct": func(v float64) string { return fmt.Sprintf("%.0f%%", 100*v) },
	"mb":  func(v int64) string { return fmt.Sprintf("%.1f", float64(v)/1e6) },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>TextKit load report: {{.R.Mix}} via {{.R.Target}}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}
svg{display:block;margin:1em 0;background:#fff;border:1px solid #ddd}
.legend span{margin-right:1.5em}
</style></head><body>
<h1>TextKit load report</h1>
<p>Mix <b>{{.R.Mix}}</b>{{if .R.Target}} via <b>{{.R.Target}}</b>, {{.R.Model}} model{{if .R.Rate}} at {{f1 .R.Rate}} steps/s{{end}}, {{.R.Workers}} workers{{end}};
started {{.R.StartedAt.Format "2006-01-02 15:04:05 UTC"}}; measured {{f1 .R.MeasuredSeconds}} s
({{.R.SetupCommands}} setup commands not counted).{{if .R.Ledger}} Ledger: <code>{{.R.Ledger}}</code>.{{end}}</p>
{{if ne .R.Mix "ceiling"}}<table>
<tr><th>commands</th><th>throughput (/s)</th>{{range $a, $n := .R.Answers}}<th>{{$a}}</th>{{end}}{{if .R.Ceiling}}<th>ceiling (/s)</th><th>ratio</th>{{end}}</tr>
<tr><td>{{.R.Commands}}</td><td>{{f1 .R.Throughput}}</td>{{range $a, $n := .R.Answers}}<td>{{$n}}</td>{{end}}{{if .R.Ceiling}}<td>{{f1 .R.Ceiling.Throughput}}</td><td>{{f3 .R.CeilingRatio}}</td>{{end}}</tr>
</table>
<h2>Latency (ms)</h2>
<table><tr><th>count</th><th>mean</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr>
<tr><td>{{.R.Latency.Count}}</td><td>{{f1 .R.Latency.Mean}}</td><td>{{f1 .R.Latency.P50}}</td><td>{{f1 .R.Latency.P90}}</td><td>{{f1 .R.Latency.P99}}</td><td>{{f1 .R.Latency.P999}}</td><td>{{f1 .R.Latency.Max}}</td></tr></table>
<h2>Not applied, by code</h2>
{{if .Codes}}<table><tr><th>code</th><th>commands</th></tr>{{range .Codes}}<tr><td>{{.}}</td><td>{{index $.R.ErrorsByCode .}}</td></tr>{{end}}</table>{{else}}<p>None: every command was applied.</p>{{end}}
{{range .Charts}}<h2>{{.Title}}</h2>
<p class="legend">{{range .Series}}<span style="color:{{.Color}}">&#9632; {{.Name}}</span>{{end}}</p>
<svg width="{{.W}}" height="{{.H}}" viewBox="0 0 {{.W}} {{.H}}" role="img" aria-label="{{.Title}}">
<line x1="{{.X0}}" y1="{{.Y1}}" x2="{{.X1}}" y2="{{.Y1}}" stroke="#444"/><line x1="{{.X0}}" y1="{{.Y0}}" x2="{{.X0}}" y2="{{.Y1}}" stroke="#444"/>
{{$c := .}}{{range .YTicks}}<line x1="{{$c.X0}}" y1="{{f1 .Pos}}" x2="{{$c.X1}}" y2="{{f1 .Pos}}" stroke="#eee"/><text x="{{$c.X0}}" dx="-4" y="{{f1 .Pos}}" dy="4" font-size="11" text-anchor="end">{{.Label}}</text>
{{end}}{{range .XTicks}}<text x="{{f1 .Pos}}" y="{{$c.Y1}}" dy="16" font-size="11" text-anchor="middle">{{.Label}}</text>
{{end}}<text x="14" y="{{$c.Y0}}" dy="-6" font-size="11">{{.Unit}}</text>
{{range .Series}}<polyline class="series" data-name="{{.Name}}" fill="none" stroke="{{.Color}}" stroke-width="1.5" {{.Points}}/>
{{end}}</svg>
{{end}}{{end}}{{if .R.Ceiling}}<h2>Ceiling</h2>
<p>{{.R.Ceiling.Clients}} clients publishing {{.R.Ceiling.MessageBytes}}-byte messages synchronously to a JetStream stream of their own on the stack's nats-server for {{f1 .R.Ceiling.Seconds}} s:
{{.R.Ceiling.Messages}} messages, {{f1 .R.Ceiling.Throughput}}/s, p99 {{f1 .R.Ceiling.Latency.P99}} ms.
{{if .R.CeilingRatio}}This run's throughput is {{f3 .R.CeilingRatio}} of it.{{end}}</p>{{end}}
{{with .R.Resources}}<h2>CPU and memory over the measured phase</h2>
<p>Our services together: <b>{{f0 .OursMicrosPerCommand}} µs of CPU per command</b> ({{f1 .OursCPUSeconds}} s); the whole stack with NATS, Redis and Vault: {{f0 .StackMicrosPerCommand}} µs per command ({{f1 .StackCPUSeconds}} s).
The machine ({{.Cores}} cores) was idle {{pct .MachineIdleShare}} of the time; all its busy CPU time, other programs included: {{f1 .MachineBusyCPUSeconds}} s.</p>
<table><tr><th>process</th><th>pid</th><th>µs CPU / command</th><th>CPU s</th><th>user s</th><th>system s</th><th>RSS peak (MB)</th><th>RSS final (MB)</th></tr>
{{range .Processes}}<tr><td>{{.Name}}{{if .Ours}} (ours){{end}}{{if .Exited}} (exited){{end}}</td><td>{{.PID}}</td><td>{{f0 .MicrosPerCommand}}</td><td>{{f1 .CPUSeconds}}</td><td>{{f1 .UserSeconds}}</td><td>{{f1 .SystemSeconds}}</td><td>{{mb .RSSPeakBytes}}</td><td>{{mb .RSSFinalBytes}}</td></tr>
{{end}}</table>{{if .Missing}}<p>Not measured (no pid file, or not running): {{range .Missing}}{{.}} {{end}}</p>{{end}}{{end}}
</body></html>
`))
