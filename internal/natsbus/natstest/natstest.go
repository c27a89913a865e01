// Package natstest runs an embedded NATS server for tests, configured from
// the very deploy/nats/nats.conf the stack ships (accounts, users,
// permissions, limits, partition mapping, JetStream with sync_interval
// always), on a random
// loopback port with its store in a temporary directory.
package natstest

import (
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Passwords of the users in deploy/nats/nats.conf, as the tests set them.
var Passwords = map[string]string{
	"gateway":          "test-gateway",
	"provisioner":      "test-provisioner",
	"retention":        "test-retention",
	"partner-25521a6f": "test-partner",
	"partner-7d3c9a52": "test-partner-2",
	"sys":              "test-sys",
}

// SeedPartnerID is the partner whose direct-publisher user nats.conf ships.
const SeedPartnerID = "25521a6f-b8d1-414b-8575-545430f076fd"

// SeedPartnerUser is that partner's NATS user, in its own account.
const SeedPartnerUser = "partner-25521a6f"

// SecondPartnerID is the seed's second partner (deploy/seed.json), with a
// direct-publisher user of its own in nats.conf, as the first.
const SecondPartnerID = "7d3c9a52-5c1e-4d4f-9a38-2f3a1b0c9d11"

// SecondPartnerUser is the second partner's NATS user, in its own account.
const SecondPartnerUser = "partner-7d3c9a52"

var envOnce sync.Once

func setEnv() {
	envOnce.Do(func() {
		// constant names: os.Setenv fails only on an empty name or one with '=' or NUL
		_ = os.Setenv("TEXTKIT_NATS_GATEWAY_PASSWORD", Passwords["gateway"])
		_ = os.Setenv("TEXTKIT_NATS_PROVISIONER_PASSWORD", Passwords["provisioner"])
		_ = os.Setenv("TEXTKIT_NATS_RETENTION_PASSWORD", Passwords["retention"])
		_ = os.Setenv("TEXTKIT_NATS_PARTNER_PASSWORD", Passwords["partner-25521a6f"])
		_ = os.Setenv("TEXTKIT_NATS_PARTNER2_PASSWORD", Passwords["partner-7d3c9a52"])
		_ = os.Setenv("TEXTKIT_NATS_SYS_PASSWORD", Passwords["sys"])
		_ = os.Setenv("TEXTKIT_NATS_LISTEN", "127.0.0.1:4222")
		_ = os.Setenv("TEXTKIT_NATS_MONITOR_LISTEN", "127.0.0.1:8222")
		_ = os.Setenv("TEXTKIT_NATS_STORE_DIR", os.TempDir())
	})
}

// ConfigPath returns the path of deploy/nats/nats.conf.
func ConfigPath() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "deploy", "nats", "nats.conf")
}

// Server is a running embedded NATS server.
type Server struct {
	*server.Server
	StoreDir string

	port int // once started: the port a restart listens on
}

// Start runs a server from deploy/nats/nats.conf on a random loopback port
// and stops it when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	setEnv()
	s := &Server{StoreDir: t.TempDir(), port: -1}
	s.start(t)
	return s
}

func (s *Server) start(t testing.TB) {
	t.Helper()
	// A fresh configuration each time: a server keeps state in its options' accounts.
	opts, err := server.ProcessConfigFile(ConfigPath())
	if err != nil {
		t.Fatalf("load %s: %v", ConfigPath(), err)
	}
	opts.Host, opts.Port = "127.0.0.1", s.port
	opts.HTTPHost, opts.HTTPPort = "", 0
	opts.StoreDir = s.StoreDir
	opts.NoLog, opts.NoSigs = true, true
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("nats server: %v", err)
	}
	srv.Start()
	t.Cleanup(srv.Shutdown)
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready after 10s")
	}
	s.Server = srv
	s.port = srv.Addr().(*net.TCPAddr).Port
}

// Restart starts the server again after Shutdown (a crash, as its clients
// see it), on the same port and with the same store: streams, consumers
// and the messages stored survive, and clients reconnect by themselves.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Shutdown()
	s.start(t)
}

// URL is the client URL.
func (s *Server) URL() string { return s.ClientURL() }

// Connect returns a connection as user (one of Passwords' keys), closed
// when the test ends. A partner's user gets its inbox prefix,
// _INBOX_<user>, the only one its permissions allow (see docs/commands.md),
// so JetStream publishes get their acknowledgement.
func (s *Server) Connect(t testing.TB, user string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	return connect(t, s.URL(), user, opts...)
}

// connect connects to url (one URL or a seed list) as user.
func connect(t testing.TB, url, user string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	pw, ok := Passwords[user]
	if !ok {
		t.Fatalf("natstest: unknown user %q", user)
	}
	opts = append([]nats.Option{nats.UserInfo(user, pw), nats.MaxReconnects(-1), nats.ReconnectWait(50 * time.Millisecond)}, opts...)
	if strings.HasPrefix(user, "partner-") {
		opts = append(opts, nats.CustomInboxPrefix("_INBOX_"+user))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	t.Cleanup(nc.Close)
	return nc
}
