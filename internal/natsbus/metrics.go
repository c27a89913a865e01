package natsbus

import (
	"strconv"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/textkit/customers/internal/command"
)

// Per-partition backlog of the command stream, as the consumers see it.
// A partition's consumer is given one command at a time, in order, so the
// command it is given is the oldest one of its partition not yet
// processed.
var (
	oldestPendingAge = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "textkit_commands_oldest_pending_age_seconds",
		Help: "Per partition: how long the oldest command not yet processed had been in the command stream when it was delivered (0 once the partition is empty).",
	}, []string{"partition"})
	pendingCommands = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "textkit_commands_pending",
		Help: "Per partition: commands waiting behind the one last delivered, as of its delivery.",
	}, []string{"partition"})
	// orderChecks counts the lanes' order checks (waitTurn): "skipped"
	// when the subscription received every delivery since the consumer's
	// acknowledgement floor, "stream" when the stream was asked for an
	// earlier message of the lane (two reads per command).
	orderChecks = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "textkit_lane_order_checks_total",
		Help: "Messages of ordered lanes about to be handed out, by how their order was established: skipped (every earlier delivery known to this subscription) or stream (the stream asked for an earlier message of the lane).",
	}, []string{"how"})
)

// Metadata key of the partition of a command delivery, and of the
// commands waiting behind it.
const (
	metaPartition = "textkit_partition"
	metaPending   = "textkit_pending"
)

// delivered records a command delivery's age and the backlog behind it.
func delivered(m *message.Message, md *jetstream.MsgMetadata, subject string) {
	if md.Stream != CommandStream {
		return
	}
	partition, ok := partitionOf(subject)
	if !ok {
		return
	}
	m.Metadata.Set(metaPartition, partition)
	m.Metadata.Set(metaPending, strconv.FormatUint(md.NumPending, 10))
	oldestPendingAge.WithLabelValues(partition).Set(time.Since(md.Timestamp).Seconds())
	pendingCommands.WithLabelValues(partition).Set(float64(md.NumPending))
}

// handled resets a partition's age once its last waiting command is done.
func handled(m *message.Message) {
	if p := m.Metadata.Get(metaPartition); p != "" && m.Metadata.Get(metaPending) == "0" {
		oldestPendingAge.WithLabelValues(p).Set(0)
	}
}

// partitionOf is the partition token of a partition subject,
// customers.cmdp.<n>.….
func partitionOf(subject string) (string, bool) {
	rest, ok := strings.CutPrefix(subject, command.PartitionPrefix+".")
	if !ok {
		return "", false
	}
	p, _, ok := strings.Cut(rest, ".")
	return p, ok
}
