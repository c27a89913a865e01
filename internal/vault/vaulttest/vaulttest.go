// Package vaulttest runs a real Vault server for tests: a dev server
// (in-memory, unsealed, fast) or a persistent one (file storage, initialized
// and unsealed with one key share) that survives Stop/Start and can be
// sealed, for tests of behaviour while Vault is down, sealed or restarted.
//
// The vault binary is found with testenv.Binary, so a missing binary fails
// the test under CI=true and skips it elsewhere. Each Server keeps the
// process's output and prints it when the test fails.
package vaulttest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/textkit/customers/internal/testenv"
	"github.com/textkit/customers/internal/vault"
)

// How long to wait for Vault to come up, seal or unseal, and to exit.
const (
	readyTimeout = 30 * time.Second
	stopTimeout  = 10 * time.Second
)

// Server is a Vault server process run for tests.
type Server struct {
	// Addr is the server's base URL, e.g. "http://127.0.0.1:41234". It
	// stays the same across Stop and Start.
	Addr string
	// RootToken is a root token. A dev server keeps it across restarts; a
	// persistent server's comes from its initialization.
	RootToken string
	// UnsealKey is the single unseal key of a persistent server ("" for a
	// dev server).
	UnsealKey string
	// Dir is the server's working directory (config, storage, HOME).
	Dir string

	bin        string
	port       int
	persistent bool
	raft       *raftNode       // set for a node of a Cluster
	out        *testenv.Buffer // the output of every process, across restarts

	mu   sync.Mutex
	proc *testenv.Process // nil while stopped
}

// Start starts a dev server for t: in-memory storage, already initialized
// and unsealed, with a random root token. t's cleanup stops it and removes
// its directory. A dev server loses all data when it stops; use
// StartPersistent for restarts.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := newServer(testenv.Binary(t, "vault"), false, 0)
	cleanupOnEnd(t, s)
	if err != nil {
		t.Fatalf("vaulttest: %v", err)
	}
	return s
}

// StartPersistent starts a Vault server with file storage in a temporary
// directory, initializes it with one key share and unseals it. It keeps
// its data across Stop and Start, and comes back sealed after a Start.
// t's cleanup stops it and removes its directory.
func StartPersistent(t testing.TB) *Server {
	t.Helper()
	s, err := newServer(testenv.Binary(t, "vault"), true, 0)
	cleanupOnEnd(t, s)
	if err != nil {
		t.Fatalf("vaulttest: %v", err)
	}
	return s
}

// cleanupOnEnd registers s's teardown on t and prints its output if t
// failed. s may be nil or half started.
func cleanupOnEnd(t testing.TB, s *Server) {
	t.Helper()
	if s == nil {
		return
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("vault server output (%s):\n%s", s.Addr, s.Output())
		}
		s.close()
	})
}

var (
	sharedOnce sync.Once
	shared     *Server
	sharedErr  error
	sharedMiss bool
)

// Shared returns the dev server shared by every test of the package,
// starting it on first use. Tests that use it must not stop or seal it, and
// should use customer ids of their own. Main stops it; a package that
// uses Shared must call Main from its TestMain.
func Shared(t testing.TB) *Server {
	t.Helper()
	sharedOnce.Do(func() {
		bin, ok := testenv.LookBinary("vault")
		if !ok {
			sharedMiss = true
			return
		}
		shared, sharedErr = newServer(bin, false, 0)
	})
	if sharedMiss {
		testenv.Binary(t, "vault") // reports through testenv.Missing
	}
	if sharedErr != nil {
		if shared != nil {
			t.Logf("vault server output:\n%s", shared.Output())
		}
		t.Fatalf("vaulttest: shared server: %v", sharedErr)
	}
	return shared
}

// Main runs the package's tests and stops the Shared server afterwards,
// printing its output if a test failed. Use it as
// `func TestMain(m *testing.M) { os.Exit(vaulttest.Main(m)) }`.
func Main(m *testing.M) int {
	code := m.Run()
	if shared != nil {
		if code != 0 {
			fmt.Fprintf(os.Stderr, "shared vault server output (%s):\n%s\n", shared.Addr, shared.Output())
		}
		shared.close()
	}
	return code
}

// newServer creates the directory, starts the process and, for a
// persistent server, initializes and unseals it. On error the returned
// server (if any) still needs close.
func newServer(bin string, persistent bool, port int) (*Server, error) {
	s, err := prepare(bin, persistent, port)
	if err != nil {
		return nil, err
	}
	if !persistent {
		s.RootToken = "root-" + testenv.RandomHex(12)
	} else if err := s.writeConfig(); err != nil {
		return s, err
	}
	if err := s.start(); err != nil {
		return s, err
	}
	if persistent {
		if err := s.initialize(); err != nil {
			return s, err
		}
		if err := s.unseal(); err != nil {
			return s, err
		}
	}
	return s, nil
}

