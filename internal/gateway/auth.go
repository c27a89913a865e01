package gateway

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/textkit/customers/internal/access"
)

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p access.Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the request's principal.
func PrincipalFrom(ctx context.Context) (access.Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(access.Principal)
	return p, ok
}

// authenticate resolves the request's API key (Authorization: Bearer <key>).
func (g *Gateway) authenticate(r *http.Request) (access.Principal, error) {
	h := r.Header.Get("Authorization")
	key, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || key == "" {
		return access.Principal{}, errors.New("missing API key: send Authorization: Bearer <key> (textkit apikey create makes one)")
	}
	k, err := access.Authenticate(r.Context(), g.cfg.Store, strings.TrimSpace(key))
	if errors.Is(err, access.ErrInvalidAPIKey) {
		return access.Principal{}, errors.New("invalid or revoked API key")
	}
	if err != nil {
		return access.Principal{}, err
	}
	return access.PrincipalOf(k), nil
}
