package redisstore

import (
	"context"
	_ "embed" // the Lua script
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/textkit/customers/internal/command"
)

// A command the gateway could not confirm sent is settled by the gateway
// (a rejection, Settle) unless the provisioner has claimed it (Claim)
// before making any side effect (a Twilio call): whichever comes first
// wins, so a command is never both answered as failed and half done.

//go:embed settle_command.lua
var settleCommandSource string

var settleCommandScript = redis.NewScript(settleCommandSource)

// ClaimTTL is how long a claim lasts: longer than the provisioner may
// handle one command (its MaxHandle). A claim outlived by its handler's
// crash lets the gateway settle the command again; the redelivered
// command then meets that settlement.
const ClaimTTL = 5 * time.Minute

// ErrClaimed means the provisioner has claimed the command: it is being
// processed and its outcome will come.
var ErrClaimed = errors.New("the command is being processed")

func claimKey(customerID, partnerID, commandID string) string {
	return "cust:{" + customerID + "}:claim:" + partnerID + ":" + commandID
}

// Claim returns the final outcome stored for partnerID's command commandID
// on customerID, if there is one; otherwise it claims the command for
// ClaimTTL, so that the gateway can no longer settle it, and returns nil.
// A retryable outcome is not final: the command is claimed to run again.
func (s *Store) Claim(ctx context.Context, partnerID, customerID, commandID string) (*command.Outcome, error) {
	res, err := s.runScript(ctx, settleCommandScript, claimKeys(partnerID, customerID, commandID), "claim", ClaimTTL.Milliseconds()).Slice()
	if err != nil {
		return nil, fmt.Errorf("claim command %s: %w", commandID, err)
	}
	return claimed(res)
}

func claimKeys(partnerID, customerID, commandID string) []string {
	return []string{outcomeKey(customerID, partnerID, commandID), legacyOutcomeKey(customerID, commandID), claimKey(customerID, partnerID, commandID)}
}

// claimed reads the claim script's answer: the final outcome stored, or
// nil when the command is now claimed.
func claimed(res []any) (*command.Outcome, error) {
	if code, _ := res[0].(int64); code == 0 {
		payload, _ := res[1].(string)
		return decodeOutcome(payload)
	}
	return nil, nil
}

// IndexAndClaim is IndexCommand and Claim in one round trip: a pipeline,
// not a transaction, since the index and the claim are in different slots
// (a MULTI spanning them is refused by a Redis Cluster, where each node
// gets its part, with its own WAIT: durably). On one Redis the two writes
// arrive together and share one fsync of the append-only file. Neither
// needs the other first: both are idempotent, and a failure of either
// fails the call, so the command is handled again.
func (s *Store) IndexAndClaim(ctx context.Context, partnerID, customerID, commandID string) (*command.Outcome, error) {
	keys := claimKeys(partnerID, customerID, commandID)
	var claim *redis.Cmd
	err := s.durably(ctx, s.indexCommandWrite(ctx, partnerID, commandID, customerID),
		write{key: keys[0], scripts: []*redis.Script{settleCommandScript}, queue: func(p redis.Pipeliner) {
			claim = p.EvalSha(ctx, settleCommandScript.Hash(), keys, "claim", ClaimTTL.Milliseconds())
		}})
	if err != nil {
		return nil, fmt.Errorf("index and claim command %s: %w", commandID, err)
	}
	res, err := claim.Slice()
	if err != nil {
		return nil, fmt.Errorf("claim command %s: %w", commandID, err)
	}
	return claimed(res)
}

// Settle stores rejection as the outcome of its command unless a final
// outcome is stored already (returned, with fresh=false) or the command is
// claimed (ErrClaimed).
func (s *Store) Settle(ctx context.Context, rejection command.Outcome) (out *command.Outcome, fresh bool, err error) {
	o, err := json.Marshal(rejection)
	if err != nil {
		return nil, false, fmt.Errorf("encode outcome: %w", err)
	}
	cid, pid, id := rejection.CustomerID, rejection.PartnerID, rejection.CommandID
	keys := []string{outcomeKey(cid, pid, id), legacyOutcomeKey(cid, id), claimKey(cid, pid, id)}
	res, err := s.runScript(ctx, settleCommandScript, keys, "settle", OutcomeTTL.Milliseconds(), string(o)).Slice()
	if err != nil {
		return nil, false, fmt.Errorf("settle command %s: %w", id, err)
	}
	code, _ := res[0].(int64)
	payload, _ := res[1].(string)
	switch code {
	case 0, 1:
		stored, err := decodeOutcome(payload)
		return stored, code == 1, err
	case 2:
		return nil, false, fmt.Errorf("settle command %s: %w", id, ErrClaimed)
	}
	return nil, false, fmt.Errorf("settle command %s: unexpected script result %v", id, res)
}
