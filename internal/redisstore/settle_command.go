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
	keys := []string{outcomeKey(customerID, partnerID, commandID), legacyOutcomeKey(customerID, commandID), claimKey(customerID, partnerID, commandID)}
	res, err := settleCommandScript.Run(ctx, s.rdb, keys, "claim", ClaimTTL.Milliseconds()).Slice()
	if err != nil {
		return nil, fmt.Errorf("claim command %s: %w", commandID, err)
	}
	if code, _ := res[0].(int64); code == 0 {
		payload, _ := res[1].(string)
		return decodeOutcome(payload)
	}
	return nil, nil
}

// IndexAndClaim is IndexCommand then Claim in one round trip: one
// transaction on one Redis (go-redis splits it by slot on a cluster), so
// the two writes share one fsync of the append-only file.
func (s *Store) IndexAndClaim(ctx context.Context, partnerID, customerID, commandID string) (*command.Outcome, error) {
	idx := commandIndexKey(commandID)
	keys := []string{outcomeKey(customerID, partnerID, commandID), legacyOutcomeKey(customerID, commandID), claimKey(customerID, partnerID, commandID)}
	run := func() (*redis.Cmd, error) {
		pipe := s.rdb.TxPipeline()
		pipe.SAdd(ctx, idx, partnerID+"/"+customerID)
		pipe.PExpire(ctx, idx, OutcomeTTL)
		claim := pipe.EvalSha(ctx, settleCommandScript.Hash(), keys, "claim", ClaimTTL.Milliseconds())
		_, err := pipe.Exec(ctx)
		return claim, err
	}
	claim, err := run()
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		// Redis restarted without the script: load it and run again
		// (both writes are idempotent).
		if err := settleCommandScript.Load(ctx, s.rdb).Err(); err != nil {
			return nil, fmt.Errorf("claim command %s: %w", commandID, err)
		}
		claim, err = run()
	}
	if err != nil {
		return nil, fmt.Errorf("index and claim command %s: %w", commandID, err)
	}
	res, err := claim.Slice()
	if err != nil {
		return nil, fmt.Errorf("claim command %s: %w", commandID, err)
	}
	if code, _ := res[0].(int64); code == 0 {
		payload, _ := res[1].(string)
		return decodeOutcome(payload)
	}
	return nil, nil
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
	res, err := settleCommandScript.Run(ctx, s.rdb, keys, "settle", OutcomeTTL.Milliseconds(), string(o)).Slice()
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
