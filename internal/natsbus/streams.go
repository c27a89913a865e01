package natsbus

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/textkit/customers/internal/command"
)

// Partitions is the number of command partitions. It must equal the
// partition count in deploy/nats/nats.conf's subject mapping.
const Partitions = 16

// Stream names.
const (
	CommandStream    = "CUSTOMER_COMMANDS"
	EventStream      = "CUSTOMER_EVENTS"
	DeadLetterStream = "CUSTOMER_DLQ"
)

// StreamLimits are the retention bounds of the streams.
type StreamLimits struct {
	// CommandMaxAge bounds how long a command, which may carry plaintext
	// contact info when a partner publishes it directly, can stay in the
	// command stream. Commands are removed as soon as they are processed
	// (work-queue retention); MaxAge is the upper bound if nothing
	// processes them. Default 72h.
	CommandMaxAge time.Duration
	// DeadLetterMaxAge bounds how long rejected messages are kept. Default 7 days.
	DeadLetterMaxAge time.Duration
	// EventMaxAge bounds the event history in the stream (events carry no
	// personal data). Default 365 days.
	EventMaxAge time.Duration
	// Duplicates is the JetStream de-duplication window for Nats-Msg-Id.
	// Outside it, the Redis idempotency record still stops a second apply.
	// Default 10 minutes.
	Duplicates time.Duration
	// Replicas is the stream replication factor: 1 on one machine, 3 on a
	// cluster.
	Replicas int
}

func (l *StreamLimits) setDefaults() {
	if l.CommandMaxAge == 0 {
		l.CommandMaxAge = 72 * time.Hour
	}
	if l.DeadLetterMaxAge == 0 {
		l.DeadLetterMaxAge = 7 * 24 * time.Hour
	}
	if l.EventMaxAge == 0 {
		l.EventMaxAge = 365 * 24 * time.Hour
	}
	if l.Duplicates == 0 {
		l.Duplicates = 10 * time.Minute
	}
	if l.Replicas == 0 {
		l.Replicas = 1
	}
}

// StreamConfigs returns the configuration of every stream.
func StreamConfigs(l StreamLimits) []jetstream.StreamConfig {
	l.setDefaults()
	return []jetstream.StreamConfig{
		{
			Name:        CommandStream,
			Description: "customer commands, partitioned by customer id; removed once processed",
			Subjects:    []string{command.PartitionPrefix + ".>"},
			Retention:   jetstream.WorkQueuePolicy,
			Storage:     jetstream.FileStorage,
			MaxAge:      l.CommandMaxAge,
			Duplicates:  l.Duplicates,
			MaxMsgSize:  command.MaxSize + 4096,
			Replicas:    l.Replicas,
			Discard:     jetstream.DiscardNew,
		},
		{
			Name:        EventStream,
			Description: "customer and key lifecycle events (no personal data)",
			Subjects:    []string{command.EventPrefix + ".>", command.KeyEventPrefix + ".>"},
			Retention:   jetstream.LimitsPolicy,
			Storage:     jetstream.FileStorage,
			MaxAge:      l.EventMaxAge,
			Duplicates:  l.Duplicates,
			Replicas:    l.Replicas,
		},
		{
			Name:        DeadLetterStream,
			Description: "rejected command messages with the reason (may hold plaintext: bounded age)",
			Subjects:    []string{command.DeadLetterPrefix + ".>"},
			Retention:   jetstream.LimitsPolicy,
			Storage:     jetstream.FileStorage,
			MaxAge:      l.DeadLetterMaxAge,
			Duplicates:  l.Duplicates,
			Replicas:    l.Replicas,
		},
	}
}

// EnsureStreams creates or updates every stream. It is idempotent; the
// provisioner runs it at start.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, l StreamLimits) error {
	for _, cfg := range StreamConfigs(l) {
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("create stream %s: %w", cfg.Name, err)
		}
	}
	return nil
}

// PartitionConsumer returns the durable consumer of one command partition.
// MaxAckPending 1 means one command per partition is in flight across all
// provisioner replicas, which keeps every customer's commands in order.
func PartitionConsumer(partition int, ackWait time.Duration) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       PartitionConsumerName(partition),
		Description:   fmt.Sprintf("provisioner, command partition %d", partition),
		FilterSubject: command.PartitionFilter(partition),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		MaxAckPending: 1,
		MaxDeliver:    -1,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
}

// PartitionConsumerName is the durable name of partition's consumer.
func PartitionConsumerName(partition int) string {
	return fmt.Sprintf("provisioner-p%02d", partition)
}

// EnsurePartitionConsumers creates or updates the consumers of every partition.
func EnsurePartitionConsumers(ctx context.Context, js jetstream.JetStream, ackWait time.Duration) error {
	for p := 0; p < Partitions; p++ {
		if _, err := js.CreateOrUpdateConsumer(ctx, CommandStream, PartitionConsumer(p, ackWait)); err != nil {
			return fmt.Errorf("create consumer %s: %w", PartitionConsumerName(p), err)
		}
	}
	return nil
}

// CheckStream reports whether stream exists, for readiness probes.
func CheckStream(ctx context.Context, js jetstream.JetStream, stream string) error {
	_, err := js.Stream(ctx, stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("stream %s does not exist yet (the provisioner creates it at start)", stream)
	}
	return err
}

// PartitionOf returns the partition the NATS server maps customerID's
// commands onto: FNV-1a of the id modulo Partitions, exactly as the
// server's partition() subject transform computes it.
func PartitionOf(customerID string) int {
	h := fnv.New32a()
	h.Write([]byte(customerID))
	return int(h.Sum32() % Partitions)
}
