package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/customer"
	"github.com/textkit/customers/internal/redisstore"
)

// A command's state, as command(id) and the mutation that sent it tell
// it, must be true and final:
//
//   - A command is recorded pending before it is published, with a
//     deadline by which its publish has ended (MutationTimeout plus
//     publishGrace). If JetStream acknowledged it but its outcome did not
//     arrive within the mutation (a timeout, a client gone), it is
//     recorded again, marked published, with the deadline by which the
//     command stream has dropped it if nobody processed it
//     (CommandMaxAge); a command whose outcome arrived needs no mark (the
//     outcome is stored before it is published), which spares one Redis
//     write per mutation. A gateway that crashes between the
//     acknowledgement and the outcome leaves the first record: a command
//     still unclaimed in the stream at its publish deadline is then
//     settled (below) and the provisioner applies nothing, consistently.
//   - A command whose publish failed, or was not acknowledged in time, or
//     whose pending record is past its deadline without an outcome, is
//     settled: the gateway stores a rejection for it (code UNAVAILABLE),
//     first wins (Store.Settle). If the message reaches the provisioner
//     after all (an acknowledgement lost in a crash), it meets that
//     rejection and applies nothing; if the provisioner stored its outcome
//     first, that outcome is the answer; if it has claimed the command
//     (it claims each before any side effect), the command is running:
//     the mutation answers TIMEOUT with its id, command(id) PENDING. So an
//     error answer is final, and nothing stays PENDING for ever.
//   - A settlement is not retryable under the same command id (a late
//     delivery of that very message must not be applied), so a request
//     retried with its Idempotency-Key sends its command under the next
//     attempt's id (commandFor).

// publishGrace is added to a pending command's publish deadline: the time
// from recording the command to starting its publish, and some clock skew
// between gateway replicas. A replica that settles a command a little
// early makes it fail, consistently (first wins), never applies it twice.
const publishGrace = 2 * time.Second

// settleTimeout bounds recording a settlement after the mutation's own
// time is up, so the mutation is still answered within MutationTimeout
// and a second.
const settleTimeout = 500 * time.Millisecond

// maxAttempts bounds how many settled attempts of one Idempotency-Key's
// mutation commandFor walks past.
const maxAttempts = 100

// errUnsettled means a command's publish failed and its settlement could
// not be stored either (Redis unreachable too): its fate is not known
// yet, so the mutation answers TIMEOUT with its id, as for a command still
// running; command(id) settles it once the store is back.
type errUnsettled struct{ commandID string }

func (e errUnsettled) Error() string { return "command " + e.commandID + " could not be settled" }

// isSettlement reports whether out is a rejection the gateway stored for a
// command that was never confirmed published or processed: code
// UNAVAILABLE and, unlike the provisioner's UNAVAILABLE rejections, not
// retryable under the same id.
func isSettlement(out *command.Outcome) bool {
	return out != nil && out.Status == command.Rejected && !out.Retryable &&
		len(out.Errors) == 1 && out.Errors[0].Code == customer.CodeUnavailable
}

// pendingOf is what the gateway records about cmd before publishing it.
func (g *Gateway) pendingOf(cmd *command.Command) redisstore.Pending {
	return redisstore.Pending{
		CommandID: cmd.ID, Type: cmd.Type, CustomerID: cmd.CustomerID, PartnerID: cmd.PartnerID, At: cmd.IssuedAt,
		Deadline: g.cfg.Now().UTC().Add(g.cfg.MutationTimeout + publishGrace),
	}
}

// published marks p published, with the command stream's deadline. A
// failure is logged: command(id) may then settle the command at its
// publish deadline, which the provisioner obeys (first wins).
func (g *Gateway) published(ctx context.Context, p redisstore.Pending) {
	p.Published, p.Deadline = true, g.cfg.Now().UTC().Add(g.cfg.CommandMaxAge)
	// Its own short time: a publish acknowledged at the mutation's last
	// moment must still be marked.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	if err := g.cfg.Store.RecordPending(rctx, p); err != nil {
		g.cfg.Logger.WarnContext(ctx, "could not mark the command published; it fails if it is not processed before its publish deadline",
			"command_id", p.CommandID, "error", err.Error(), "request_id", requestID(ctx))
	}
}

// overdue reports whether p is past its deadline (records without one: the
// command stream's MaxAge after they were written).
func (g *Gateway) overdue(p *redisstore.Pending) bool {
	deadline := p.Deadline
	if deadline.IsZero() {
		deadline = p.At.Add(g.cfg.CommandMaxAge)
	}
	return g.cfg.Now().After(deadline)
}

