package natsbus

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/textkit/customers/internal/command"
)

// Partitions is the number of command partitions. It must equal the
// partition count in deploy/nats/nats.conf's subject mapping, and the
// partitions its publish permissions name (a test checks both).
const Partitions = 16

// Stream names.
const (
	CommandStream    = "CUSTOMER_COMMANDS"
	EventStream      = "CUSTOMER_EVENTS"
	DeadLetterStream = "CUSTOMER_DLQ"
)

// StreamLimits are the retention and size bounds of the streams.
//
// Every stream is bounded in bytes as well as in age, so that no publisher
// can fill the server's disk (deploy/nats/nats.conf gives JetStream
// max_file_store 10GB): the defaults reserve 1 GiB + 4 GiB + 256 MiB, about
// half of it, which leaves room for the streams' replicas of another
// deployment sharing the server, and for compaction. JetStream reserves
// MaxBytes when a stream is created and refuses a stream that does not fit.
type StreamLimits struct {
	// CommandMaxAge bounds how long a command, which may carry plaintext
	// contact info when a partner publishes it directly, can stay in the
	// command stream. Commands are removed as soon as they are processed
	// (work-queue retention); MaxAge is the upper bound if nothing
	// processes them. Default 72h.
	CommandMaxAge time.Duration
	// CommandMaxBytes bounds the command stream's size. Commands are
	// removed once processed, so the stream only holds a backlog: 1 GiB
	// (the default) is some 15 000 commands of the largest size (64 KiB)
	// and millions of ordinary ones (well under 1 KiB), hours of a stopped
	// provisioner at any realistic rate. When it is full a publish is
	// refused with an error ("maximum bytes exceeded"; discard new), never
	// is a stored command dropped.
	CommandMaxBytes int64
	// CommandMaxPerCustomer bounds how many commands one subject (one
	// customer, in one of the two forms: published directly or by the
	// gateway) may have waiting in the command stream. Beyond it a publish
	// for that customer is refused with an error ("maximum messages per
	// subject exceeded") until the provisioner catches up, so one
	// customer's flood cannot take the whole stream, nor its partition:
	// JetStream hands a partition's consumer its commands in stream order,
	// at most PartitionMaxAckPending unacknowledged, and one customer's
	// are handled one at a time, so a customer with more waiting than that
	// window would hold every other customer of its partition behind its
	// own backlog (the partner-flood chaos scenario measured it: another
	// partner's commands timed out behind a hot customer's). With the
	// default, 32, a customer takes at most a quarter of the window (both
	// forms: 64 of 256); a customer needs a handful of commands in its
	// life, and 32 waiting at once is still a burst. Default 32.
	CommandMaxPerCustomer int64
	// DeadLetterMaxAge bounds how long rejected messages are kept. Default 7 days.
	DeadLetterMaxAge time.Duration
	// DeadLetterMaxBytes bounds the dead-letter stream. A dead letter is a
	// small JSON document (under 1 KiB for most, a few KiB at most), so
	// the default, 256 MiB, holds hundreds of thousands of them. When it
	// is full the oldest go first: dead letters are diagnostics (the
	// outcome, stored in Redis, says the same) and must not hold up the
	// commands behind a bad one.
	DeadLetterMaxBytes int64
	// DeadLetterMaxPerPartner bounds the dead letters of one partner
	// (subject customers.dlq.<partnerId>); beyond it that partner's oldest
	// go first, so one partner's bad messages cannot push out everybody
	// else's. Default 100 000.
	DeadLetterMaxPerPartner int64
	// EventMaxAge bounds the event history in the stream (events carry no
	// personal data). Default 365 days.
	EventMaxAge time.Duration
	// EventMaxBytes bounds the event stream. An event is about 400 bytes:
	// the default, 4 GiB, holds some ten million, a year of several
	// commands a minute for every customer of a large deployment. When it
	// is full a new event is refused (discard new), so the command that
	// produced it is retried with backoff and the provisioner's errors say
	// why, rather than old events (which retention may not have read yet)
	// being dropped silently.
	EventMaxBytes int64
	// Duplicates is the JetStream de-duplication window for Nats-Msg-Id.
	// Outside it, the Redis idempotency record still stops a second apply.
	// Default 10 minutes.
	Duplicates time.Duration
	// Replicas is the replication factor of the streams and of their
	// consumers (which inherit it): 1 on one server, 3 on a three-node
	// JetStream cluster (see CheckReplicas). Default 1.
	Replicas int
}

// Default stream sizes; see StreamLimits.
const (
	DefaultCommandMaxBytes         = 1 << 30
	DefaultCommandMaxPerCustomer   = 32
	DefaultDeadLetterMaxBytes      = 256 << 20
	DefaultDeadLetterMaxPerPartner = 100_000
	DefaultEventMaxBytes           = 4 << 30
)

