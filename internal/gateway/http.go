package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/textkit/customers/internal/customer"
	"github.com/textkit/customers/internal/gateway/graph"
)

// Limits of one request.
const (
	// MaxBodyBytes bounds a request body.
	MaxBodyBytes = 64 << 10
	// MaxComplexity bounds a query's cost (one per field, list fields
	// times their page size).
	MaxComplexity = 2000
)

type requestIDKey struct{}

func requestID(ctx context.Context) string {
	if id, ok := ctx.Value(requestIDKey{}).(string); ok {
		return id
	}
	return "-"
}

type idempotencyKeyCtx struct{}

func idempotencyKeyFrom(ctx context.Context) string {
	k, _ := ctx.Value(idempotencyKeyCtx{}).(string)
	return k
}

// Handler returns the /graphql endpoint: authentication, limits,
// Idempotency-Key handling and the GraphQL executor.
func (g *Gateway) Handler() http.Handler {
	srv := handler.New(graph.NewExecutableSchema(graph.Config{Resolvers: &resolver{g}}))
	srv.AddTransport(transport.POST{})
	srv.AddTransport(transport.GET{})
	if g.cfg.Dev {
		srv.Use(extension.Introspection{})
	}
	srv.Use(extension.FixedComplexityLimit(MaxComplexity))
	srv.Use(anyAtomRewrite{})
	srv.SetErrorPresenter(g.presentError)
	srv.SetRecoverFunc(func(ctx context.Context, v any) error {
		g.cfg.Logger.ErrorContext(ctx, "panic in resolver", "panic", fmt.Sprint(v), "request_id", requestID(ctx))
		return &gqlerror.Error{Message: "internal error (request " + requestID(ctx) + ")", Extensions: map[string]any{"code": "INTERNAL"}}
	})
	return g.withRequest(g.withIdempotency(srv))
}

// anyAtomRewrite applies RewriteAnyAtom before the query is parsed.
type anyAtomRewrite struct{}

func (anyAtomRewrite) ExtensionName() string                   { return "AnyAtomRewrite" }
func (anyAtomRewrite) Validate(graphql.ExecutableSchema) error { return nil }
func (anyAtomRewrite) MutateOperationParameters(ctx context.Context, p *graphql.RawParams) *gqlerror.Error {
	p.Query, _ = RewriteAnyAtom(p.Query)
	if q, ok := ctx.Value(queryHolderKey{}).(*string); ok {
		*q = p.Query
	}
	return nil
}

// queryHolderKey keeps the request's query text for error messages that
// point into it (parse errors happen before an operation context exists).
type queryHolderKey struct{}

// presentError keeps our coded errors and hides everything else.
func (g *Gateway) presentError(ctx context.Context, err error) *gqlerror.Error {
	var ge *gqlerror.Error
	if errors.As(err, &ge) {
		if ge.Extensions == nil {
			ge.Extensions = map[string]any{}
		}
		if code, ok := ge.Extensions["code"]; ok {
			if code == "GRAPHQL_PARSE_FAILED" {
				ge.Message = syntaxHint(ctx, ge)
			}
			if ge.Path == nil {
				ge.Path = graphql.GetPath(ctx)
			}
			return ge
		}
		if ge.Rule != "" || len(ge.Locations) > 0 {
			// Parse and validation errors: say where, plainly.
			ge.Extensions["code"] = "GRAPHQL_VALIDATION_FAILED"
			if ge.Rule == "" {
				ge.Extensions["code"] = "GRAPHQL_PARSE_FAILED"
				ge.Message = syntaxHint(ctx, ge)
			}
			return ge
		}
	}
	// Input coercion errors (custom scalars) are user errors.
	var ue *customer.Error
	if errors.As(err, &ue) && ue.Code != customer.CodeInternal {
		out := &gqlerror.Error{Message: ue.Error(), Path: graphql.GetPath(ctx), Extensions: map[string]any{"code": string(ue.Code)}}
		if ge != nil && ge.Path != nil {
			out.Path = ge.Path
		}
		if ue.Field != "" {
			out.Extensions["field"] = ue.Field
		}
		return out
	}
	g.cfg.Logger.ErrorContext(ctx, "unexpected error", "error", err.Error(), "request_id", requestID(ctx))
	return &gqlerror.Error{Message: "internal error (request " + requestID(ctx) + ")", Path: graphql.GetPath(ctx),
		Extensions: map[string]any{"code": "INTERNAL"}}
}

