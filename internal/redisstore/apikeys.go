package redisstore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Role is what an API key may do.
type Role string

// Roles.
const (
	RoleOperator Role = "OPERATOR" // every customer, reference data, keys
	RolePartner  Role = "PARTNER"  // only its own partner's customers
)

// APIKey is an API key's record. The secret is kept only as its SHA-256:
// the full key is shown once, at creation.
type APIKey struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	Role       Role      `json:"role"`
	PartnerID  string    `json:"partnerId,omitempty"`
	SecretHash string    `json:"secretHash"`
	CreatedAt  time.Time `json:"createdAt"`
	RevokedAt  time.Time `json:"revokedAt,omitzero"`
}

const (
	apiKeyPrefix = "tk_"
	apiKeysIndex = "apikeys"
)

func apiKeyKey(id string) string { return "apikey:{" + id + "}" }

// ErrInvalidAPIKey means a presented key is malformed, unknown or revoked.
var ErrInvalidAPIKey = errors.New("invalid or revoked API key")

// CreateAPIKey stores a new key and returns its record and the full key
// (tk_<id>_<secret>), which is not stored anywhere.
func (s *Store) CreateAPIKey(ctx context.Context, name string, role Role, partnerID string, now time.Time) (APIKey, string, error) {
	id, err := randomHex(6)
	if err != nil {
		return APIKey{}, "", err
	}
	secret, err := randomHex(24)
	if err != nil {
		return APIKey{}, "", err
	}
	k := APIKey{ID: id, Name: name, Role: role, PartnerID: partnerID, SecretHash: hashSecret(secret), CreatedAt: now.UTC()}
	b, _ := json.Marshal(k)
	ok, err := s.rdb.SetNX(ctx, apiKeyKey(id), b, 0).Result()
	if err != nil {
		return APIKey{}, "", fmt.Errorf("store api key: %w", err)
	}
	if !ok {
		return APIKey{}, "", errors.New("api key id collision; try again")
	}
	if err := s.rdb.SAdd(ctx, apiKeysIndex, id).Err(); err != nil {
		return APIKey{}, "", fmt.Errorf("index api key: %w", err)
	}
	return k, apiKeyPrefix + id + "_" + secret, nil
}

// Authenticate returns the record of a presented key, ErrInvalidAPIKey
// when it is malformed, unknown or revoked. The comparison is constant-time.
func (s *Store) Authenticate(ctx context.Context, key string) (APIKey, error) {
	rest, ok := strings.CutPrefix(key, apiKeyPrefix)
	if !ok {
		return APIKey{}, ErrInvalidAPIKey
	}
	id, secret, ok := strings.Cut(rest, "_")
	if !ok || len(id) != 12 || len(secret) != 48 || !isHex(id) || !isHex(secret) {
		return APIKey{}, ErrInvalidAPIKey
	}
	k, err := s.apiKey(ctx, id)
	if err != nil {
		return APIKey{}, err
	}
	if subtle.ConstantTimeCompare([]byte(k.SecretHash), []byte(hashSecret(secret))) != 1 || !k.RevokedAt.IsZero() {
		return APIKey{}, ErrInvalidAPIKey
	}
	return k, nil
}

func (s *Store) apiKey(ctx context.Context, id string) (APIKey, error) {
	raw, err := s.rdb.Get(ctx, apiKeyKey(id)).Result()
	if errors.Is(err, redis.Nil) {
		return APIKey{}, ErrInvalidAPIKey
	}
	if err != nil {
		return APIKey{}, fmt.Errorf("read api key: %w", err)
	}
	var k APIKey
	if err := json.Unmarshal([]byte(raw), &k); err != nil {
		return APIKey{}, fmt.Errorf("decode api key: %w", err)
	}
	return k, nil
}

// RevokeAPIKey revokes a key by id; it stops working at once.
func (s *Store) RevokeAPIKey(ctx context.Context, id string, now time.Time) error {
	k, err := s.apiKey(ctx, id)
	if err != nil {
		return err
	}
	if !k.RevokedAt.IsZero() {
		return nil
	}
	k.RevokedAt = now.UTC()
	b, _ := json.Marshal(k)
	if err := s.rdb.Set(ctx, apiKeyKey(id), b, 0).Err(); err != nil {
		return fmt.Errorf("revoke api key: %w", err)
	}
	return nil
}

// APIKeys lists every key (without secrets), oldest first.
func (s *Store) APIKeys(ctx context.Context) ([]APIKey, error) {
	ids, err := s.rdb.SMembers(ctx, apiKeysIndex).Result()
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	out := make([]APIKey, 0, len(ids))
	for _, id := range ids {
		k, err := s.apiKey(ctx, id)
		if errors.Is(err, ErrInvalidAPIKey) {
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

func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
