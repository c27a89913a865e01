package provisioner_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/textkit/customers/internal/natsbus/natstest"
	"github.com/textkit/customers/internal/provisioner"
)

// runDefault runs a replica with the production RunConfig (only the
// connection set) on a connection of its own, which it returns.
func (h *harness) runDefault(t *testing.T, cfg provisioner.Config) *nats.Conn {
	t.Helper()
	p, err := provisioner.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := nats.Connect(h.stack.NATS.URL(), nats.UserInfo("provisioner", natstest.Passwords["provisioner"]))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	running := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, provisioner.RunConfig{Conn: conn, Running: running}) }()
	t.Cleanup(func() {
		cancel()
		<-done //nolint:errcheck // cancelled: Run returns the cancellation or nil
		conn.Close()
	})
	select {
	case <-running:
	case err := <-done:
		t.Fatalf("replica stopped at start: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("replica did not start")
	}
	return conn
}

// A provisioner killed mid-command (its handler stuck, its connection
// gone) holds the command's partition only for the default ack wait: a
// replica started afterwards applies the command within seconds. The
// bound, 20s, is a correctness bound: before, the default ack wait held
// the partition for 90s.
func TestAKilledProvisionersPartitionResumesWithinSeconds(t *testing.T) {
	t.Parallel() // mostly waiting for the redelivery
	h := newHarness(t)
	dying := &dyingTwilio{created: make(chan struct{}), release: make(chan struct{})}
	cfg := h.stack.ProvisionerConfig(t)
	dying.Subaccounts = cfg.Twilio
	cfg.Twilio = dying
	conn := h.runDefault(t, cfg)
	t.Cleanup(func() { close(dying.release) }) // runs before the replica's cleanup
	id := uuid.NewString()
	reg := registerCmd(id, "killed")
	h.publish(reg)
	<-dying.created
	conn.Close() // killed: no ack, no heartbeat, the handler never returns
	h.runDefault(t, h.stack.ProvisionerConfig(t))
	ready := time.Now()
	deadline := time.After(20 * time.Second)
	for h.published(reg.ID) == nil {
		select {
		case <-deadline:
			t.Fatalf("the command was not applied %s after a new replica was ready", time.Since(ready).Round(time.Second))
		case <-time.After(50 * time.Millisecond):
		}
	}
	h.mustRegistered(t, id, h.published(reg.ID))
	t.Logf("applied %s after the new replica was ready", time.Since(ready).Round(time.Millisecond))
}
