package load

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/textkit/customers/internal/ledger"
)

// recorded builds a report from known answers: 100 commands over three
// seconds, latencies 1..100 ms, every tenth rejected.
func recorded(t *testing.T) *Report {
	t.Helper()
	start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	r := newRecorder(start)
	for i := 1; i <= 100; i++ {
		intended := start.Add(time.Duration(i-1) * 25 * time.Millisecond)
		rec := ledger.Record{IntendedAt: intended, AnsweredAt: intended.Add(time.Duration(i) * time.Millisecond), Answer: ledger.Applied}
		if i%10 == 0 {
			rec.Answer, rec.Code = ledger.Rejected, "VERSION_CONFLICT"
		}
		if i == 55 {
			rec.Answer, rec.Code = ledger.Error, "RATE_LIMITED"
		}
		r.add(&rec)
	}
	rep := &Report{StartedAt: start, Mix: MixLifecycle, Target: ledger.ViaGraphQL, Model: Closed, Workers: 2, MeasuredFrom: start,
		Ceiling: &Ceiling{Clients: 8, MessageBytes: 400, Throughput: 100}}
	r.fill(rep, start.Add(4*time.Second))
	rep.CeilingRatio = rep.Throughput / rep.Ceiling.Throughput
	return rep
}

func TestReportCounts(t *testing.T) {
	rep := recorded(t)
	if rep.Commands != 100 || rep.Throughput != 25 {
		t.Errorf("commands %d, throughput %v; want 100, 25/s", rep.Commands, rep.Throughput)
	}
	want := map[string]int{"APPLIED": 89, "REJECTED": 10, "ERROR": 1, "TIMEOUT": 0}
	for a, n := range want {
		if rep.Answers[a] != n {
			t.Errorf("%s: %d, want %d", a, rep.Answers[a], n)
		}
	}
	if rep.ErrorsByCode["VERSION_CONFLICT"] != 10 || rep.ErrorsByCode["RATE_LIMITED"] != 1 || len(rep.ErrorsByCode) != 2 {
		t.Errorf("errors by code %v", rep.ErrorsByCode)
	}
	// HDR keeps 3 significant digits: 50 ms is 50.0xx ms at most.
	l := rep.Latency
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"p50", l.P50, 50}, {"p90", l.P90, 90}, {"p99", l.P99, 99}, {"p99.9", l.P999, 100}, {"max", l.Max, 100}} {
		if c.got < c.want || c.got > c.want*1.001 {
			t.Errorf("%s = %v ms, want %v", c.name, c.got, c.want)
		}
	}
	// answered at 25(i-1)+i ms: seconds 0, 1 and 2 hold 39, 38 and 23.
	var per []int
	errs := 0
	for _, p := range rep.Timeline {
		per = append(per, p.Commands)
		errs += p.Errors
	}
	if len(per) != 3 || per[0] != 39 || per[1] != 38 || per[2] != 23 || errs != 11 {
		t.Errorf("timeline commands %v, %d errors", per, errs)
	}
	if cs := rep.codes(); len(cs) != 2 || cs[0] != "VERSION_CONFLICT" {
		t.Errorf("codes %v, most frequent first", cs)
	}
}

func TestReportFiles(t *testing.T) {
	rep := recorded(t)
	rep.Resources = &Resources{
		Processes:      []ProcessUsage{{Name: "provisioner", PID: 42, Ours: true, CPUSeconds: 3, MicrosPerCommand: 30000, RSSPeakBytes: 81_200_000, RSSFinalBytes: 80e6}},
		OursCPUSeconds: 3, OursMicrosPerCommand: 30000, StackCPUSeconds: 3, StackMicrosPerCommand: 30000, Cores: 2, MachineIdleShare: 0.37,
	}
	dir := t.TempDir()
	if err := rep.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, ReportJSON))
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Commands != 100 || back.Latency != rep.Latency || len(back.Timeline) != 3 || back.Ceiling.Throughput != 100 ||
		back.Resources == nil || back.Resources.Processes[0] != rep.Resources.Processes[0] {
		t.Errorf("report.json read back as %+v", back)
	}
	for _, k := range []string{`"p99_9"`, `"errorsByCode"`, `"ceilingRatio"`, `"timeline"`, `"throughput"`} {
		if !bytes.Contains(b, []byte(k)) {
			t.Errorf("report.json lacks %s", k)
		}
	}
	page, err := os.ReadFile(filepath.Join(dir, ReportHTML))
	if err != nil {
		t.Fatal(err)
	}
	checkHTML(t, string(page))
	for _, s := range []string{"30000 µs of CPU per command", "provisioner (ours)", "81.2", "idle 37%"} {
		if !strings.Contains(string(page), s) {
			t.Errorf("the page does not say %q", s)
		}
	}
}

// checkHTML: the page is well-formed, self-contained, and holds both
// charts with a line for each series, over every second.
func checkHTML(t *testing.T, page string) {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(strings.Replace(page, "<!DOCTYPE html>", "", 1)))
	dec.Strict, dec.AutoClose, dec.Entity = false, xml.HTMLAutoClose, xml.HTMLEntity
	svgs := 0
	lines := map[string]string{}
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		switch se.Name.Local {
		case "script", "link", "img", "iframe":
			t.Errorf("the page has a <%s>: it must be self-contained", se.Name.Local)
		case "svg":
			svgs++
		case "polyline":
			var name, points string
			for _, a := range se.Attr {
				switch a.Name.Local {
				case "data-name":
					name = a.Value
				case "points":
					points = a.Value
				}
			}
			lines[name] = points
		}
	}
	if svgs != 2 {
		t.Errorf("%d charts, want 2", svgs)
	}
	for _, name := range []string{"p50", "p90", "p99", "max", "answered", "not applied"} {
		if n := len(strings.Fields(lines[name])); n != 3 {
			t.Errorf("series %q has %d points, want 3 (one per second)", name, n)
		}
	}
	for _, s := range []string{"VERSION_CONFLICT", "RATE_LIMITED", "Ceiling", "p99.9"} {
		if !strings.Contains(page, s) {
			t.Errorf("the page does not mention %s", s)
		}
	}
	if strings.Contains(page, "http://") || strings.Contains(page, "https://") {
		t.Error("the page refers to something outside itself")
	}
}

func TestNiceCeil(t *testing.T) {
	for in, want := range map[float64]float64{0: 1, 31: 40, 1: 1, 1.1: 1.2, 3: 3, 7: 8, 100.06: 120, 999: 1000} {
		if got := niceCeil(in); got != want {
			t.Errorf("niceCeil(%v) = %v, want %v", in, got, want)
		}
	}
}

func TestCeilingOnlyPage(t *testing.T) {
	rep := &Report{StartedAt: time.Now(), Mix: MixCeiling, Ceiling: &Ceiling{Clients: 8, MessageBytes: 400, Throughput: 512.5, Messages: 1025, Seconds: 2}}
	var b bytes.Buffer
	if err := rep.WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	if !strings.Contains(page, "512.5/s") || strings.Contains(page, "<svg") || strings.Contains(page, "of it") {
		t.Errorf("a ceiling-only page shows the ceiling and no load:\n%s", page)
	}
}
