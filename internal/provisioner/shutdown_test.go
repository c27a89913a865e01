package provisioner_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/natsbus"
	"github.com/textkit/customers/internal/testenv"
	"github.com/textkit/customers/internal/twilio/emulator"
)

// Stopping a replica (SIGTERM) while it handles a command lets the command
// finish: it is applied, its outcome published and the message
// acknowledged, not left for redelivery after the ack wait.
func TestGracefulStopFinishesTheCommandInFlight(t *testing.T) {
	h := newHarness(t)
	stop := h.start(t)
	if err := h.twilio.Inject(emulator.Fault{Op: emulator.OpCreate, Delay: 1500 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	id := uuid.NewString()
	reg := registerCmd(id, "in-flight")
	h.publish(reg)
	h.waitFor("the create to reach Twilio", func() bool { return h.twilio.Count(emulator.OpCreate) == 1 })
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	o := h.outcome(reg.ID)
	mustApplied(t, o)
	<-stopped
	// The ack travels on the stopped replica's connection and this check
	// on another one, so the server may not have applied it yet: allow it
	// a moment, well below the ack wait (after which an unacknowledged
	// command would stay in the stream, with no replica left to take it).
	testenv.Eventually(t, 1500*time.Millisecond, func() error {
		info, err := h.provisionerStreamInfo(natsbus.CommandStream)
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Msgs != 0 {
			return fmt.Errorf("the finished command is still in the stream (%d messages): it was not acknowledged", info.State.Msgs)
		}
		return nil
	})
	_ = command.Applied
}