// settle stores, unless an outcome is stored already, the rejection of a
// command that was not confirmed published (or, published, was never
// processed), and returns the command's outcome: that rejection, or the
// outcome stored first. It takes its own short time: the mutation's may
// be up.
func (g *Gateway) settle(ctx context.Context, p redisstore.Pending, why string) (*command.Outcome, error) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	out := command.Outcome{
		Version: command.WireVersion, CommandID: p.CommandID, Type: p.Type, CustomerID: p.CustomerID, PartnerID: p.PartnerID,
		Status: command.Rejected, Errors: []*customer.Error{{Code: customer.CodeUnavailable, Message: why}}, ProcessedAt: g.cfg.Now().UTC(),
	}
	if err := g.cfg.Store.IndexCommand(sctx, p.PartnerID, p.CommandID, p.CustomerID); err != nil {
		return nil, fmt.Errorf("settle command %s: %w", p.CommandID, err)
	}
	stored, fresh, err := g.cfg.Store.Settle(sctx, out)
	if errors.Is(err, redisstore.ErrClaimed) {
		// Delivered, so published: it stays PENDING until its outcome.
		g.published(ctx, p)
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	log := g.cfg.Logger.With("command_id", p.CommandID, "customer_id", p.CustomerID, "request_id", requestID(ctx))
	if fresh {
		log.WarnContext(ctx, "command settled as rejected", "reason", why)
	} else {
		log.InfoContext(ctx, "command to settle had an outcome already", "status", string(stored.Status))
	}
	return stored, nil
}

// notPublished settles a command whose publish failed (pubErr) or was not
// acknowledged in time, and returns what execute returns for it: the
// outcome stored first if the provisioner got the command after all, else
// the settlement as an error (or errUnsettled if it could not be stored).
func (g *Gateway) notPublished(ctx context.Context, p redisstore.Pending, pubErr error) (*command.Outcome, error) {
	g.cfg.Logger.WarnContext(ctx, "command not confirmed published", "command_id", p.CommandID, "error", pubErr.Error(), "request_id", requestID(ctx))
	out, err := g.settle(ctx, p, fmt.Sprintf(
		"the command bus is unavailable: the command was not sent and will not be applied; try again (request %s)", requestID(ctx)))
	if errors.Is(err, redisstore.ErrClaimed) {
		return nil, errTimeout{p.CommandID} // it reached the provisioner and runs
	}
	if err != nil {
		g.cfg.Logger.ErrorContext(ctx, "could not settle an unpublished command", "command_id", p.CommandID, "error", err.Error(), "request_id", requestID(ctx))
		return nil, errUnsettled{p.CommandID}
	}
	return settledAnswer(out)
}

// settledAnswer is execute's answer to an outcome: a settlement is an
// outage, answered as an error (a GraphQL error for every mutation); any
// other outcome is the answer.
func settledAnswer(out *command.Outcome) (*command.Outcome, error) {
	if isSettlement(out) {
		return nil, out.Err()
	}
	return out, nil
}

// settleOverdue settles, for command(id), a pending command past its
// deadline without an outcome, and returns its outcome.
func (g *Gateway) settleOverdue(ctx context.Context, p *redisstore.Pending) (*command.Outcome, error) {
	why := "the command was never confirmed sent to the command bus (the gateway lost it or stopped before it was acknowledged); it was not applied and will not be"
	if p.Published {
		why = "the command was not processed before the command bus dropped it (its retention ran out); it was not applied and will not be"
	}
	return g.settle(ctx, *p, why)
}

// commandFor returns the id of the command a mutation on customerID sends
// and, for a request retried with its Idempotency-Key, the final outcome of
// the command an earlier attempt sent, to answer from instead of acting
// again (prev, nil when the mutation must run). Without a key the id is
// fresh. With one, ids are derived from the key, one per attempt: an
// attempt settled by the gateway (its command never sent) is final under
// its id, so the retry runs under the next attempt's; a command still
// running, or rejected by the provisioner as retryable, is sent again
// under its own id.
func (g *Gateway) commandFor(ctx context.Context, partnerID, customerID string) (prev *command.Outcome, id string, err error) {
	if idempotencyKeyFrom(ctx) == "" || customer.ValidateID("id", customerID) != nil {
		return nil, g.newID(ctx, "command"), nil // nothing to replay: skip the lookups
	}
	for n := range maxAttempts {
		id := g.attemptID(ctx, n)
		out, err := g.cfg.Store.Outcome(ctx, partnerID, customerID, id)
		switch {
		case err != nil:
			return nil, "", g.storeFailed(ctx, err)
		case out == nil || out.Retryable:
			return nil, id, nil
		case isSettlement(out):
			continue
		}
		markReplayed(ctx)
		return out, id, nil
	}
	return nil, "", customer.Errorf(customer.CodeUnavailable,
		"this Idempotency-Key's mutation was attempted %d times while the command bus was unavailable; try again with a new key", maxAttempts)
}

// attemptID is the command id of attempt n of a mutation with an
// Idempotency-Key; attempt 0's is the id derived before attempts existed.
func (g *Gateway) attemptID(ctx context.Context, n int) string {
	if n == 0 {
		return g.newID(ctx, "command")
	}
	return g.newID(ctx, fmt.Sprintf("command attempt %d", n))
}
