package natsbus

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/textkit/customers/internal/command"
)

// CommandPublisher publishes commands into the command stream.
type CommandPublisher struct {
	js jetstream.JetStream
}

// NewCommandPublisher returns a publisher on nc.
func NewCommandPublisher(nc *nats.Conn) (*CommandPublisher, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	return &CommandPublisher{js: js}, nil
}

// PublishCommand stores c in the command stream, on the gateway's subject, with its id as the
// Nats-Msg-Id, and returns once JetStream acknowledged it (on disk:
// sync_interval always).
func (p *CommandPublisher) PublishCommand(ctx context.Context, c *command.Command) error {
	b, err := command.Encode(c)
	if err != nil {
		return err
	}
	_, err = p.js.Publish(ctx, command.GatewaySubject(c.PartnerID, c.CustomerID), b, jetstream.WithMsgID(c.ID))
	if errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) {
		return fmt.Errorf("publish command %s: the command stream does not exist yet (is the provisioner running?): %w", c.ID, err)
	}
	if err != nil {
		return fmt.Errorf("publish command %s: %w", c.ID, err)
	}
	return nil
}