func (l *StreamLimits) setDefaults() {
	if l.CommandMaxAge == 0 {
		l.CommandMaxAge = 72 * time.Hour
	}
	if l.CommandMaxBytes == 0 {
		l.CommandMaxBytes = DefaultCommandMaxBytes
	}
	if l.CommandMaxPerCustomer == 0 {
		l.CommandMaxPerCustomer = DefaultCommandMaxPerCustomer
	}
	if l.DeadLetterMaxAge == 0 {
		l.DeadLetterMaxAge = 7 * 24 * time.Hour
	}
	if l.DeadLetterMaxBytes == 0 {
		l.DeadLetterMaxBytes = DefaultDeadLetterMaxBytes
	}
	if l.DeadLetterMaxPerPartner == 0 {
		l.DeadLetterMaxPerPartner = DefaultDeadLetterMaxPerPartner
	}
	if l.EventMaxAge == 0 {
		l.EventMaxAge = 365 * 24 * time.Hour
	}
	if l.EventMaxBytes == 0 {
		l.EventMaxBytes = DefaultEventMaxBytes
	}
	if l.Duplicates == 0 {
		l.Duplicates = 10 * time.Minute
	}
	if l.Replicas == 0 {
		l.Replicas = 1
	}
}

// CommandSubjects are the command stream's subjects: the two forms of each
// partition's subject (command.PartitionSubjects), for exactly the
// partitions 0..Partitions-1 that the consumers read. Nothing else is
// stored: a publish to any other subject (a partition token out of range
// or with a leading zero, a token too many or too few) finds no stream and
// fails at once, without using up its Nats-Msg-Id.
func CommandSubjects() []string {
	var subjects []string
	for p := 0; p < Partitions; p++ {
		subjects = append(subjects, command.PartitionSubjects(p)...)
	}
	return subjects
}

// StreamConfigs returns the configuration of every stream.
func StreamConfigs(l StreamLimits) []jetstream.StreamConfig {
	l.setDefaults()
	return []jetstream.StreamConfig{
		{
			Name:        CommandStream,
			Description: "customer commands, partitioned by customer id; removed once processed",
			Subjects:    CommandSubjects(),
			Retention:   jetstream.WorkQueuePolicy,
			Storage:     jetstream.FileStorage,
			MaxAge:      l.CommandMaxAge,
			MaxBytes:    l.CommandMaxBytes,
			// One subject is one customer: its backlog is bounded, and a
			// publish beyond the bound is refused rather than an older
			// command of the customer dropped.
			MaxMsgsPerSubject:    l.CommandMaxPerCustomer,
			DiscardNewPerSubject: true,
			Duplicates:           l.Duplicates,
			MaxMsgSize:           command.MaxSize + 4096,
			Replicas:             l.Replicas,
			Discard:              jetstream.DiscardNew,
		},
		{
			Name:        EventStream,
			Description: "customer and key lifecycle events (no personal data)",
			Subjects:    []string{command.EventPrefix + ".>", command.KeyEventPrefix + ".>"},
			Retention:   jetstream.LimitsPolicy,
			Storage:     jetstream.FileStorage,
			MaxAge:      l.EventMaxAge,
			MaxBytes:    l.EventMaxBytes,
			Discard:     jetstream.DiscardNew,
			Duplicates:  l.Duplicates,
			Replicas:    l.Replicas,
		},
		{
			Name:              DeadLetterStream,
			Description:       "what is known of rejected command messages (ids, subject, reason, size; never the message)",
			Subjects:          []string{command.DeadLetterPrefix + ".>"},
			Retention:         jetstream.LimitsPolicy,
			Storage:           jetstream.FileStorage,
			MaxAge:            l.DeadLetterMaxAge,
			MaxBytes:          l.DeadLetterMaxBytes,
			MaxMsgsPerSubject: l.DeadLetterMaxPerPartner,
			Discard:           jetstream.DiscardOld,
			Duplicates:        l.Duplicates,
			Replicas:          l.Replicas,
		},
	}
}

