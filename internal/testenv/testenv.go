// Package testenv is the one place of generic test support: it finds and
// starts the real programs integration tests run against (redis-server,
// vault, prism, …) as Processes, hands out free loopback ports, keeps output
// in a Buffer many goroutines write at once, and waits for a condition with
// Eventually (Poll outside a test). Helpers for one adapter build on it
// beside that adapter (natsbus/natstest, redisstore/redistest,
// vault/vaulttest, twilio/twiliotest, service/servicetest); stacktest runs
// the whole system.
//
// A missing program fails the test when CI=true and skips it otherwise, so
// a developer without the stack can still run unit tests while CI can never
// pass by skipping.
package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// CI reports whether the tests run under CI (CI=true), where every service
// must be present.
func CI() bool {
	v := strings.ToLower(os.Getenv("CI"))
	return v == "true" || v == "1" || v == "yes"
}

// Missing stops the test because a service it needs is not available:
// a failure under CI, a skip elsewhere. hint says how to install it.
func Missing(t testing.TB, what, hint string) {
	t.Helper()
	msg := fmt.Sprintf("%s is not available: %s", what, hint)
	if CI() {
		t.Fatal(msg)
	}
	t.Skip(msg + " (skipped outside CI)")
}

// CacheDir is where scripts/deps.sh keeps third-party binaries that are slow
// to build: $TEXTKIT_CACHE, else $XDG_CACHE_HOME/textkit, else ~/.cache/textkit.
func CacheDir() string {
	if d := os.Getenv("TEXTKIT_CACHE"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "textkit")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "textkit-cache")
	}
	return filepath.Join(home, ".cache", "textkit")
}

// LookBinary finds an executable: $TEXTKIT_<NAME>_BIN (name upper-cased,
// '-' as '_'), then PATH, then the cache's bin/ and prism/node_modules/.bin/.
func LookBinary(name string) (string, bool) {
	env := "TEXTKIT_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_")) + "_BIN"
	if p := os.Getenv(env); p != "" {
		if isExec(p) {
			return p, true
		}
		return "", false
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, true
	}
	for _, dir := range []string{
		filepath.Join(CacheDir(), "bin"),
		filepath.Join(CacheDir(), "prism", "node_modules", ".bin"),
	} {
		p := filepath.Join(dir, name)
		if isExec(p) {
			return p, true
		}
	}
	return "", false
}

// Binary returns the path of name or stops the test through Missing.
func Binary(t testing.TB, name string) string {
	t.Helper()
	p, ok := LookBinary(name)
	if !ok {
		Missing(t, name, "run scripts/deps.sh (the README's test command does) or set TEXTKIT_"+
			strings.ToUpper(strings.ReplaceAll(name, "-", "_"))+"_BIN")
	}
	return p
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	port, err := FreeLoopbackPort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// FreeLoopbackPort is FreePort outside a test (for a server shared by a
// package's tests, started before any of them).
func FreeLoopbackPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	// only the port number is wanted; the listener is released at once
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// RandomHex returns n random bytes as 2n lowercase hex digits (passwords
// and tokens for test servers).
func RandomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return hex.EncodeToString(b)
}

func isExec(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}