// prepare makes the server's directory and picks its port (a free one
// when port is 0), without writing or starting anything.
func prepare(bin string, persistent bool, port int) (*Server, error) {
	dir, err := os.MkdirTemp("", "vaulttest-")
	if err != nil {
		return nil, err
	}
	if port == 0 {
		port, err = testenv.FreeLoopbackPort()
		if err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
	}
	return &Server{
		Addr:       "http://127.0.0.1:" + strconv.Itoa(port),
		Dir:        dir,
		bin:        bin,
		port:       port,
		persistent: persistent,
		out:        &testenv.Buffer{},
	}, nil
}

// writeConfig writes the persistent server's config file.
func (s *Server) writeConfig() error {
	data := filepath.Join(s.Dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		return err
	}
	if s.raft != nil {
		return os.WriteFile(s.configPath(), []byte(s.raft.config(s, data)), 0o600)
	}
	cfg := fmt.Sprintf(`storage "file" {
  path = %q
}

listener "tcp" {
  address     = "127.0.0.1:%d"
  tls_disable = true
}

api_addr      = %q
disable_mlock = true
ui            = false
`, data, s.port, s.Addr)
	return os.WriteFile(s.configPath(), []byte(cfg), 0o600)
}

func (s *Server) configPath() string { return filepath.Join(s.Dir, "vault.hcl") }

// args are the vault command line for this server.
func (s *Server) args() []string {
	if s.persistent {
		return []string{"server", "-config=" + s.configPath()}
	}
	return []string{
		"server", "-dev",
		"-dev-root-token-id=" + s.RootToken,
		"-dev-listen-address=127.0.0.1:" + strconv.Itoa(s.port),
		// Keep the developer's ~/.vault-token alone (HOME is s.Dir anyway).
		"-dev-no-store-token",
	}
}

// start launches the process and waits until it answers (dev: until it is
// active; persistent: until it answers sys/health in any state).
func (s *Server) start() error {
	s.mu.Lock()
	if s.proc != nil {
		s.mu.Unlock()
		return errors.New("vault server is already running")
	}
	// progress output for the test log: a failed write has nowhere to go
	_, _ = fmt.Fprintf(s.out, "--- vaulttest: starting %s %s\n", s.bin, strings.Join(s.args(), " "))
	cmd := exec.Command(s.bin, s.args()...)
	cmd.Dir = s.Dir
	cmd.Env = serverEnv(s.Dir)
	proc, err := testenv.Launch(cmd, testenv.LaunchOptions{Output: s.out})
	if err != nil {
		s.mu.Unlock()
		return fmt.Errorf("start vault: %w", err)
	}
	s.proc = proc
	s.mu.Unlock()

	ready := func(h *api.HealthResponse) bool { return h.Initialized && !h.Sealed && !h.Standby }
	if s.persistent {
		ready = func(*api.HealthResponse) bool { return true }
	}
	return s.waitHealth("start", ready)
}

// waitHealth polls sys/health until ready says so, the process exits or
// readyTimeout passes.
func (s *Server) waitHealth(what string, ready func(*api.HealthResponse) bool) error {
	c, err := s.client("")
	if err != nil {
		return err
	}
	s.mu.Lock()
	proc := s.proc
	s.mu.Unlock()
	return testenv.Poll(readyTimeout, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		h, err := c.Sys().HealthWithContext(ctx)
		cancel()
		var last string
		switch {
		case err != nil:
			last = err.Error()
		case ready(h):
			return nil
		default:
			last = fmt.Sprintf("initialized=%v sealed=%v standby=%v", h.Initialized, h.Sealed, h.Standby)
		}
		if proc != nil {
			if exited, _ := proc.Exited(); exited {
				return testenv.Abort(fmt.Errorf("vault %s: process exited (last health: %s)", what, last))
			}
		}
		return fmt.Errorf("vault %s: not ready (last health: %s)", what, last)
	})
}

// initialize runs the equivalent of `vault operator init -key-shares=1
// -key-threshold=1` on a fresh persistent server.
func (s *Server) initialize() error {
	c, err := s.client("")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	resp, err := c.Sys().InitWithContext(ctx, &api.InitRequest{SecretShares: 1, SecretThreshold: 1})
	if err != nil {
		return fmt.Errorf("vault operator init: %w", err)
	}
	if len(resp.KeysB64) != 1 || resp.RootToken == "" {
		return errors.New("vault operator init: unexpected answer")
	}
	s.UnsealKey, s.RootToken = resp.KeysB64[0], resp.RootToken
	return nil
}

