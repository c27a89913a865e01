package load

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
)

// fakeProc writes a /proc-like tree: the machine's cpu line and, for each
// pid, its stat (utime, stime in ticks) and statm (resident pages).
type fakeProc struct {
	t   *testing.T
	dir string
}

func (f fakeProc) machine(idle, busy int64) {
	f.write("stat", fmt.Sprintf("cpu  %d 0 0 %d 0 0 0 0 0 0\ncpu0 1 0 0 1 0 0 0 0 0 0\ncpu1 1 0 0 1 0 0 0 0 0 0\nintr 1\n", busy, idle))
}

func (f fakeProc) proc(pid int, utime, stime, rssPages int64) {
	p := strconv.Itoa(pid)
	f.write(filepath.Join(p, "stat"), fmt.Sprintf("%d (a (weird) name) S 1 1 1 0 -1 0 0 0 0 0 %d %d 0 0 20 0 1 0 1 1 1\n", pid, utime, stime))
	f.write(filepath.Join(p, "statm"), fmt.Sprintf("1000 %d 10 1 0 50 0\n", rssPages))
}

func (f fakeProc) write(name, content string) {
	path := filepath.Join(f.dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

// CPU is the difference over the phase, RSS the peak of the samples,
// ours and the stack are summed apart, and a service with no pid file
// is named as missing.
func TestSamplerMeasuresTheStacksProcesses(t *testing.T) {
	fp := fakeProc{t: t, dir: t.TempDir()}
	pids := t.TempDir()
	self := os.Getpid()
	fp.machine(1000, 1000)
	fp.proc(self, 0, 0, 10)
	fp.proc(101, 100, 50, 1000) // gateway
	fp.proc(102, 10, 10, 500)   // nats
	for name, pid := range map[string]int{"gateway": 101, "nats": 102} {
		if err := os.WriteFile(filepath.Join(pids, name+".pid"), []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s, err := startSampler(fp.dir, pids)
	if err != nil {
		t.Fatal(err)
	}
	fp.proc(101, 300, 100, 4000) // +2 s user, +0.5 s sys, a peak
	s.sample()
	fp.proc(101, 400, 150, 2000)
	fp.proc(102, 60, 10, 500)
	fp.machine(1100, 1300) // 100 idle of 400 ticks
	res, err := s.stop(1000)
	if err != nil {
		t.Fatal(err)
	}
	page := int64(os.Getpagesize())
	byName := map[string]ProcessUsage{}
	for _, p := range res.Processes {
		byName[p.Name] = p
	}
	gw := byName["gateway"]
	if !gw.Ours || gw.UserSeconds != 3 || gw.SystemSeconds != 1 || gw.CPUSeconds != 4 || gw.MicrosPerCommand != 4000 {
		t.Errorf("gateway: %+v", gw)
	}
	if gw.RSSPeakBytes != 4000*page || gw.RSSFinalBytes != 2000*page {
		t.Errorf("gateway rss: peak %d final %d, want %d %d", gw.RSSPeakBytes, gw.RSSFinalBytes, 4000*page, 2000*page)
	}
	if n := byName["nats"]; n.Ours || n.CPUSeconds != 0.5 {
		t.Errorf("nats: %+v", n)
	}
	if _, ok := byName[selfName]; !ok {
		t.Errorf("the load client is not among %+v", res.Processes)
	}
	if res.OursCPUSeconds != 4 || res.OursMicrosPerCommand != 4000 || res.StackCPUSeconds != 4.5 || res.StackMicrosPerCommand != 4500 {
		t.Errorf("totals: %+v", res)
	}
	if res.Cores != 2 || math.Abs(res.MachineIdleShare-0.25) > 1e-9 || res.MachineBusyCPUSeconds != 3 {
		t.Errorf("machine: cores %d idle %v busy %v", res.Cores, res.MachineIdleShare, res.MachineBusyCPUSeconds)
	}
	want := map[string]bool{"provisioner": true, "retention": true, "twilio-emulator": true, "redis": true, "vault": true}
	if len(res.Missing) != len(want) {
		t.Errorf("missing %v, want %v", res.Missing, want)
	}
	for _, m := range res.Missing {
		if !want[m] {
			t.Errorf("%s reported missing", m)
		}
	}
}

// On the clustered stack each replica and node has a pid file of its own
// (nats-1.pid, provisioner-12.pid): each is measured under that name, in
// order, and its service is not missing.
func TestSamplerFindsEveryReplica(t *testing.T) {
	fp := fakeProc{t: t, dir: t.TempDir()}
	pids := t.TempDir()
	fp.machine(1000, 1000)
	fp.proc(os.Getpid(), 0, 0, 10)
	files := map[string]int{"nats-1": 201, "nats-2": 202, "nats-3": 203, "provisioner-12": 212, "provisioner-2": 222, "provisioner-x": 299, "natsy": 298}
	for name, pid := range files {
		fp.proc(pid, 0, 0, 10)
		if err := os.WriteFile(filepath.Join(pids, name+".pid"), []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s, err := startSampler(fp.dir, pids)
	if err != nil {
		t.Fatal(err)
	}
	fp.proc(202, 100, 0, 10)
	fp.proc(212, 0, 100, 10)
	res, err := s.stop(100)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range res.Processes {
		names = append(names, p.Name)
	}
	if want := []string{"provisioner-2", "provisioner-12", "nats-1", "nats-2", "nats-3", selfName}; !slices.Equal(names, want) {
		t.Errorf("processes %v, want %v", names, want)
	}
	if res.OursCPUSeconds != 1 || res.StackCPUSeconds != 2 {
		t.Errorf("ours %v s, stack %v s; want 1 and 2", res.OursCPUSeconds, res.StackCPUSeconds)
	}
	if slices.Contains(res.Missing, "nats") || slices.Contains(res.Missing, "provisioner") || !slices.Contains(res.Missing, "gateway") {
		t.Errorf("missing %v", res.Missing)
	}
}

// A process that exits during the phase keeps its last sample and is
// marked; a pid file that holds no pid is a missing service.
func TestSamplerOutlivesAProcess(t *testing.T) {
	fp := fakeProc{t: t, dir: t.TempDir()}
	pids := t.TempDir()
	fp.machine(10, 10)
	fp.proc(os.Getpid(), 0, 0, 1)
	fp.proc(7, 0, 0, 1)
	for name, content := range map[string]string{"provisioner": "7", "redis": "not a pid"} {
		if err := os.WriteFile(filepath.Join(pids, name+".pid"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s, err := startSampler(fp.dir, pids)
	if err != nil {
		t.Fatal(err)
	}
	fp.proc(7, 200, 0, 1)
	s.sample()
	if err := os.RemoveAll(filepath.Join(fp.dir, "7")); err != nil {
		t.Fatal(err)
	}
	res, err := s.stop(0)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range res.Processes {
		if p.Name == "provisioner" && (!p.Exited || p.CPUSeconds != 2 || p.MicrosPerCommand != 0) {
			t.Errorf("provisioner: %+v", p)
		}
	}
	found := false
	for _, m := range res.Missing {
		found = found || m == "redis"
	}
	if !found {
		t.Errorf("redis (a bad pid file) not missing: %v", res.Missing)
	}
}

// On the real /proc the load client's own CPU and RSS are read.
func TestSamplerReadsProc(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc on this system")
	}
	s, err := startSampler("/proc", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	x := 0.0
	for i := range 30_000_000 {
		x += math.Sqrt(float64(i))
	}
	res, err := s.stop(1)
	if err != nil {
		t.Fatal(err)
	}
	self := res.Processes[len(res.Processes)-1]
	if self.Name != selfName || self.RSSPeakBytes <= 0 || self.CPUSeconds <= 0 || x == 0 {
		t.Errorf("self: %+v", self)
	}
	if res.Cores < 1 || res.MachineIdleShare < 0 || res.MachineIdleShare > 1 {
		t.Errorf("machine: %+v", res)
	}
}
