package gateway

import (
	"context"
	"errors"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/textkit/customers/internal/customer"
	"github.com/textkit/customers/internal/gateway/model"
)

// gqlError turns a domain error into a GraphQL error at the current field,
// with extensions.code and (where one is at fault) extensions.field.
// Internal errors never reach the client: they are logged with the request
// id and replaced by a generic INTERNAL error.
func (g *Gateway) gqlError(ctx context.Context, err error, extra map[string]any) error {
	errs := customer.AsErrors(err)
	if len(errs) == 1 && errs[0].Code == customer.CodeInternal {
		g.cfg.Logger.ErrorContext(ctx, "internal error", "error", err.Error(), "request_id", requestID(ctx))
	}
	var first error
	for i, e := range errs {
		ge := &gqlerror.Error{
			Message:    e.Message,
			Path:       graphql.GetPath(ctx),
			Extensions: map[string]any{"code": string(e.Code)},
		}
		if f := model.GraphQLField(e.Field); f != "" {
			ge.Message = f + ": " + e.Message
			ge.Extensions["field"] = f
		}
		if e.Code == customer.CodeInternal {
			ge.Message = "internal error (request " + requestID(ctx) + ")"
		}
		for k, v := range extra {
			ge.Extensions[k] = v
		}
		if i == 0 {
			first = ge
			continue
		}
		graphql.AddError(ctx, ge)
	}
	return first
}

// errUnavailable is returned when a dependency fails; details go to the log.
// When the request's own deadline has passed, the failure is the
// request's, not the dependency's: TIMEOUT.
func (g *Gateway) unavailable(ctx context.Context, what string, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		g.cfg.Logger.WarnContext(ctx, "request timed out", "what", what, "error", err.Error(), "request_id", requestID(ctx))
		return customer.Errorf(customer.CodeTimeout, "the request did not complete within %s (request %s)", g.cfg.Limits.RequestTimeout, requestID(ctx))
	}
	g.cfg.Logger.WarnContext(ctx, "dependency failed", "what", what, "error", err.Error(), "request_id", requestID(ctx))
	return customer.Errorf(customer.CodeUnavailable, "%s is unavailable right now; try again (request %s)", what, requestID(ctx))
}

var errNoPrincipal = errors.New("no principal in context")
