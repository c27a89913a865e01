package natsbus

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/textkit/customers/internal/command"
)

// ErrCommandStreamFull means the command stream refused a command because
// one of its limits is reached (StreamLimits: the customer's backlog or the
// stream's size). Nothing was stored and the command id is not used up:
// the same command can be published again once the provisioner has caught up.
var ErrCommandStreamFull = errors.New("the command stream is full")

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
// sync_interval always). An attempt that gets no answer (on a cluster: the
// stream's leader died or is being elected) is sent again with the same
// id until ctx ends (see publishOnce), so the command is stored once.
func (p *CommandPublisher) PublishCommand(ctx context.Context, c *command.Command) error {
	b, err := command.Encode(c)
	if err != nil {
		return err
	}
	_, err = publishOnce(ctx, p.js, withTrace(ctx, command.GatewaySubject(c.PartnerID, c.CustomerID), b), c.ID)
	if errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) {
		return fmt.Errorf("publish command %s: the command stream does not answer: it does not exist yet (is the provisioner running?) or, on a cluster, has no leader: %w", c.ID, err)
	}
	if full, ok := streamFull(err); ok {
		return fmt.Errorf("publish command %s: %w (%s); try again once the provisioner has caught up: %w", c.ID, ErrCommandStreamFull, full, err)
	}
	if err != nil {
		return fmt.Errorf("publish command %s: %w", c.ID, err)
	}
	return nil
}

// streamFull reports whether err is JetStream refusing a message because a
// stream limit is reached, and which.
func streamFull(err error) (string, bool) {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return "", false
	}
	switch d := apiErr.Description; d {
	case "maximum messages per subject exceeded":
		return "too many commands of this customer are waiting", true
	case "maximum bytes exceeded", "maximum messages exceeded":
		return d, true
	}
	return "", false
}
