package testenv

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestPollReturnsOnceTheConditionHolds(t *testing.T) {
	calls := 0
	err := Poll(5*time.Second, func() error {
		calls++
		if calls < 3 {
			return fmt.Errorf("call %d", calls)
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("Poll = %v after %d calls, want nil after 3", err, calls)
	}
}

func TestPollReportsTheLastErrorAfterTheTimeout(t *testing.T) {
	missing := errors.New("still 2 events, want 7")
	err := Poll(30*time.Millisecond, func() error { return missing })
	if !errors.Is(err, missing) || !strings.Contains(err.Error(), "after 30ms") {
		t.Fatalf("Poll = %v, want the condition's error after 30ms", err)
	}
}

func TestPollStopsAtAnAbort(t *testing.T) {
	exited := errors.New("the server exited")
	calls := 0
	err := Poll(time.Minute, func() error {
		calls++
		return Abort(exited)
	})
	if err != exited || calls != 1 {
		t.Fatalf("Poll = %v after %d calls, want the aborting error after 1", err, calls)
	}
	if Abort(nil) != nil {
		t.Error("Abort(nil) is not nil")
	}
}

func TestPollRefusesANonPositiveTimeout(t *testing.T) {
	if err := Poll(0, func() error { return nil }); err == nil || !strings.Contains(err.Error(), "not positive") {
		t.Fatalf("Poll(0) = %v, want an error about the timeout", err)
	}
}

// recorder is a testing.TB that records Fatal instead of stopping the
// goroutine, to check what Eventually reports.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatal(args ...any) {
	r.failed = fmt.Sprint(args...)
}

func TestEventuallyFailsWithTheConditionsError(t *testing.T) {
	r := &recorder{TB: t}
	Eventually(r, 20*time.Millisecond, func() error { return errors.New("key still SCHEDULED") })
	if !strings.Contains(r.failed, "key still SCHEDULED") || !strings.Contains(r.failed, "after 20ms") {
		t.Fatalf("Eventually failed with %q, want the condition's error and the timeout", r.failed)
	}
	r = &recorder{TB: t}
	Eventually(r, time.Second, func() error { return nil })
	if r.failed != "" {
		t.Fatalf("Eventually failed with %q for a condition that holds", r.failed)
	}
}

func TestBufferTakesConcurrentWrites(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 100; j++ {
				_, _ = b.Write([]byte("0123456789"))
			}
		}()
	}
	wg.Wait()
	if b.Len() != 8000 || len(b.String()) != 8000 || strings.Trim(b.String(), "0123456789") != "" {
		t.Fatalf("Len %d, String of %d bytes; want 8000 of digits", b.Len(), len(b.String()))
	}
	got := b.Bytes()
	got[0] = 'x'
	if b.String()[0] != '0' {
		t.Error("Bytes returned the buffer itself, not a copy")
	}
}

func TestSharedFileTakesTheEnvironmentVariable(t *testing.T) {
	p := filepath.Join(t.TempDir(), "api.txt")
	if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TEXTKIT_TESTENV_PROBE", p)
	if got := SharedFile(t, "TEXTKIT_TESTENV_PROBE", "nowhere/api.txt", "a probe"); got != p {
		t.Fatalf("SharedFile = %q, want %q", got, p)
	}
}

func TestSharedFileFindsSharedAboveTheWorkingDirectory(t *testing.T) {
	root := t.TempDir()
	want := filepath.Join(root, "shared", "spec", "api.txt")
	deep := filepath.Join(root, "repo", "internal", "pkg")
	for _, d := range []string{filepath.Dir(want), deep} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(want, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Chdir(deep)
	t.Setenv("TEXTKIT_TESTENV_PROBE", "")
	if got := SharedFile(t, "TEXTKIT_TESTENV_PROBE", "spec/api.txt", "a probe"); got != want {
		t.Fatalf("SharedFile = %q, want %q", got, want)
	}
}

func TestLaunchGroupStopsTheChildrenToo(t *testing.T) {
	sh, err := findSh()
	if err != nil {
		t.Skip(err)
	}
	// The shell starts a child and waits; SIGTERM to the group ends both.
	cmd := exec.Command(sh, "-c", `sleep 60 & echo "child $!"; wait`)
	p, err := Launch(cmd, LaunchOptions{Group: true})
	if err != nil {
		t.Fatal(err)
	}
	var child int
	Eventually(t, 5*time.Second, func() error {
		if _, err := fmt.Sscanf(p.Output(), "child %d", &child); err != nil {
			return fmt.Errorf("no child pid in %q: %v", p.Output(), err)
		}
		return nil
	})
	if err := p.Terminate(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	Eventually(t, 5*time.Second, func() error {
		if err := syscall.Kill(child, 0); errors.Is(err, syscall.ESRCH) {
			return nil
		}
		// a zombie waiting for its new parent to reap it has ended too
		if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", child)); err == nil && strings.Contains(string(stat), ") Z ") {
			return nil
		}
		return fmt.Errorf("child %d still runs", child)
	})
}

func TestBufferTailKeepsTheEnd(t *testing.T) {
	var b Buffer
	if got := b.Tail(4); got != "" {
		t.Errorf("Tail of nothing = %q", got)
	}
	_, _ = b.Write([]byte("abc"))
	if got := b.Tail(4); got != "abc" {
		t.Errorf("Tail(4) of abc = %q, want abc", got)
	}
	_, _ = b.Write([]byte("defgh"))
	if got := b.Tail(4); got != "…efgh" {
		t.Errorf("Tail(4) of abcdefgh = %q, want …efgh", got)
	}
}
