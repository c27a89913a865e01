package testenv

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// StopTimeout is how long Stop waits after SIGTERM before it sends SIGKILL.
const StopTimeout = 10 * time.Second

// maxShownOutput bounds how much of a process's output a failing test logs.
const maxShownOutput = 16 << 10

// Process is a program started for tests. Its combined output is kept in a
// Buffer. One started with StartProcess or StartCommand is stopped in
// t.Cleanup and its output logged if the test failed; one started with
// Launch is the caller's to stop.
type Process struct {
	// Name labels the process in messages (the program's base name).
	Name string

	cmd   *exec.Cmd
	out   *Buffer
	group bool
	done  chan struct{}
	err   error // set before done is closed
}

// LaunchOptions change how Launch runs a command.
type LaunchOptions struct {
	// Output receives the process's stdout and stderr; a new Buffer when
	// nil. Pass the same Buffer to keep one log across restarts.
	Output *Buffer
	// Group sends Stop's and Kill's signals to the process's whole group,
	// for a program that starts children of its own (a node launcher).
	Group bool
}

// Launch starts cmd (its Stdout, Stderr and SysProcAttr are set here) and
// returns at once. The process runs in its own process group, so a Ctrl-C
// in the terminal reaches the test binary (which cleans up) rather than the
// service, and on Linux the kernel kills it if the test binary dies.
func Launch(cmd *exec.Cmd, opt LaunchOptions) (*Process, error) {
	out := opt.Output
	if out == nil {
		out = &Buffer{}
	}
	p := &Process{Name: filepath.Base(cmd.Path), cmd: cmd, out: out, group: opt.Group, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = out, out
	// Do not let a grandchild holding the output pipe block Wait forever.
	cmd.WaitDelay = 2 * time.Second
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", p.Name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// StartProcess starts the program path with args, in an environment of
// os.Environ() plus env ("KEY=value" entries, later ones win). It fails the
// test if the program cannot be started. The process is stopped (SIGTERM,
// then SIGKILL) when the test ends, and its output is logged if the test
// failed.
func StartProcess(t testing.TB, path string, args []string, env []string) *Process {
	t.Helper()
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), env...)
	return StartCommand(t, cmd, LaunchOptions{})
}

// StartCommand is Launch for one test: it fails the test if cmd cannot be
// started, stops the process when the test ends and logs its output if the
// test failed.
func StartCommand(t testing.TB, cmd *exec.Cmd, opt LaunchOptions) *Process {
	t.Helper()
	p, err := Launch(cmd, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = p.Terminate(StopTimeout) // killed or not, it has exited
		if t.Failed() {
			t.Logf("output of %s (pid %d):\n%s", p.Name, p.Pid(), p.Tail())
		}
	})
	return p
}

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Output returns everything the process has written to stdout and stderr.
func (p *Process) Output() string { return p.out.String() }

// Tail returns the end of Output, at most 16 KiB of it, for a message.
func (p *Process) Tail() string { return p.out.Tail(maxShownOutput) }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

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
	if err := p.Terminate(StopTimeout); err != nil {
		t.Error(err)
	}
}

// Kill sends SIGKILL (a crash: no chance to flush anything) and waits for
// the process to exit.
func (p *Process) Kill(t testing.TB) {
	t.Helper()
	if ok, _ := p.Exited(); ok {
		return
	}
	if err := p.signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) && !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("kill %s: %v", p.Name, err)
	}
	<-p.done
}

// Terminate sends SIGTERM and waits for the process to exit; if it has not
// within timeout, it sends SIGKILL, waits, and returns an error saying so.
// It is a no-op for an exited process.
func (p *Process) Terminate(timeout time.Duration) error {
	if ok, _ := p.Exited(); ok {
		return nil
	}
	_ = p.signal(syscall.SIGTERM) // it may have exited meanwhile: done tells
	select {
	case <-p.done:
		return nil
	case <-time.After(timeout):
	}
	_ = p.signal(syscall.SIGKILL)
	<-p.done
	return fmt.Errorf("%s (pid %d) ignored SIGTERM for %v and was killed", p.Name, p.Pid(), timeout)
}

func (p *Process) signal(sig syscall.Signal) error {
	if p.group {
		return syscall.Kill(-p.cmd.Process.Pid, sig)
	}
	return p.cmd.Process.Signal(sig)
}