// unseal unseals a persistent server and waits until it is active.
func (s *Server) unseal() error {
	if !s.persistent {
		return errors.New("a dev server cannot be unsealed after sealing; use StartPersistent")
	}
	c, err := s.client("")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	if _, err := c.Sys().UnsealWithContext(ctx, s.UnsealKey); err != nil {
		return fmt.Errorf("vault operator unseal: %w", err)
	}
	return s.waitHealth("unseal", func(h *api.HealthResponse) bool { return h.Initialized && !h.Sealed && !h.Standby })
}

// seal seals the server and waits until health says so.
func (s *Server) seal() error {
	c, err := s.client(s.RootToken)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	if err := c.Sys().SealWithContext(ctx); err != nil {
		return fmt.Errorf("vault operator seal: %w", err)
	}
	return s.waitHealth("seal", func(h *api.HealthResponse) bool { return h.Sealed })
}

// stop ends the process gracefully (SIGTERM), killing it if it does not
// exit in time, and waits for it. Stopping a stopped server is a no-op.
func (s *Server) stop() error {
	s.mu.Lock()
	proc := s.proc
	s.proc = nil
	s.mu.Unlock()
	if proc == nil {
		return nil
	}
	_, _ = fmt.Fprintf(s.out, "--- vaulttest: stopping pid %d\n", proc.Pid())
	return proc.Terminate(stopTimeout)
}

// close stops the process and removes the directory.
func (s *Server) close() {
	_ = s.stop()
	_ = os.RemoveAll(s.Dir)
}

// client returns an API client for the server with token ("" for none),
// with the API client's own retries off so polling stays predictable.
func (s *Server) client(token string) (*api.Client, error) {
	cfg := api.DefaultConfig()
	cfg.Address = s.Addr
	cfg.MaxRetries = 0
	cfg.Timeout = 10 * time.Second
	c, err := api.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	c.SetToken(token)
	if token == "" {
		c.ClearToken()
	}
	return c, nil
}

// Root returns an API client authenticated with the root token.
func (s *Server) Root(t testing.TB) *api.Client {
	t.Helper()
	c, err := s.client(s.RootToken)
	if err != nil {
		t.Fatalf("vaulttest: root client: %v", err)
	}
	return c
}

// Bootstrap runs vault.Bootstrap with the root token and returns the
// service tokens.
func (s *Server) Bootstrap(t testing.TB) vault.ServiceTokens {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	tokens, err := vault.Bootstrap(ctx, s.Root(t))
	if err != nil {
		t.Fatalf("vaulttest: bootstrap: %v", err)
	}
	return tokens
}

// Client returns a transit adapter for the server authenticated with
// token.
func (s *Server) Client(t testing.TB, token string) *vault.Client {
	t.Helper()
	c, err := vault.New(vault.Config{Addr: s.Addr, Token: token})
	if err != nil {
		t.Fatalf("vaulttest: client: %v", err)
	}
	return c
}

// Stop stops the server; its address refuses connections until Start.
// A dev server loses its data.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	if err := s.stop(); err != nil {
		t.Fatalf("vaulttest: stop: %v", err)
	}
}

// Start starts a stopped server again on the same address and directory.
// A dev server comes back empty (same root token, no transit mount, no
// keys); a persistent server comes back with its data, sealed: call Unseal.
func (s *Server) Start(t testing.TB) {
	t.Helper()
	if err := s.start(); err != nil {
		t.Fatalf("vaulttest: start: %v", err)
	}
}

// Restart stops and starts the server and, if it is persistent, unseals
// it, so it is usable again when Restart returns.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop(t)
	s.Start(t)
	if s.persistent {
		s.Unseal(t)
	}
}

// Seal seals the server: every request then fails with 503 until Unseal.
// A dev server can be sealed, but only a persistent one can be unsealed.
func (s *Server) Seal(t testing.TB) {
	t.Helper()
	if err := s.seal(); err != nil {
		t.Fatalf("vaulttest: seal: %v", err)
	}
}

// Unseal unseals a persistent server and waits until it is active.
func (s *Server) Unseal(t testing.TB) {
	t.Helper()
	if err := s.unseal(); err != nil {
		t.Fatalf("vaulttest: unseal: %v", err)
	}
}

// Output returns what the server process printed so far, across restarts.
func (s *Server) Output() string { return s.out.String() }

// serverEnv is the environment of the vault process: the test's, minus
// VAULT_* variables that would reconfigure the server, with HOME pointing
// into the server's directory so nothing touches the developer's ~/.vault*.
func serverEnv(home string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "VAULT_") || strings.HasPrefix(kv, "HOME=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "HOME="+home)
}