// EnsureStreams creates or updates every stream. It is idempotent; the
// provisioner runs it at start. A change of Replicas is applied to the
// existing streams (JetStream moves them to 1 or 3 servers, and their
// consumers, which have no replica count of their own, with them). On a
// cluster still forming (no JetStream meta leader elected yet, too few
// servers up for the replicas) it tries again for up to ClusterWait.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, l StreamLimits) error {
	l.setDefaults()
	if err := CheckReplicas(l.Replicas); err != nil {
		return err
	}
	for _, cfg := range StreamConfigs(l) {
		err := whileClusterForms(ctx, "create stream "+cfg.Name, func(ctx context.Context) error {
			_, err := js.CreateOrUpdateStream(ctx, cfg)
			return err
		})
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && apiErr.ErrorCode == jsErrReplicasNotSupported {
			return fmt.Errorf("create stream %s with %d replicas: this NATS server is not in a cluster (TEXTKIT_NATS_REPLICAS=3 needs a three-node JetStream cluster; use 1): %w", cfg.Name, cfg.Replicas, err)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// ClusterWait bounds how long EnsureStreams and EnsurePartitionConsumers
// wait for a forming cluster.
const ClusterWait = 30 * time.Second

// JetStream error codes (nats-server's jetstream_errors_generated.go) of a
// cluster that is not ready yet, or of replicas a lone server cannot have.
const (
	jsErrNoPeers              jetstream.ErrorCode = 10005 // too few servers up for the replicas
	jsErrClusterNotAvailable  jetstream.ErrorCode = 10008 // no meta leader (yet)
	jsErrReplicasNotSupported jetstream.ErrorCode = 10074 // replicas > 1 on a server outside a cluster
)

// whileClusterForms runs op (one JetStream API request, each attempt
// bounded) until it succeeds, fails for another reason than a cluster not
// ready yet, or ClusterWait (or ctx) ends; the error then says so.
func whileClusterForms(ctx context.Context, what string, op func(context.Context) error) error {
	deadline := time.Now().Add(ClusterWait)
	for attempt := uint64(1); ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := op(actx)
		cancel()
		if err == nil {
			return nil
		}
		if !clusterForming(err) || ctx.Err() != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: the NATS cluster is not ready after %v (no JetStream meta leader, or fewer servers up than the streams' replicas; is every node running and routed to the others?): %w", what, ClusterWait, err)
		}
		wait := time.NewTimer(Backoff{Base: 200 * time.Millisecond, Max: 2 * time.Second}.WaitTime(attempt))
		select {
		case <-ctx.Done():
			wait.Stop()
			return fmt.Errorf("%s: %w (last: %w)", what, ctx.Err(), err)
		case <-wait.C:
		}
	}
}

// clusterForming reports whether err is a JetStream API request failing
// because the cluster is not ready yet: unanswered, or answered that no
// meta leader or too few servers are there.
func clusterForming(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode == jsErrNoPeers || apiErr.ErrorCode == jsErrClusterNotAvailable
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrNoResponders)
}

// PartitionMaxAckPending is how many commands of one partition may be in
// flight at once: Run works on them concurrently, one customer's at a time.
// One customer's backlog at its cap (both forms, 2 ×
// DefaultCommandMaxPerCustomer) takes at most a quarter of it (a test
// checks), so a busy customer leaves room for the rest of its partition.
const PartitionMaxAckPending = MaxPrefetch

// PartitionConsumer returns the durable consumer of one command partition.
// Many commands of a partition are in flight at once, but one replica
// reads a partition at a time (the pinned client of PriorityGroup) and
// hands each customer's commands out one after the other (Run), which keeps
// every customer's commands in order. The pin moves to another replica
// when the pinned one has not pulled for PinnedTTL, twice ackWait (by
// then what the dead replica held has passed its AckWait, and JetStream
// redelivers it before anything newer), or at once when a provisioner
// starts (EnsurePartitionConsumers unpins; Run's stream check keeps the
// order meanwhile).
func PartitionConsumer(partition int, ackWait time.Duration) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		PriorityPolicy: jetstream.PriorityPolicyPinned,
		PriorityGroups: []string{PriorityGroup},
		PinnedTTL:      2 * ackWait,
		Durable:        PartitionConsumerName(partition),
		Description:    fmt.Sprintf("provisioner, command partition %d", partition),
		FilterSubject:  command.PartitionFilter(partition),
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        ackWait,
		MaxAckPending:  PartitionMaxAckPending,
		MaxDeliver:     -1,
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	}
}

// CustomerLane is the lane key of a command partition's subject: the
// customer's direct subject, for its gateway subject (".gw") too, so one
// customer's commands are handled one after the other whoever sent them.
func CustomerLane(subject string) string {
	return strings.TrimSuffix(subject, ".gw")
}

// CustomerSubjects returns both subjects a customer's commands are stored
// on, direct and gateway, for the subject of one of them.
func CustomerSubjects(subject string) []string {
	direct := CustomerLane(subject)
	return []string{direct, direct + ".gw"}
}

// PartitionConsumerName is the durable name of partition's consumer.
func PartitionConsumerName(partition int) string {
	return fmt.Sprintf("provisioner-p%02d", partition)
}

// EnsurePartitionConsumers creates or updates the consumers of every
// partition, and unpins them: a provisioner that starts (typically in place
// of one that died) takes the partitions over at once instead of waiting
// PinnedTTL for the dead one's pin to lapse. A live replica that loses its
// pin this way finishes what it holds; the new one keeps each customer's
// order by Run's stream check (a command waits while an earlier one of its
// customer is still in the stream). Unpinning is best effort: a consumer
// nobody has pinned yet answers with an error, and a failure only means
// waiting PinnedTTL.
func EnsurePartitionConsumers(ctx context.Context, js jetstream.JetStream, ackWait time.Duration) error {
	for p := 0; p < Partitions; p++ {
		err := whileClusterForms(ctx, "create consumer "+PartitionConsumerName(p), func(ctx context.Context) error {
			_, err := js.CreateOrUpdateConsumer(ctx, CommandStream, PartitionConsumer(p, ackWait))
			return err
		})
		if err != nil {
			return err
		}
	}
	stream, err := js.Stream(ctx, CommandStream)
	if err != nil {
		return fmt.Errorf("stream %s: %w", CommandStream, err)
	}
	for p := 0; p < Partitions; p++ {
		_ = stream.UnpinConsumer(ctx, PartitionConsumerName(p), PriorityGroup) // best effort, see above
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
