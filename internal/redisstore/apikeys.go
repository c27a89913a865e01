package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/textkit/customers/internal/access"
)

// API key records (access.APIKey): the rules (roles, the key's format,
// checking a presented key) are internal/access'; this file stores the
// records, with the secret's hash only (access.KeyStore).

const apiKeysIndex = "apikeys"

func apiKeyKey(id string) string { return "apikey:{" + id + "}" }

// PutAPIKey stores a new key's record; access.ErrKeyExists when a key with
// its id is stored already.
func (s *Store) PutAPIKey(ctx context.Context, k access.APIKey) error {
	b, err := json.Marshal(k)
	if err != nil {
		return fmt.Errorf("encode api key: %w", err)
	}
	key := apiKeyKey(k.ID)
	var set *redis.BoolCmd
	if err := s.writeDurably(ctx, key, func(p redis.Pipeliner) { set = p.SetNX(ctx, key, b, 0) }); err != nil {
		return fmt.Errorf("store api key: %w", err)
	}
	if !set.Val() {
		return access.ErrKeyExists
	}
	if err := s.writeDurably(ctx, apiKeysIndex, func(p redis.Pipeliner) { p.SAdd(ctx, apiKeysIndex, k.ID) }); err != nil {
		return fmt.Errorf("index api key: %w", err)
	}
	return nil
}

// APIKey returns the record of the key with id; access.ErrInvalidAPIKey
// when there is none.
func (s *Store) APIKey(ctx context.Context, id string) (access.APIKey, error) {
	raw, err := s.rdb.Get(ctx, apiKeyKey(id)).Result()
	if errors.Is(err, redis.Nil) {
		return access.APIKey{}, access.ErrInvalidAPIKey
	}
	if err != nil {
		return access.APIKey{}, fmt.Errorf("read api key: %w", err)
	}
	var k access.APIKey
	if err := json.Unmarshal([]byte(raw), &k); err != nil {
		return access.APIKey{}, fmt.Errorf("decode api key: %w", err)
	}
	return k, nil
}

// RevokeAPIKey revokes a key by id; it stops working at once.
// access.ErrInvalidAPIKey when there is no such key.
func (s *Store) RevokeAPIKey(ctx context.Context, id string, now time.Time) error {
	k, err := s.APIKey(ctx, id)
	if err != nil {
		return err
	}
	if !k.RevokedAt.IsZero() {
		return nil
	}
	k.RevokedAt = now.UTC()
	b, err := json.Marshal(k)
	if err != nil {
		return fmt.Errorf("encode api key: %w", err)
	}
	key := apiKeyKey(id)
	if err := s.writeDurably(ctx, key, func(p redis.Pipeliner) { p.Set(ctx, key, b, 0) }); err != nil {
		return fmt.Errorf("revoke api key: %w", err)
	}
	return nil
}

// APIKeys lists every key (without secret hashes), oldest first.
func (s *Store) APIKeys(ctx context.Context) ([]access.APIKey, error) {
	ids, err := s.rdb.SMembers(ctx, apiKeysIndex).Result()
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	out := make([]access.APIKey, 0, len(ids))
	for _, id := range ids {
		k, err := s.APIKey(ctx, id)
		if errors.Is(err, access.ErrInvalidAPIKey) {
			continue
		}
		if err != nil {
			return nil, err
		}
		k.SecretHash = ""
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, nil
}

// The real store keeps the API keys.
var _ access.KeyStore = (*Store)(nil)
