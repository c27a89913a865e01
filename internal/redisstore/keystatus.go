package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/keys"
)

// A customer's key record (keys.Record) is a hash, cust:{<id>}:key. The
// lifecycle's rules are internal/keys'; this file stores records and
// applies keys.Advance atomically (advanceKeyScript).

// Hash fields of cust:{<id>}:key. The gateway reads state, destroyAt,
// destroyedAt and reason through KeyStatus.
const (
	fieldState       = "state"
	fieldDestroyAt   = "destroyAt"
	fieldDestroyedAt = "destroyedAt"
	fieldReason      = "reason"
	fieldPartnerID   = "partnerId"
	fieldCommandID   = "commandId"
	publishedPrefix  = "published:"
)

// KeyStatus returns the customer's key record; State is PENDING when
// retention has not recorded anything yet. A record that cannot be read
// gives an error matching keys.ErrUnreadable together with the fields
// that could be read (the times it could not parse are zero): the caller
// must not act on it.
func (s *Store) KeyStatus(ctx context.Context, customerID string) (keys.Record, error) {
	m, err := s.rdb.HGetAll(ctx, keyStatusKey(customerID)).Result()
	if err != nil {
		return keys.Record{}, fmt.Errorf("key status of %s: %w", customerID, err)
	}
	r, err := keyRecordFrom(m)
	if err != nil {
		return r, fmt.Errorf("key status of %s: %w", customerID, err)
	}
	return r, nil
}

// keyRecordFrom reads a stored record. Every problem is reported (as
// keys.ErrUnreadable: what does not parse, and keys.Record.Problems), none
// is papered over with a default.
func keyRecordFrom(m map[string]string) (keys.Record, error) {
	r := keys.Record{
		State:     keys.Pending,
		Reason:    m[fieldReason],
		PartnerID: m[fieldPartnerID],
		CommandID: m[fieldCommandID],
	}
	var problems []string
	if st, ok := m[fieldState]; ok {
		r.State = keys.State(st)
	}
	// An empty field is an absent one (advanceKeyScript treats it so).
	readTime := func(field string) time.Time {
		v := m[field]
		if v == "" {
			return time.Time{}
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil || t.IsZero() {
			problems = append(problems, field+" is not an RFC 3339 time")
			return time.Time{}
		}
		return t
	}
	r.DestroyAt = readTime(fieldDestroyAt)
	r.DestroyedAt = readTime(fieldDestroyedAt)
	for k, v := range m {
		if t, ok := strings.CutPrefix(k, publishedPrefix); ok && t != "" && v == "1" {
			if r.Published == nil {
				r.Published = map[command.EventType]bool{}
			}
			r.Published[command.EventType(t)] = true
		}
	}
	return r, keys.Unreadable(append(r.Problems(), problems...))
}

// advanceKeyScript is keys.Advance, atomically: a later state replaces the
// state and every field given; the same state only fills fields that are
// still empty; an earlier state changes nothing. A stored state it does
// not know is left alone (an error naming unreadableStateReply). Its rank
// table is keys.States' order (TestAdvanceScriptIsTheLifecycleRule checks
// that they agree). It always writes (an unchanged state is rewritten as it
// is), so that the WAIT after it covers the record it answers with. It
// returns {changed, HGETALL}.
var advanceKeyScript = redis.NewScript(`
local rank = {PENDING = 0, ACTIVE = 1, SCHEDULED = 2, DESTROYED = 3}
local new = ARGV[1]
if rank[new] == nil then
  return redis.error_reply('unknown key state ' .. new)
end
local cur = redis.call('HGET', KEYS[1], 'state')
local curRank = 0
if cur then
  if rank[cur] == nil then return redis.error_reply('UNREADABLE stored key state') end
  curRank = rank[cur]
end
local changed = 0
if rank[new] > curRank then
  redis.call('HSET', KEYS[1], 'state', new)
  for i = 2, #ARGV, 2 do
    if ARGV[i + 1] ~= '' then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
  end
  changed = 1
elseif rank[new] == curRank then
  if not cur then redis.call('HSET', KEYS[1], 'state', new) end
  for i = 2, #ARGV, 2 do
    if ARGV[i + 1] ~= '' then
      local v = redis.call('HGET', KEYS[1], ARGV[i])
      if not v or v == '' then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
    end
  end
end
if changed == 0 then
  -- rewrite the state found as it is (a write WAIT can confirm)
  redis.call('HSET', KEYS[1], 'state', cur or new)
end
return {changed, redis.call('HGETALL', KEYS[1])}
`)

// AdvanceKeyStatus records r over the stored record by keys.Advance's rule,
// atomically: states only move forward, so a late or redelivered event can
// never turn a destroyed key back into an active or scheduled one, and
// recording the state the key is already in only fills fields that are
// still empty. It returns the record as stored afterwards and whether the
// state changed. A stored record that cannot be read gives an error
// matching keys.ErrUnreadable; when its state is what cannot be read,
// nothing was written.
func (s *Store) AdvanceKeyStatus(ctx context.Context, customerID string, r keys.Record) (keys.Record, bool, error) {
	args := []any{string(r.State),
		fieldReason, r.Reason,
		fieldPartnerID, r.PartnerID,
		fieldCommandID, r.CommandID,
		fieldDestroyAt, formatTime(r.DestroyAt),
		fieldDestroyedAt, formatTime(r.DestroyedAt),
	}
	res, err := s.runScript(ctx, advanceKeyScript, []string{keyStatusKey(customerID)}, args...).Slice()
	if err != nil {
		if strings.Contains(err.Error(), unreadableStateReply) {
			err = keys.UnreadableState()
		}
		return keys.Record{}, false, fmt.Errorf("record key status of %s: %w", customerID, err)
	}
	if len(res) != 2 {
		return keys.Record{}, false, fmt.Errorf("record key status of %s: unexpected script answer", customerID)
	}
	changed, _ := res[0].(int64)
	rec, err := keyRecordFrom(pairs(res[1]))
	if err != nil {
		return rec, changed == 1, fmt.Errorf("record key status of %s: %w", customerID, err)
	}
	return rec, changed == 1, nil
}

// unreadableStateReply starts advanceKeyScript's error for a stored state
// it does not know.
const unreadableStateReply = "UNREADABLE stored key state"

// SetKeyStatus records the customer's key record (retention only), with
// AdvanceKeyStatus's rules: it never moves a key back.
func (s *Store) SetKeyStatus(ctx context.Context, customerID string, r keys.Record) error {
	_, _, err := s.AdvanceKeyStatus(ctx, customerID, r)
	return err
}

// MarkKeyEventPublished notes that the key event of type t was published
// for the customer, so it is not published again.
func (s *Store) MarkKeyEventPublished(ctx context.Context, customerID string, t command.EventType) error {
	k := keyStatusKey(customerID)
	if err := s.writeDurably(ctx, k, func(p redis.Pipeliner) { p.HSet(ctx, k, publishedPrefix+string(t), "1") }); err != nil {
		return fmt.Errorf("record %s published for %s: %w", t, customerID, err)
	}
	return nil
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// pairs turns an HGETALL answer from a script (a flat list) into a map.
func pairs(v any) map[string]string {
	l, _ := v.([]any)
	m := make(map[string]string, len(l)/2)
	for i := 0; i+1 < len(l); i += 2 {
		m[toString(l[i])] = toString(l[i+1])
	}
	return m
}

func toString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	}
	return fmt.Sprint(v)
}
