package retention_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/textkit/customers/internal/natsbus"
	"github.com/textkit/customers/internal/natsbus/natstest"
	"github.com/textkit/customers/internal/retention"
)

// pullPermission is what a pull consumer's replica publishes to ask for
// messages. deploy/nats/nats.conf does not grant it to user retention yet
// ("$JS.API.CONSUMER.*.CUSTOMER_EVENTS.>" matches one token after
// CONSUMER, and MSG.NEXT is two); TestShippedNATSConfigLetsRetentionPull
// fails until it does.
const pullPermission = "$JS.API.CONSUMER.MSG.NEXT.CUSTOMER_EVENTS." + retention.ConsumerName

// startNATS runs an embedded server like natstest.Start, from a copy of
// deploy/nats/nats.conf that grants retention pullPermission if the
// shipped file does not, so the rest of the suite tests retention itself.
func startNATS(t *testing.T) *natstest.Server {
	t.Helper()
	conf, err := os.ReadFile(natstest.ConfigPath())
	if err != nil {
		t.Fatal(err)
	}
	text := string(conf)
	if !strings.Contains(text, pullPermission) {
		const anchor = `"$JS.API.CONSUMER.INFO.CUSTOMER_EVENTS.*", `
		if strings.Count(text, anchor) != 1 {
			t.Fatalf("nats.conf changed: cannot find retention's %s permission to add %s next to it", anchor, pullPermission)
		}
		text = strings.Replace(text, anchor, anchor+`"`+pullPermission+`", `, 1)
	}
	path := filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	setNATSEnv()
	opts, err := server.ProcessConfigFile(path)
	if err != nil {
		t.Fatalf("load %s: %v", path, err)
	}
	opts.Host, opts.Port = "127.0.0.1", -1
	opts.HTTPHost, opts.HTTPPort = "", 0
	opts.StoreDir = t.TempDir()
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
	return &natstest.Server{Server: srv, StoreDir: opts.StoreDir}
}

// setNATSEnv sets the variables nats.conf reads, as natstest does.
func setNATSEnv() {
	for user, v := range map[string]string{
		"GATEWAY": "gateway", "PROVISIONER": "provisioner", "RETENTION": "retention",
		"PARTNER": "partner-25521a6f", "PARTNER2": "partner-7d3c9a52", "SYS": "sys",
	} {
		// constant names: os.Setenv fails only on an empty name or one with '=' or NUL
		_ = os.Setenv("TEXTKIT_NATS_"+user+"_PASSWORD", natstest.Passwords[v])
	}
	_ = os.Setenv("TEXTKIT_NATS_LISTEN", "127.0.0.1:4222")
	_ = os.Setenv("TEXTKIT_NATS_MONITOR_LISTEN", "127.0.0.1:8222")
	_ = os.Setenv("TEXTKIT_NATS_STORE_DIR", os.TempDir())
}

// TestShippedNATSConfigLetsRetentionPull checks that user retention, with
// the shipped nats.conf, can create its durable consumer and pull events
// from it with no permission violation.
func TestShippedNATSConfigLetsRetentionPull(t *testing.T) {
	srv := natstest.Start(t)
	prov, err := jetstream.New(srv.Connect(t, "provisioner"))
	if err != nil {
		t.Fatal(err)
	}
	if err := natsbus.EnsureStreams(ctx(t), prov, natsbus.StreamLimits{}); err != nil {
		t.Fatal(err)
	}
	conn := srv.Connect(t, "retention")
	violations := make(chan error, 10)
	conn.SetErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { violations <- err })
	js, err := jetstream.New(conn)
	if err != nil {
		t.Fatal(err)
	}
	c, err := js.CreateOrUpdateConsumer(ctx(t), natsbus.EventStream, retention.ConsumerConfig(time.Minute))
	if err != nil {
		t.Fatalf("create the retention consumer as user retention: %v", err)
	}
	if _, err := c.Fetch(1, jetstream.FetchMaxWait(500*time.Millisecond)); err != nil {
		t.Fatalf("pull: %v", err)
	}
	if err := conn.Flush(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-violations:
		t.Fatalf("user retention cannot pull its events (%v): deploy/nats/nats.conf must allow it to publish %q", err, pullPermission)
	case <-time.After(200 * time.Millisecond):
	}
}
