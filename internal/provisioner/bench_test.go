package provisioner_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/natsbus"
	"github.com/textkit/customers/internal/provisioner"
	"github.com/textkit/customers/internal/stacktest"
	"github.com/textkit/customers/internal/twilio/emulator"
)

// discard is a Publisher that publishes nothing: BenchmarkProvisionerApply
// measures Handle without NATS. The embedded interface is nil; the
// benchmark's commands reach only the methods below.
type discard struct{ provisioner.Publisher }

func (discard) EraseCommand(context.Context, uint64) error             { return nil }
func (discard) PublishOutcome(context.Context, *command.Outcome) error { return nil }
func (discard) PublishEvent(context.Context, *command.Event) error     { return nil }

var benchSeq atomic.Int64

// incoming is cmd as the provisioner receives it from its partition.
func incoming(b testing.TB, cmd *command.Command) provisioner.Incoming {
	body, err := command.Encode(cmd)
	if err != nil {
		b.Fatal(err)
	}
	subject := fmt.Sprintf("%s.%d.%s.%s", command.PartitionPrefix, natsbus.PartitionOf(cmd.CustomerID), cmd.PartnerID, cmd.CustomerID)
	return provisioner.Incoming{Subject: subject, MsgID: cmd.ID, Data: body} // no stream sequence: nothing to erase
}

// BenchmarkProvisionerApply runs commands through Handle directly, against
// the real Redis, Vault and the Twilio emulator, without NATS (the outcome
// and event are not published). One op is one command.
func BenchmarkProvisionerApply(b *testing.B) {
	s := stacktest.Start(b, stacktest.Options{NoProvisioner: true, NoKeyKeeper: true})
	cfg := s.ProvisionerConfig(b)
	cfg.Publisher = discard{}
	p, err := provisioner.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	keys := s.Vault.Client(b, s.Tokens.Retention)
	ctx := context.Background()
	handle := func(b *testing.B, cmd *command.Command) {
		in := incoming(b, cmd)
		if err := p.Handle(ctx, in); err != nil {
			b.Fatalf("%s: %v", cmd.Type, err)
		}
	}
	check := func(b *testing.B, cmd *command.Command) {
		o, err := s.Store.Outcome(ctx, cmd.PartnerID, cmd.CustomerID, cmd.ID)
		if err != nil || o == nil || o.Status != command.Applied {
			b.Fatalf("%s: outcome %+v (%v), want APPLIED", cmd.Type, o, err)
		}
	}
	register := func(b *testing.B) string {
		id := uuid.NewString()
		cmd := registerCmd(id, fmt.Sprintf("bench-%d", benchSeq.Add(1)))
		handle(b, cmd)
		check(b, cmd)
		return id
	}
	active := func(b *testing.B) string {
		id := register(b)
		if err := keys.CreateKey(ctx, id); err != nil { // retention's part
			b.Fatal(err)
		}
		cmd := newCmd(command.Activate, id, nil)
		handle(b, cmd)
		check(b, cmd)
		return id
	}

	b.Run("register", func(b *testing.B) {
		b.ReportAllocs()
		var last string
		for b.Loop() {
			last = register(b)
		}
		_ = last
	})
	// Activate and deactivate are measured apart: the opposite command,
	// which puts the customer back, runs with the timer stopped.
	b.Run("deactivate", func(b *testing.B) {
		id := active(b)
		b.ReportAllocs()
		for b.Loop() {
			cmd := newCmd(command.Deactivate, id, nil)
			handle(b, cmd)
			b.StopTimer()
			check(b, cmd)
			handle(b, newCmd(command.Activate, id, nil))
			b.StartTimer()
		}
	})
	b.Run("activate", func(b *testing.B) {
		id := active(b)
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			handle(b, newCmd(command.Deactivate, id, nil))
			b.StartTimer()
			cmd := newCmd(command.Activate, id, nil)
			handle(b, cmd)
			b.StopTimer()
			check(b, cmd)
			b.StartTimer()
		}
	})
}

// BenchmarkProvisionerThroughput publishes a batch of commands onto NATS
// (a deactivate and an activate for each of 32, or 256, active customers,
// spread over the 16 partitions) and waits for all their outcomes, with 1
// and with 3 provisioner replicas, and with the Twilio emulator holding
// every request 150 ms (as the real Twilio's latency). One op is one batch;
// cmds/s is the throughput.
func BenchmarkProvisionerThroughput(b *testing.B) {
	for _, bc := range []struct {
		customers, replicas int
		twilioDelay         time.Duration
	}{{32, 1, 0}, {32, 3, 0}, {256, 1, 0}, {256, 3, 0}, {256, 1, 150 * time.Millisecond}} {
		customers, replicas := bc.customers, bc.replicas
		name := fmt.Sprintf("customers=%d/replicas=%d", customers, replicas)
		if bc.twilioDelay > 0 {
			name += "/twilio=+" + bc.twilioDelay.String()
		}
		b.Run(name, func(b *testing.B) {
			s := stacktest.Start(b, stacktest.Options{NoProvisioner: true})
			for range replicas {
				s.StartProvisioner(b, func(cfg *provisioner.Config) { cfg.KeyWait = 30 * time.Second })
			}
			nc := s.NATS.Connect(b, "gateway")
			js, err := jetstream.New(nc)
			if err != nil {
				b.Fatal(err)
			}
			outcomes := make(chan *command.Outcome, 4*customers)
			if _, err := nc.Subscribe(command.OutcomePrefix+".>", func(m *nats.Msg) {
				var o command.Outcome
				if json.Unmarshal(m.Data, &o) == nil {
					outcomes <- &o
				}
			}); err != nil {
				b.Fatal(err)
			}
			run := func(batch []*command.Command) {
				want := map[string]bool{}
				for _, c := range batch {
					body, err := command.Encode(c)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := js.Publish(context.Background(), command.CommandSubject(c.PartnerID, c.CustomerID), body, jetstream.WithMsgID(c.ID)); err != nil {
						b.Fatal(err)
					}
					want[c.ID] = true
				}
				timeout := time.After(60 * time.Second)
				for len(want) > 0 {
					select {
					case o := <-outcomes:
						if want[o.CommandID] && o.Status != command.Applied {
							b.Fatalf("%s %s: %s %v", o.Type, o.CommandID, o.Status, o.Err())
						}
						delete(want, o.CommandID)
					case <-timeout:
						b.Fatalf("%d outcomes missing", len(want))
					}
				}
			}
			ids := make([]string, customers)
			var setup []*command.Command
			for i := range ids {
				ids[i] = uuid.NewString()
				setup = append(setup, registerCmd(ids[i], fmt.Sprintf("tp-%d", benchSeq.Add(1))), newCmd(command.Activate, ids[i], nil))
			}
			run(setup)
			if bc.twilioDelay > 0 {
				if err := s.Twilio.Inject(emulator.Fault{Delay: bc.twilioDelay, Times: 1 << 30}); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			start := time.Now()
			n := 0
			for b.Loop() {
				batch := make([]*command.Command, 0, 2*customers)
				for _, id := range ids {
					batch = append(batch, newCmd(command.Deactivate, id, nil), newCmd(command.Activate, id, nil))
				}
				run(batch)
				n += len(batch)
			}
			b.ReportMetric(float64(n)/time.Since(start).Seconds(), "cmds/s")
		})
	}
}
