// Package access holds the rules of API keys: the roles a key can have and
// what a principal of each may see, the key's format (tk_<id>_<secret>),
// how a new key is made and a presented one checked. Only the secret's
// SHA-256 is ever stored: internal/redisstore keeps the records
// (KeyStore); the full key is shown once, at creation (Issue).
package access

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
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

// The key format: tk_, then the id (idBytes random bytes in lower-case
// hex), _, then the secret (secretBytes random bytes in lower-case hex).
const (
	keyPrefix   = "tk_"
	idBytes     = 6
	secretBytes = 24
)

// ErrInvalidAPIKey means a presented key is malformed, unknown or revoked.
// A KeyStore also returns it for an id it does not know.
var ErrInvalidAPIKey = errors.New("invalid or revoked API key")

// ErrKeyExists is what KeyStore.PutAPIKey returns when a key with the id
// is stored already.
var ErrKeyExists = errors.New("an API key with this id exists already")

// KeyReader looks API key records up (internal/redisstore.Store).
type KeyReader interface {
	// APIKey returns the record of the key with id; ErrInvalidAPIKey when
	// there is none.
	APIKey(ctx context.Context, id string) (APIKey, error)
}

// KeyStore keeps API key records (internal/redisstore.Store).
type KeyStore interface {
	KeyReader
	// PutAPIKey stores a new key's record; ErrKeyExists when its id is
	// taken.
	PutAPIKey(ctx context.Context, k APIKey) error
}

// NewKey makes a key for role (a partner key belongs to partnerID, an
// operator key to no partner) and returns its record and the full key,
// which is stored nowhere.
func NewKey(name string, role Role, partnerID string, now time.Time) (APIKey, string, error) {
	switch {
	case role != RolePartner && role != RoleOperator:
		return APIKey{}, "", fmt.Errorf("api key role %q is not %s or %s", role, RolePartner, RoleOperator)
	case role == RolePartner && partnerID == "":
		return APIKey{}, "", errors.New("a partner's api key needs the partner's id")
	case role == RoleOperator && partnerID != "":
		return APIKey{}, "", errors.New("an operator's api key belongs to no partner")
	}
	id, err := randomHex(idBytes)
	if err != nil {
		return APIKey{}, "", err
	}
	secret, err := randomHex(secretBytes)
	if err != nil {
		return APIKey{}, "", err
	}
	k := APIKey{ID: id, Name: name, Role: role, PartnerID: partnerID, SecretHash: hashSecret(secret), CreatedAt: now.UTC()}
	return k, keyPrefix + id + "_" + secret, nil
}

// Issue makes a key (NewKey) and stores its record in s; it returns the
// record and the full key, to be shown once.
func Issue(ctx context.Context, s KeyStore, name string, role Role, partnerID string, now time.Time) (APIKey, string, error) {
	k, full, err := NewKey(name, role, partnerID, now)
	if err != nil {
		return APIKey{}, "", err
	}
	if err := s.PutAPIKey(ctx, k); errors.Is(err, ErrKeyExists) {
		return APIKey{}, "", errors.New("api key id collision; try again")
	} else if err != nil {
		return APIKey{}, "", err
	}
	return k, full, nil
}

// ParseKey splits a presented key into its id and secret;
// ErrInvalidAPIKey when it is not in the key format.
func ParseKey(key string) (id, secret string, err error) {
	rest, ok := strings.CutPrefix(key, keyPrefix)
	if !ok {
		return "", "", ErrInvalidAPIKey
	}
	id, secret, ok = strings.Cut(rest, "_")
	if !ok || len(id) != 2*idBytes || len(secret) != 2*secretBytes || !isHex(id) || !isHex(secret) {
		return "", "", ErrInvalidAPIKey
	}
	return id, secret, nil
}

// Accepts reports whether secret is k's and k is not revoked. The
// comparison is constant-time.
func (k APIKey) Accepts(secret string) bool {
	return subtle.ConstantTimeCompare([]byte(k.SecretHash), []byte(hashSecret(secret))) == 1 && k.RevokedAt.IsZero()
}

// Authenticate returns the record of a presented key, looked up in s;
// ErrInvalidAPIKey when it is malformed, unknown or revoked.
func Authenticate(ctx context.Context, s KeyReader, key string) (APIKey, error) {
	id, secret, err := ParseKey(key)
	if err != nil {
		return APIKey{}, err
	}
	k, err := s.APIKey(ctx, id)
	if err != nil {
		return APIKey{}, err
	}
	if !k.Accepts(secret) {
		return APIKey{}, ErrInvalidAPIKey
	}
	return k, nil
}

// Principal is who a request is authenticated as: an API key's holder.
type Principal struct {
	KeyID     string
	Name      string
	Role      Role
	PartnerID string // set for partners
}

// PrincipalOf is the holder of k.
func PrincipalOf(k APIKey) Principal {
	return Principal{KeyID: k.ID, Name: k.Name, Role: k.Role, PartnerID: k.PartnerID}
}

// Operator reports whether p sees everything.
func (p Principal) Operator() bool { return p.Role == RoleOperator }

// Sees reports whether p may see a customer of partnerID.
func (p Principal) Sees(partnerID string) bool { return p.Operator() || p.PartnerID == partnerID }

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
