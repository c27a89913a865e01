package gateway

import (
	"context"
	"errors"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/textkit/customers/internal/customer"
)

// How errors reach the client, in one place:
//
//   - Resolvers (and the hand-written scalars) return domain errors:
//     *customer.Error or customer.ValidationErrors. A dependency's failure
//     becomes one once, where it is called: unavailable, or storeFailed for
//     the customer store. A mutation's failure names its command with
//     mutationError.
//   - presentError, the executor's error presenter (http.go), is the one
//     place a domain error becomes a GraphQL error, by presentDomain.
//   - Refusals before GraphQL execution starts (401, 413, 429, a bad
//     Idempotency-Key, a malformed request) are HTTP-level, a different
//     layer: writeErrors (http.go) answers them without the executor.

// presentDomain turns a domain error into GraphQL errors at path, with
// extensions.code and (where one is at fault) extensions.field, plus
// extensions.commandId for a mutation's command. Internal errors never
// reach the client: they are logged with the request id and replaced by a
// generic INTERNAL error. The first error is returned, at at's path and
// locations; any further ones (several invalid fields) are added to the
// response before it, at the path only.
func (g *Gateway) presentDomain(ctx context.Context, err error, at *gqlerror.Error) *gqlerror.Error {
	errs := customer.AsErrors(err)
	if len(errs) == 1 && errs[0].Code == customer.CodeInternal {
		g.cfg.Logger.ErrorContext(ctx, "internal error", "error", err.Error(), "request_id", requestID(ctx))
	}
	var cmd *commandError
	errors.As(err, &cmd)
	out := make([]*gqlerror.Error, 0, len(errs))
	for _, e := range errs {
		ge := &gqlerror.Error{Message: e.Message, Path: at.Path, Extensions: map[string]any{"code": string(e.Code)}}
		if f := graphQLField(e.Field); f != "" {
			ge.Message = f + ": " + e.Message
			ge.Extensions["field"] = f
		}
		if e.Code == customer.CodeInternal {
			ge.Message = "internal error (request " + requestID(ctx) + ")"
		}
		if cmd != nil {
			ge.Extensions["commandId"] = cmd.commandID
		}
		out = append(out, ge)
	}
	out[0].Locations = at.Locations
	if graphql.GetFieldContext(ctx) != nil {
		// In a resolver's context, hence in a response: the rest go in
		// ahead of the first, which the executor adds when this returns.
		for _, ge := range out[1:] {
			graphql.AddError(ctx, ge)
		}
	}
	return out[0]
}

// errMutationTime is the cause of a mutation's context ending: its
// MutationTimeout has passed (bounded).
var errMutationTime = errors.New("the mutation timeout has passed")

// bounded bounds a mutation, from its first check to its answer, by
// MutationTimeout: whatever is down or hung (Redis, Vault, NATS), the
// mutation is answered in time. Only settling a command that could not be
// sent takes a moment more (settle.go).
func (g *Gateway) bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(ctx, g.cfg.MutationTimeout, errMutationTime)
}

// unavailable is the domain error for a failed dependency; details go to
// the log. When the mutation's or the request's own deadline has passed,
// the failure is theirs, not the dependency's: TIMEOUT.
func (g *Gateway) unavailable(ctx context.Context, what string, err error) error {
	if errors.Is(context.Cause(ctx), errMutationTime) {
		g.cfg.Logger.WarnContext(ctx, "mutation timed out", "what", what, "error", err.Error(), "request_id", requestID(ctx))
		return customer.Errorf(customer.CodeTimeout, "the mutation did not complete within %s; nothing was sent (request %s)", g.cfg.MutationTimeout, requestID(ctx))
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		g.cfg.Logger.WarnContext(ctx, "request timed out", "what", what, "error", err.Error(), "request_id", requestID(ctx))
		return customer.Errorf(customer.CodeTimeout, "the request did not complete within %s (request %s)", g.cfg.Limits.RequestTimeout, requestID(ctx))
	}
	g.cfg.Logger.WarnContext(ctx, "dependency failed", "what", what, "error", err.Error(), "request_id", requestID(ctx))
	return customer.Errorf(customer.CodeUnavailable, "%s is unavailable right now; try again (request %s)", what, requestID(ctx))
}

// storeFailed is the domain error for a failed call to the customer store.
func (g *Gateway) storeFailed(ctx context.Context, err error) error {
	return g.unavailable(ctx, "the customer store", err)
}

// commandError is a mutation's error once its command has an id the
// client can query: presentDomain adds it as extensions.commandId.
type commandError struct {
	err       error
	commandID string
}

func (e *commandError) Error() string { return e.err.Error() }
func (e *commandError) Unwrap() error { return e.err }

// mutationError is the domain error of a failed mutation: a timeout, an
// unsettled command or an ended request becomes TIMEOUT, saying whether
// the command may still run, and once a command was sent (commandID set)
// the error names it.
func (g *Gateway) mutationError(err error, commandID string) error {
	var to errTimeout
	if errors.As(err, &to) {
		return &commandError{customer.Errorf(customer.CodeTimeout,
			"the command was accepted but did not complete within %s; it still runs: query command(id: %q) for its outcome",
			g.cfg.MutationTimeout, to.commandID), to.commandID}
	}
	var unsettled errUnsettled
	if errors.As(err, &unsettled) {
		return &commandError{customer.Errorf(customer.CodeTimeout,
			"the command could not be confirmed sent, nor its failure recorded; query command(id: %q) for its final state",
			unsettled.commandID), unsettled.commandID}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		if commandID != "" {
			// Published: the command still runs.
			return &commandError{customer.Errorf(customer.CodeTimeout,
				"the request ended (timeout or cancelled) before the command completed; it may still run: query command(id: %q) for its outcome", commandID),
				commandID}
		}
		return customer.Errorf(customer.CodeTimeout, "the request ended (timeout or cancelled) before this mutation sent its command; nothing was sent")
	}
	if commandID != "" {
		return &commandError{err, commandID}
	}
	return err
}

var errNoPrincipal = errors.New("no principal in context")
