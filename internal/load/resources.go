package load

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// OurServices are the stack's own processes (scripts/lib.sh OUR_SERVICES):
// their CPU is "ours" in Resources.
var OurServices = []string{"gateway", "provisioner", "retention", "twilio-emulator"}

// DepServices are the stack's dependencies (scripts/lib.sh DEP_SERVICES).
var DepServices = []string{"nats", "redis", "vault"}

// selfName names the load client itself among Resources.Processes.
const selfName = "load-client"

// clockTicks is Linux's USER_HZ, the unit of utime and stime in
// /proc/<pid>/stat: 100 on every architecture Go supports on Linux.
const clockTicks = 100

// Resources is what the stack's processes used during the measured phase,
// read from /proc (Linux): CPU time and resident memory of each process
// whose pid file scripts/up.sh wrote, of the load client itself, and the
// machine's idle share.
type Resources struct {
	// Processes has one entry per process found, ours first.
	Processes []ProcessUsage `json:"processes"`
	// OursCPUSeconds is the CPU time of gateway, provisioner, retention
	// and the Twilio emulator together; OursMicrosPerCommand divides it
	// by the commands answered.
	OursCPUSeconds       float64 `json:"oursCpuSeconds"`
	OursMicrosPerCommand float64 `json:"oursMicrosPerCommand"`
	// StackCPUSeconds adds the dependencies (NATS, Redis, Vault), not the
	// load client; StackMicrosPerCommand divides it by the commands.
	StackCPUSeconds       float64 `json:"stackCpuSeconds"`
	StackMicrosPerCommand float64 `json:"stackMicrosPerCommand"`
	// Cores is the number of CPUs in /proc/stat; MachineIdleShare is the
	// share of their time spent idle (idle + iowait) over the phase: near
	// 0 means the machine was saturated, whoever used it.
	Cores            int     `json:"cores"`
	MachineIdleShare float64 `json:"machineIdleShare"`
	// MachineBusyCPUSeconds is all the machine's non-idle CPU time over
	// the phase (other programs included).
	MachineBusyCPUSeconds float64 `json:"machineBusyCpuSeconds"`
	// Missing names the services whose pid file was absent or whose
	// process was not running.
	Missing []string `json:"missing,omitempty"`
}

// ProcessUsage is one process's share.
type ProcessUsage struct {
	Name string `json:"name"`
	PID  int    `json:"pid"`
	// Ours is true for our own services.
	Ours bool `json:"ours"`
	// CPUSeconds is user + system time over the phase.
	CPUSeconds       float64 `json:"cpuSeconds"`
	UserSeconds      float64 `json:"userSeconds"`
	SystemSeconds    float64 `json:"systemSeconds"`
	MicrosPerCommand float64 `json:"microsPerCommand"`
	// RSSPeakBytes is the largest resident set sampled (every
	// sampleInterval and at both ends); RSSFinalBytes the last.
	RSSPeakBytes  int64 `json:"rssPeakBytes"`
	RSSFinalBytes int64 `json:"rssFinalBytes"`
	// Exited is true when the process was gone by the end: its figures
	// stop at the last sample.
	Exited bool `json:"exited,omitempty"`
}

// sampleInterval is how often RSS (and CPU, for processes that exit) is
// sampled.
const sampleInterval = 500 * time.Millisecond

// procSample is one reading of a process.
type procSample struct {
	utime, stime int64 // clock ticks
	rss          int64 // bytes
}

// tracked is one process being watched.
type tracked struct {
	usage       ProcessUsage
	first, last procSample
}

// sampler watches processes over the measured phase.
type sampler struct {
	procDir       string
	procs         []*tracked
	missing       []string
	idle0, total0 int64
	cores         int
	done          chan struct{}
	wg            sync.WaitGroup
	mu            sync.Mutex
	pageSize      int64
}

// startSampler reads the pid files NAME.pid (or NAME-<n>.pid, one per
// replica or node of the clustered stack) in pidsDir for every name of
// OurServices and DepServices, plus the load client itself, and starts
// sampling them. procDir is normally /proc.
func startSampler(procDir, pidsDir string) (*sampler, error) {
	s := &sampler{procDir: procDir, done: make(chan struct{}), pageSize: int64(os.Getpagesize())}
	var err error
	if s.idle0, s.total0, s.cores, err = readCPUTimes(procDir); err != nil {
		return nil, err
	}
	for _, name := range slices.Concat(OurServices, DepServices) {
		found := false
		for _, inst := range instances(pidsDir, name) {
			pid, err := readPID(filepath.Join(pidsDir, inst+".pid"))
			if err == nil && s.track(inst, pid, slices.Contains(OurServices, name)) == nil {
				found = true
			}
		}
		if !found {
			s.missing = append(s.missing, name)
		}
	}
	if err := s.track(selfName, os.Getpid(), false); err != nil {
		return nil, err
	}
	s.wg.Go(s.loop)
	return s, nil
}

// instances names the pid files of service name in pidsDir: NAME.pid
// (scripts/up.sh), and NAME-<n>.pid for each replica or node of the
// clustered stack (scripts/cluster.sh: nats-1..3, provisioner-1..3, …), in
// order.
func instances(pidsDir, name string) []string {
	out := []string{name}
	files, _ := filepath.Glob(filepath.Join(pidsDir, name+"-*.pid")) // the pattern is valid
	var numbered []int
	for _, f := range files {
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), name+"-"), ".pid"))
		if err == nil && n > 0 {
			numbered = append(numbered, n)
		}
	}
	slices.Sort(numbered)
	for _, n := range numbered {
		out = append(out, name+"-"+strconv.Itoa(n))
	}
	return out
}

