package testsvc

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// StopTimeout is how long Stop waits after SIGTERM before it sends SIGKILL.
const StopTimeout = 10 * time.Second

// maxShownOutput bounds how much of a process's output a failing test logs.
const maxShownOutput = 16 << 10

// Process is a program started for a test. Its combined output is kept in
// memory and logged when the test fails; it is stopped in t.Cleanup.
type Process struct {
	// Name labels the process in messages (the program's base name).
	Name string

	cmd  *exec.Cmd
	out  *SyncBuffer
	done chan struct{}
	err  error // set before done is closed
}

// StartProcess starts the program path with args, in an environment of
// os.Environ() plus env ("KEY=value" entries, later ones win). It fails the
// test if the program cannot be started. The process is stopped (SIGTERM,
// then SIGKILL) when the test ends, and its output is logged if the test
// failed.
func StartProcess(t testing.TB, path string, args []string, env []string) *Process {
	t.Helper()
	p, err := startProcess(path, args, env)
	if err != nil {
		t.Fatalf("start %s: %v", filepath.Base(path), err)
	}
	t.Cleanup(func() {
		p.stop(StopTimeout)
		if t.Failed() {
			t.Logf("output of %s (pid %d):\n%s", p.Name, p.Pid(), p.tail())
		}
	})
	return p
}

func startProcess(path string, args []string, env []string) (*Process, error) {
	p := &Process{
		Name: filepath.Base(path),
		out:  &SyncBuffer{},
		done: make(chan struct{}),
	}
	p.cmd = exec.Command(path, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.out
	// Do not let a grandchild holding the output pipe block Wait forever.
	p.cmd.WaitDelay = 2 * time.Second
	// Its own process group, so a Ctrl-C in the terminal reaches the test
	// binary (which cleans up) rather than killing the service mid-test.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Output returns everything the process has written to stdout and stderr.
func (p *Process) Output() string { return p.out.String() }

// Exited reports whether the process has exited, and its error if so
// (nil for exit status 0).
func (p *Process) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// Stop sends SIGTERM and waits for the process to exit, sending SIGKILL
// after StopTimeout. It is a no-op for an exited process.
func (p *Process) Stop(t testing.TB) {
	t.Helper()
	if !p.stop(StopTimeout) {
		t.Errorf("%s (pid %d) ignored SIGTERM for %v and was killed", p.Name, p.Pid(), StopTimeout)
	}
}

// Kill sends SIGKILL (a crash: no chance to flush anything) and waits for
// the process to exit.
func (p *Process) Kill(t testing.TB) {
	t.Helper()
	if ok, _ := p.Exited(); ok {
		return
	}
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatalf("kill %s: %v", p.Name, err)
	}
	<-p.done
}

// stop terminates the process; false if it needed SIGKILL.
func (p *Process) stop(timeout time.Duration) bool {
	if ok, _ := p.Exited(); ok {
		return true
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return true
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		return false
	}
}

func (p *Process) tail() string {
	s := p.Output()
	if len(s) > maxShownOutput {
		s = "…" + s[len(s)-maxShownOutput:]
	}
	return s
}

// SyncBuffer is a bytes.Buffer that writer goroutines (a process's
// output, a service's logger) and the test reading it may use at once.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
