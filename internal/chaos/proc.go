package chaos

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc is one service process of the stack: how to start it again (its
// program, arguments, environment and directory, read from /proc when
// scripts/up.sh started it) and its current pid.
type proc struct {
	name string
	argv []string
	env  []string
	dir  string
	log  string
	pid  int
	// pidFile is scripts/up.sh's pid file, kept current so that
	// scripts/down.sh stops what the runner restarted.
	pidFile string
}

// captureProc reads how the process named in dataDir/pids/<name>.pid runs.
func captureProc(dataDir, name string) (*proc, error) {
	pidFile := filepath.Join(dataDir, "pids", name+".pid")
	raw, err := os.ReadFile(pidFile)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil {
		return nil, fmt.Errorf("%s: pid file: %w", name, err)
	}
	p := &proc{name: name, pid: pid, pidFile: pidFile, log: filepath.Join(dataDir, "logs", name+".log")}
	if p.argv, err = nulList(fmt.Sprintf("/proc/%d/cmdline", pid)); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(p.argv) == 0 {
		return nil, fmt.Errorf("%s: pid %d has no command line", name, pid)
	}
	if p.env, err = nulList(fmt.Sprintf("/proc/%d/environ", pid)); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if p.dir, err = os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid)); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return p, nil
}

func nulList(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, f := range bytes.Split(bytes.TrimRight(b, "\x00"), []byte{0}) {
		if len(f) > 0 {
			out = append(out, string(f))
		}
	}
	return out, nil
}

// setEnv sets (or replaces) variables of the process's environment for its
// next start.
func (p *proc) setEnv(kv ...string) {
	for i := 0; i+1 < len(kv); i += 2 {
		prefix := kv[i] + "="
		found := false
		for j, e := range p.env {
			if strings.HasPrefix(e, prefix) {
				p.env[j], found = prefix+kv[i+1], true
			}
		}
		if !found {
			p.env = append(p.env, prefix+kv[i+1])
		}
	}
}

// alive reports whether the process still runs (and is not a zombie).
func (p *proc) alive() bool {
	if p.pid == 0 || syscall.Kill(p.pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.pid))
	if err != nil {
		return false
	}
	s := string(stat)
	if i := strings.LastIndex(s, ") "); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}

// signal sends sig to the process.
func (p *proc) signal(sig syscall.Signal) error {
	if p.pid == 0 {
		return fmt.Errorf("%s is not running", p.name)
	}
	if err := syscall.Kill(p.pid, sig); err != nil {
		return fmt.Errorf("signal %s (pid %d): %w", p.name, p.pid, err)
	}
	return nil
}

// kill9 kills the process with SIGKILL and waits until it is gone.
func (p *proc) kill9() error {
	if err := p.signal(syscall.SIGKILL); err != nil {
		return err
	}
	return p.waitGone(10 * time.Second)
}

// stop asks the process to stop (SIGTERM) and waits, then kills it.
func (p *proc) stop() error {
	if !p.alive() {
		return nil
	}
	if err := p.signal(syscall.SIGTERM); err != nil {
		return err
	}
	if p.waitGone(20*time.Second) == nil {
		return nil
	}
	return p.kill9()
}

func (p *proc) waitGone(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for p.alive() {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s (pid %d) did not exit in %s", p.name, p.pid, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// start starts the process again, detached in its own session, its output
// appended to its log, and records its pid.
func (p *proc) start() error {
	if p.alive() {
		return fmt.Errorf("%s is still running (pid %d)", p.name, p.pid)
	}
	logf, err := os.OpenFile(p.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	defer func() { _ = logf.Close() }() // the child holds its own copy
	_, _ = fmt.Fprintf(logf, "=== %s chaos: starting %s\n", time.Now().UTC().Format(time.RFC3339), p.name)
	cmd := exec.Command(p.argv[0], p.argv[1:]...)
	cmd.Env, cmd.Dir, cmd.Stdout, cmd.Stderr = p.env, p.dir, logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	p.pid = cmd.Process.Pid
	go func() { _ = cmd.Wait() }() // reap it; its exit is seen through alive()
	if err := os.WriteFile(p.pidFile, []byte(strconv.Itoa(p.pid)+"\n"), 0o600); err != nil {
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	return nil
}

// restart stops the process (SIGTERM) and starts it again.
func (p *proc) restart() error {
	return errors.Join(p.stop(), p.start())
}
