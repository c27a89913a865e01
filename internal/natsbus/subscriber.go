package natsbus

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmjs "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/jetstream"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Metadata keys the command subscriber sets on every watermill message.
const (
	MetaSubject   = "nats_subject"   // the subject the command was stored on
	MetaMsgID     = "nats_msg_id"    // the Nats-Msg-Id header, "" if none
	MetaDelivered = "nats_delivered" // how many times JetStream delivered it
	MetaStreamSeq = "nats_stream_seq"
)

// PartitionTopic is the watermill topic of one command partition.
func PartitionTopic(partition int) string { return fmt.Sprintf("partition-%02d", partition) }

func partitionOfTopic(topic string) (int, error) {
	var p int
	if _, err := fmt.Sscanf(topic, "partition-%02d", &p); err != nil || p < 0 || p >= Partitions {
		return 0, fmt.Errorf("topic %q is not a command partition", topic)
	}
	return p, nil
}

// Backoff is the redelivery delay after a transient failure: exponential
// from Base, capped at Max, with full jitter.
type Backoff struct {
	Base, Max time.Duration
}

// WaitTime implements the watermill-nats Delay interface. It never gives
// up: a command is only ever finished by an outcome.
func (b Backoff) WaitTime(retryNum uint64) time.Duration {
	d := b.Base
	for i := uint64(1); i < retryNum && d < b.Max; i++ {
		d *= 2
	}
	if d > b.Max {
		d = b.Max
	}
	return d/2 + rand.N(d/2+1)
}

// NewCommandSubscriber returns a watermill subscriber over the durable
// partition consumers (which EnsurePartitionConsumers creates). Subscribe
// to PartitionTopic(p) for each partition p.
func NewCommandSubscriber(nc *nats.Conn, logger watermill.LoggerAdapter, ackWait time.Duration, backoff Backoff) (*wmjs.Subscriber, error) {
	return wmjs.NewSubscriber(wmjs.SubscriberConfig{
		Conn:           nc,
		Logger:         logger,
		AckWaitTimeout: ackWait,
		NakDelay:       backoff,
		ResourceInitializer: func(ctx context.Context, js jetstream.JetStream, topic string) (jetstream.Consumer, func(context.Context, watermill.LoggerAdapter), error) {
			p, err := partitionOfTopic(topic)
			if err != nil {
				return nil, nil, err
			}
			c, err := js.Consumer(ctx, CommandStream, PartitionConsumerName(p))
			if err != nil {
				return nil, nil, fmt.Errorf("consumer %s: %w", PartitionConsumerName(p), err)
			}
			return c, nil, nil
		},
		// One message at a time per partition: the consumer allows only
		// one in flight anyway.
		ConsumeOptions: []jetstream.PullConsumeOpt{jetstream.PullMaxMessages(1)},
		Unmarshaler:    unmarshaler{},
	})
}

// unmarshaler accepts any message: commands published by partners carry no
// watermill headers, and a message that cannot be decoded must still reach
// the handler so it is rejected with a reason instead of being dropped.
type unmarshaler struct{}

func (unmarshaler) Unmarshal(msg jetstream.Msg) (*message.Message, error) {
	id := msg.Headers().Get(nats.MsgIdHdr)
	uuid := id
	if uuid == "" {
		uuid = watermill.NewUUID()
	}
	m := message.NewMessage(uuid, msg.Data())
	m.Metadata.Set(MetaSubject, msg.Subject())
	m.Metadata.Set(MetaMsgID, id)
	if md, err := msg.Metadata(); err == nil {
		m.Metadata.Set(MetaDelivered, strconv.FormatUint(md.NumDelivered, 10))
		m.Metadata.Set(MetaStreamSeq, strconv.FormatUint(md.Sequence.Stream, 10))
	}
	return m, nil
}
