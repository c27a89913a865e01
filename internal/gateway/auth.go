package gateway

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/textkit/customers/internal/redisstore"
)

// Principal is who a request is authenticated as.
type Principal struct {
	KeyID     string
	Name      string
	Role      redisstore.Role
	PartnerID string // set for partners
}

// Operator reports whether p sees everything.
func (p Principal) Operator() bool { return p.Role == redisstore.RoleOperator }

// Sees reports whether p may see a customer of partnerID.
func (p Principal) Sees(partnerID string) bool { return p.Operator() || p.PartnerID == partnerID }

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the request's principal.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// authenticate resolves the request's API key (Authorization: Bearer <key>).
func (g *Gateway) authenticate(r *http.Request) (Principal, error) {
	h := r.Header.Get("Authorization")
	key, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || key == "" {
		return Principal{}, errors.New("missing API key: send Authorization: Bearer <key> (textkit apikey create makes one)")
	}
	k, err := g.cfg.Store.Authenticate(r.Context(), strings.TrimSpace(key))
	if errors.Is(err, redisstore.ErrInvalidAPIKey) {
		return Principal{}, errors.New("invalid or revoked API key")
	}
	if err != nil {
		return Principal{}, err
	}
	return Principal{KeyID: k.ID, Name: k.Name, Role: k.Role, PartnerID: k.PartnerID}, nil
}