// syntaxHint adds the position, and the position of an unclosed brace or
// parenthesis, to a parse error.
func syntaxHint(ctx context.Context, ge *gqlerror.Error) string {
	msg := ge.Message
	if len(ge.Locations) > 0 {
		l := ge.Locations[0]
		msg = fmt.Sprintf("syntax error at line %d, column %d: %s", l.Line, l.Column, msg)
		if q, ok := ctx.Value(queryHolderKey{}).(*string); ok {
			if open, ok := unclosedBefore(*q, l.Line, l.Column); ok {
				msg += "; " + open
			}
		}
	}
	return msg
}

// withRequest authenticates, bounds the body and tags the request with an id.
func (g *Gateway) withRequest(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rid := r.Header.Get("X-Request-Id")
		if rid == "" || len(rid) > 64 {
			b := make([]byte, 8)
			_, _ = rand.Read(b)
			rid = hex.EncodeToString(b)
		}
		w.Header().Set("X-Request-Id", rid)
		ctx := context.WithValue(r.Context(), requestIDKey{}, rid)
		p, err := g.authenticate(r.WithContext(ctx))
		if err != nil {
			code, status := "UNAUTHENTICATED", http.StatusUnauthorized
			if !strings.Contains(err.Error(), "API key") {
				g.cfg.Logger.ErrorContext(ctx, "authentication failed", "error", err.Error(), "request_id", rid)
				code, status = "UNAVAILABLE", http.StatusServiceUnavailable
				err = errors.New("authentication is unavailable right now; try again (request " + rid + ")")
			}
			writeErrors(w, status, err.Error(), code)
			return
		}
		ctx = WithPrincipal(ctx, p)
		ctx = context.WithValue(ctx, queryHolderKey{}, new(string))
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func writeErrors(w http.ResponseWriter, status int, msg, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"errors": []any{map[string]any{"message": msg, "extensions": map[string]any{"code": code}}},
	})
}

// idempotencyTTL is how long a response is kept for its Idempotency-Key.
const idempotencyTTL = 24 * time.Hour

// withIdempotency implements the Idempotency-Key header: the first
// complete response to a key is stored and replayed for the same request;
// the same key with a different request is refused. Command ids are
// derived from the key (newID), so even a retry that races the first
// attempt applies nothing twice.
func (g *Gateway) withIdempotency(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("Idempotency-Key")
		if key == "" {
			next.ServeHTTP(w, r)
			return
		}
		if len(key) > 255 {
			writeErrors(w, http.StatusBadRequest, "Idempotency-Key is longer than 255 characters", "BAD_USER_INPUT")
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			writeErrors(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is larger than %d bytes", MaxBodyBytes), "BAD_USER_INPUT")
			return
		}
		p, _ := PrincipalFrom(r.Context())
		sum := sha256.Sum256(append([]byte(r.Method+"\n"+r.URL.RawQuery+"\n"), body...))
		fingerprint := hex.EncodeToString(sum[:])
		rec, err := g.cfg.Store.IdempotentResponse(r.Context(), p.KeyID, key)
		if err != nil {
			writeErrors(w, http.StatusServiceUnavailable, "idempotency records are unavailable right now; try again", "UNAVAILABLE")
			return
		}
		if rec != nil {
			if rec.Fingerprint != fingerprint {
				writeErrors(w, http.StatusUnprocessableEntity, "this Idempotency-Key was already used with a different request; use a new key for a new request", "IDEMPOTENCY_KEY_REUSED")
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Idempotent-Replayed", "true")
			w.WriteHeader(rec.Status)
			_, _ = w.Write(rec.Body)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		rw := &recorder{ResponseWriter: w, status: http.StatusOK}
		ctx := context.WithValue(r.Context(), idempotencyKeyCtx{}, key)
		next.ServeHTTP(rw, r.WithContext(ctx))
		if final(rw.status, rw.body.Bytes()) {
			if err := g.cfg.Store.StoreIdempotentResponse(r.Context(), p.KeyID, key, fingerprint, rw.status, rw.body.Bytes(), idempotencyTTL); err != nil {
				g.cfg.Logger.WarnContext(r.Context(), "could not store idempotent response", "error", err.Error(), "request_id", requestID(r.Context()))
			}
		}
	})
}

// final reports whether a response is worth replaying: not a timeout or an
// outage, after which a retry should wait for the real outcome.
func final(status int, body []byte) bool {
	if status >= 500 {
		return false
	}
	return !bytes.Contains(body, []byte(`"code":"TIMEOUT"`)) && !bytes.Contains(body, []byte(`"code":"UNAVAILABLE"`))
}

type recorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (r *recorder) WriteHeader(s int) { r.status = s; r.ResponseWriter.WriteHeader(s) }
func (r *recorder) Write(b []byte) (int, error) {
	r.body.Write(b)
	return r.ResponseWriter.Write(b)
}
