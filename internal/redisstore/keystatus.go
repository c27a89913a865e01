package redisstore

import (
	"context"
	"fmt"
	"time"
)

// KeyState is where a customer's encryption key is in its lifecycle.
type KeyState string

// Key states. Retention writes them; the gateway shows them.
const (
	KeyPending   KeyState = "PENDING"
	KeyActive    KeyState = "ACTIVE"
	KeyScheduled KeyState = "SCHEDULED"
	KeyDestroyed KeyState = "DESTROYED"
)

// KeyRecord is what is known about a customer's key.
type KeyRecord struct {
	State       KeyState
	DestroyAt   time.Time // set when scheduled or destroyed
	DestroyedAt time.Time
	Reason      string
}

// KeyStatus returns the customer's key record; State is PENDING when
// retention has not recorded anything yet.
func (s *Store) KeyStatus(ctx context.Context, customerID string) (KeyRecord, error) {
	m, err := s.rdb.HGetAll(ctx, keyStatusKey(customerID)).Result()
	if err != nil {
		return KeyRecord{}, fmt.Errorf("key status of %s: %w", customerID, err)
	}
	r := KeyRecord{State: KeyPending, Reason: m["reason"]}
	if st := m["state"]; st != "" {
		r.State = KeyState(st)
	}
	r.DestroyAt, _ = time.Parse(time.RFC3339Nano, m["destroyAt"])
	r.DestroyedAt, _ = time.Parse(time.RFC3339Nano, m["destroyedAt"])
	return r, nil
}

// SetKeyStatus records the customer's key record (retention only).
func (s *Store) SetKeyStatus(ctx context.Context, customerID string, r KeyRecord) error {
	fields := map[string]any{"state": string(r.State), "reason": r.Reason}
	if !r.DestroyAt.IsZero() {
		fields["destroyAt"] = r.DestroyAt.UTC().Format(time.RFC3339Nano)
	}
	if !r.DestroyedAt.IsZero() {
		fields["destroyedAt"] = r.DestroyedAt.UTC().Format(time.RFC3339Nano)
	}
	if err := s.rdb.HSet(ctx, keyStatusKey(customerID), fields).Err(); err != nil {
		return fmt.Errorf("record key status of %s: %w", customerID, err)
	}
	return nil
}