func readPID(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pid file %s: %q is not a pid", path, bytes.TrimSpace(b))
	}
	return pid, nil
}

func (s *sampler) track(name string, pid int, ours bool) error {
	ps, err := s.read(pid)
	if err != nil {
		return err
	}
	s.procs = append(s.procs, &tracked{usage: ProcessUsage{Name: name, PID: pid, Ours: ours, RSSPeakBytes: ps.rss}, first: ps, last: ps})
	return nil
}

func (s *sampler) loop() {
	t := time.NewTicker(sampleInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			s.sample()
		case <-s.done:
			return
		}
	}
}

// sample reads every process still running.
func (s *sampler) sample() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.procs {
		if p.usage.Exited {
			continue
		}
		ps, err := s.read(p.usage.PID)
		if err != nil {
			p.usage.Exited = true
			continue
		}
		p.last = ps
		p.usage.RSSPeakBytes = max(p.usage.RSSPeakBytes, ps.rss)
	}
}

// stop takes a last sample and returns the usage over the phase, with
// per-command figures for commands.
func (s *sampler) stop(commands int) (*Resources, error) {
	close(s.done)
	s.wg.Wait()
	s.sample()
	idle1, total1, _, err := readCPUTimes(s.procDir)
	if err != nil {
		return nil, err
	}
	res := &Resources{Cores: s.cores, Missing: s.missing}
	if dt := total1 - s.total0; dt > 0 {
		res.MachineIdleShare = float64(idle1-s.idle0) / float64(dt)
		res.MachineBusyCPUSeconds = float64(dt-(idle1-s.idle0)) / clockTicks
	}
	perCmd := func(sec float64) float64 {
		if commands == 0 {
			return 0
		}
		return sec * 1e6 / float64(commands)
	}
	for _, p := range s.procs {
		u := p.usage
		u.UserSeconds = float64(p.last.utime-p.first.utime) / clockTicks
		u.SystemSeconds = float64(p.last.stime-p.first.stime) / clockTicks
		u.CPUSeconds = u.UserSeconds + u.SystemSeconds
		u.MicrosPerCommand = perCmd(u.CPUSeconds)
		u.RSSFinalBytes = p.last.rss
		if u.Ours {
			res.OursCPUSeconds += u.CPUSeconds
		}
		if u.Name != selfName {
			res.StackCPUSeconds += u.CPUSeconds
		}
		res.Processes = append(res.Processes, u)
	}
	res.OursMicrosPerCommand, res.StackMicrosPerCommand = perCmd(res.OursCPUSeconds), perCmd(res.StackCPUSeconds)
	return res, nil
}

// read reads a process's CPU times (/proc/<pid>/stat) and resident set
// (/proc/<pid>/statm).
func (s *sampler) read(pid int) (procSample, error) {
	dir := filepath.Join(s.procDir, strconv.Itoa(pid))
	stat, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return procSample{}, err
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// the fields after the last ')' start with field 3 (state).
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return procSample{}, fmt.Errorf("%s/stat: no command name", dir)
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 || f[0] == "Z" {
		return procSample{}, fmt.Errorf("%s/stat: not a running process", dir)
	}
	var ps procSample
	// utime and stime are fields 14 and 15: f[11], f[12].
	if ps.utime, err = strconv.ParseInt(f[11], 10, 64); err == nil {
		ps.stime, err = strconv.ParseInt(f[12], 10, 64)
	}
	if err != nil {
		return procSample{}, fmt.Errorf("%s/stat: %w", dir, err)
	}
	statm, err := os.ReadFile(filepath.Join(dir, "statm"))
	if err != nil {
		return procSample{}, err
	}
	m := strings.Fields(string(statm))
	if len(m) < 2 {
		return procSample{}, fmt.Errorf("%s/statm: %q", dir, statm)
	}
	pages, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return procSample{}, fmt.Errorf("%s/statm: %w", dir, err)
	}
	ps.rss = pages * s.pageSize
	return ps, nil
}

// readCPUTimes reads the machine's idle (idle + iowait) and total clock
// ticks from the "cpu" line of /proc/stat, and counts the cpuN lines.
func readCPUTimes(procDir string) (idle, total int64, cores int, err error) {
	f, err := os.Open(filepath.Join(procDir, "stat"))
	if err != nil {
		return 0, 0, 0, fmt.Errorf("machine cpu times: %w", err)
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	found := false
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		switch {
		case len(fields) > 0 && fields[0] == "cpu":
			idle, total, err = sumCPULine(fields[1:])
			if err != nil {
				return 0, 0, 0, err
			}
			found = true
		case len(fields) > 0 && strings.HasPrefix(fields[0], "cpu"):
			cores++
		}
	}
	if err := sc.Err(); err != nil {
		return 0, 0, 0, fmt.Errorf("machine cpu times: %w", err)
	}
	if !found {
		return 0, 0, 0, errors.New("machine cpu times: no cpu line in /proc/stat")
	}
	return idle, total, cores, nil
}

// sumCPULine sums a /proc/stat cpu line: user nice system idle iowait irq
// softirq steal (guest time is already within user and nice).
func sumCPULine(vals []string) (idle, total int64, err error) {
	for i, v := range vals {
		if i >= 8 {
			break
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("machine cpu times: %q: %w", v, err)
		}
		total += n
		if i == 3 || i == 4 {
			idle += n
		}
	}
	return idle, total, nil
}
