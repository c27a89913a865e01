package gateway

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"go.opentelemetry.io/otel/trace"

	"github.com/textkit/customers/internal/access"
	"github.com/textkit/customers/internal/gateway/graph"
	"github.com/textkit/customers/internal/gateway/model"
	"github.com/textkit/customers/internal/telemetry"
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
	k, _ := ctx.Value(idempotencyKeyCtx{}).(idempotency)
	return k.key
}

// markReplayed notes that the response answers from an earlier outcome.
func markReplayed(ctx context.Context) {
	if k, ok := ctx.Value(idempotencyKeyCtx{}).(idempotency); ok {
		k.replayed.set.Store(true)
	}
}

// queryCacheSize bounds the parsed and validated GraphQL documents kept.
const queryCacheSize = 1000

// Handler returns the /graphql endpoint: request id, timeout,
// authentication, rate limit, request checks, Idempotency-Key handling
// and the GraphQL executor with its limits.
func (g *Gateway) Handler() http.Handler {
	srv := handler.New(graph.NewExecutableSchema(graph.Config{Resolvers: &resolver{g}, Complexity: complexityRoot()}))
	srv.AddTransport(requestTransport{g})
	srv.SetParserTokenLimit(g.cfg.Limits.MaxTokens)
	srv.SetDisableSuggestion(!g.cfg.Dev)
	// Partners send the same few mutations with new variables: a query
	// seen before is not parsed and validated again (the limits below
	// still run on every request). Bounded: 1,000 documents at most.
	srv.SetQueryCache(lru.New[*ast.QueryDocument](queryCacheSize))
	if g.cfg.Dev {
		srv.Use(extension.Introspection{})
	}
	// Order matters: the cheap static limits first, then the complexity
	// calculation, which expands fragments.
	srv.Use(operationLimits{limits: g.cfg.Limits, dev: g.cfg.Dev})
	srv.Use(extension.FixedComplexityLimit(g.cfg.Limits.MaxComplexity))
	srv.Use(anyAtomRewrite{})
	srv.Use(intLiterals{maxTokens: g.cfg.Limits.MaxTokens})
	srv.SetErrorPresenter(g.presentError)
	srv.SetRecoverFunc(func(ctx context.Context, v any) error {
		g.cfg.Logger.ErrorContext(ctx, "panic in resolver", "panic", fmt.Sprint(v), "request_id", requestID(ctx))
		return &gqlerror.Error{Message: "internal error (request " + requestID(ctx) + ")", Extensions: map[string]any{"code": "INTERNAL"}}
	})
	srv.AroundFields(mutationSpans)
	return telemetry.Handler("graphql", g.withRequest(g.withBody(g.withIdempotency(srv))))
}

// mutationSpans runs each mutation field in a span of its own, the parent
// of the command it publishes.
func mutationSpans(ctx context.Context, next graphql.Resolver) (any, error) {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || fc.Object != "Mutation" {
		return next(ctx)
	}
	ctx, span := telemetry.Start(ctx, "mutation "+fc.Field.Name, trace.SpanKindInternal)
	res, err := next(ctx)
	telemetry.End(span, err)
	return res, err
}

// complexityRoot makes a page of customers cost its page size times its
// selection; every other field costs one plus its selection.
func complexityRoot() graph.ComplexityRoot {
	var c graph.ComplexityRoot
	c.Query.Customers = func(child int, first *int64, _ *string, _ *model.CustomerStatus, _ *string) int {
		n := int64(20)
		if first != nil && *first > 0 {
			n = min(*first, 101) // the resolver refuses more than 100, clearly
		}
		return 1 + int(n)*child
	}
	return c
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

// presentError is the executor's error presenter, the one place errors
// become GraphQL errors: the executor's own (parse, validation, limits)
// keep their codes, with plainer messages; domain errors are mapped by
// presentDomain (errors.go); everything else is hidden as INTERNAL.
func (g *Gateway) presentError(ctx context.Context, err error) *gqlerror.Error {
	var ge *gqlerror.Error
	if errors.As(err, &ge) && ge.Err == nil {
		if ge.Extensions == nil {
			ge.Extensions = map[string]any{}
		}
		if !g.cfg.Dev {
			ge.Message = withoutSuggestions(ge.Message)
		}
		if code, ok := ge.Extensions["code"]; ok {
			if code == "GRAPHQL_VALIDATION_FAILED" && strings.HasPrefix(ge.Message, "cannot use ") {
				ge.Message = variableMessage(ctx, ge)
			}
			if code == "GRAPHQL_PARSE_FAILED" && strings.HasPrefix(ge.Message, "exceeded token limit") {
				ge.Message = fmt.Sprintf("the query has more than %d tokens (names, punctuation and values each count); shorten it or split it into several requests", g.cfg.Limits.MaxTokens)
				ge.Extensions["code"] = codeTokenLimit
				ge.Extensions["limit"] = g.cfg.Limits.MaxTokens
				return ge
			}
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
	// Domain errors, from resolvers and from the scalars' input coercion;
	// anything else is internal. The executor wraps them in a
	// *gqlerror.Error saying where they happened: a resolver's error with
	// the field's location, a scalar's without.
	at := &gqlerror.Error{Path: graphql.GetPath(ctx)}
	if ge != nil {
		if ge.Path != nil {
			at.Path = ge.Path
		}
		at.Locations = ge.Locations
	}
	return g.presentDomain(ctx, err, at)
}

// withoutSuggestions drops the validator's "Did you mean …?" hints, which
// outside the dev profile would reveal the schema to whoever guesses.
// They come last and name schema identifiers, which hold no spaces.
func withoutSuggestions(msg string) string {
	if i := strings.LastIndex(msg, " Did you mean "); i >= 0 && strings.HasSuffix(msg, "?") {
		return msg[:i]
	}
	return msg
}

// variableMessage replaces the validator's "cannot use value 0 as Int"
// or "cannot use string as Int", which show a failed conversion's result
// or a Go type rather than the value sent, with the value sent.
func variableMessage(ctx context.Context, ge *gqlerror.Error) string {
	i := strings.LastIndex(ge.Message, " as ")
	req, _ := ctx.Value(graphQLRequestKey{}).(*graphQLRequest)
	if i < 0 || req == nil || len(ge.Path) < 2 || ge.Path[0] != ast.PathName("variable") {
		return ge.Message
	}
	typ := ge.Message[i+len(" as "):]
	var v any = req.Variables
	name := "$"
	for _, el := range ge.Path[1:] {
		switch el := el.(type) {
		case ast.PathName:
			m, _ := v.(map[string]any)
			v = m[string(el)]
			if name != "$" {
				name += "."
			}
			name += string(el)
		case ast.PathIndex:
			l, _ := v.([]any)
			if int(el) < 0 || int(el) >= len(l) {
				return ge.Message
			}
			v = l[el]
			name += fmt.Sprintf("[%d]", int(el))
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return ge.Message
	}
	msg := fmt.Sprintf("variable %s: %s is not a valid %s", name, truncate(string(b), 40), typ)
	switch typ {
	case "Int":
		msg += " (want a whole number that fits in 64 bits)"
	case "Float":
		msg += " (want a number that fits in a 64-bit float)"
	}
	return msg
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

// withRequest tags the request with an id, bounds its time,
// authenticates it and applies the caller's rate limit.
func (g *Gateway) withRequest(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rid := r.Header.Get("X-Request-Id")
		if !validRequestID(rid) {
			b := make([]byte, 8)
			_, _ = rand.Read(b)
			rid = hex.EncodeToString(b)
		}
		w.Header().Set("X-Request-Id", rid)
		ctx, cancel := context.WithTimeout(r.Context(), g.cfg.Limits.RequestTimeout)
		defer cancel()
		ctx = context.WithValue(ctx, requestIDKey{}, rid)
		p, ok := g.authenticateLimited(w, r.WithContext(ctx))
		if !ok {
			return
		}
		ok, wait, err := g.allow(ctx, p, g.cfg.Now())
		if err != nil {
			g.cfg.Logger.ErrorContext(ctx, "rate limit unavailable", "error", err.Error(), "request_id", rid)
			writeErrors(w, http.StatusServiceUnavailable, "rate limiting is unavailable right now; try again (request "+rid+")", codeUnavailable)
			return
		}
		if !ok {
			refuseRate(w, wait, g.rateOf(p))
			return
		}
		ctx = WithPrincipal(ctx, p)
		ctx = context.WithValue(ctx, queryHolderKey{}, new(string))
		ctx = withContactMemo(ctx)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// authenticateLimited authenticates r, unless its client address has used
// up its failed authentications (RateLimits), and answers the request
// itself when it fails: 401, 429, or 503 when the key store is unreachable.
func (g *Gateway) authenticateLimited(w http.ResponseWriter, r *http.Request) (access.Principal, bool) {
	addr := clientAddress(r)
	if ok, wait := g.limiter.allowUnauthenticated(addr, g.cfg.Now()); !ok {
		rl := g.cfg.RateLimits
		refuseRate(w, wait, fmt.Sprintf("%g requests per second without a valid API key per client address, bursts of %d",
			rl.UnauthenticatedRate, rl.UnauthenticatedBurst))
		return access.Principal{}, false
	}
	p, err := g.authenticate(r)
	if err == nil {
		return p, true
	}
	code, status := codeUnauthenticated, http.StatusUnauthorized
	if strings.Contains(err.Error(), "API key") {
		g.limiter.failedAuthentication(addr, g.cfg.Now())
	} else {
		rid := requestID(r.Context())
		g.cfg.Logger.ErrorContext(r.Context(), "authentication failed", "error", err.Error(), "request_id", rid)
		code, status = codeUnavailable, http.StatusServiceUnavailable
		err = errors.New("authentication is unavailable right now; try again (request " + rid + ")")
	}
	writeErrors(w, status, err.Error(), code)
	return access.Principal{}, false
}

// refuseRate answers 429 RATE_LIMITED with Retry-After, naming the limit.
func refuseRate(w http.ResponseWriter, wait time.Duration, limit string) {
	secs := retryAfterSeconds(wait)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	writeErrors(w, http.StatusTooManyRequests,
		fmt.Sprintf("too many requests: the rate limit is %s; retry after %d s", limit, secs), codeRateLimited)
}

// rateOf describes p's rate limit.
func (g *Gateway) rateOf(p access.Principal) string {
	rl := g.cfg.RateLimits
	if p.Operator() || p.PartnerID == "" {
		return fmt.Sprintf("%g requests per second per operator key, bursts of %d", rl.OperatorRate, rl.OperatorBurst)
	}
	return fmt.Sprintf("%g requests per second per partner, bursts of %d", rl.PartnerRate, rl.PartnerBurst)
}

// validRequestID accepts a caller's X-Request-Id only when it is short
// and plain, since it is echoed in headers, messages and logs.
func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range []byte(id) {
		if !isNameChar(c) && c != '-' && c != '.' && c != ':' {
			return false
		}
	}
	return true
}

// writeErrors answers a request refused at the HTTP level, before any
// GraphQL execution (authentication, rate limit, body size, request shape,
// Idempotency-Key): a different layer from presentError, with its own
// HTTP status.
func writeErrors(w http.ResponseWriter, status int, msg, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"errors": []any{map[string]any{"message": msg, "extensions": map[string]any{"code": code}}},
	})
}

// idempotencyTTL is how long an Idempotency-Key stays bound to its request.
// It must stay below redisstore.OutcomeTTL: a replay answers from the
// stored outcomes of the commands the first request sent.
const idempotencyTTL = 24 * time.Hour

// withIdempotency implements the Idempotency-Key header. The first request
// with a key binds the key to that request's fingerprint; the same key with
// a different request is refused. No response is stored: a response may
// carry contact info, and a stored copy would outlive the customer's key.
// Instead a retried request runs again, and every mutation in it derives
// its command id from the key (newID) and answers from that command's
// stored outcome (Gateway.commandFor): nothing is applied twice, the mutations
// answer as they first did, and the rest reads the data as it is now (after
// crypto-shredding: destroyed), exactly as a fresh request would.
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
		body, err := io.ReadAll(r.Body) // withBody read and bounded it
		if err != nil {
			writeErrors(w, http.StatusBadRequest, "the request body could not be read", codeBadRequest)
			return
		}
		p, _ := PrincipalFrom(r.Context())
		fingerprint := requestFingerprint(r, body)
		bound, err := g.cfg.Store.BindIdempotencyKey(r.Context(), p.KeyID, key, fingerprint, idempotencyTTL)
		if err != nil {
			g.cfg.Logger.WarnContext(r.Context(), "idempotency record unavailable", "error", err.Error(), "request_id", requestID(r.Context()))
			writeErrors(w, http.StatusServiceUnavailable, "idempotency records are unavailable right now; try again", "UNAVAILABLE")
			return
		}
		if bound != fingerprint {
			writeErrors(w, http.StatusUnprocessableEntity, "this Idempotency-Key was already used with a different request; use a new key for a new request", "IDEMPOTENCY_KEY_REUSED")
			return
		}
		replayed := &replayMark{}
		ctx := context.WithValue(r.Context(), idempotencyKeyCtx{}, idempotency{key: key, replayed: replayed})
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(&replayHeader{ResponseWriter: w, mark: replayed}, r.WithContext(ctx))
	})
}

// requestFingerprint tells one request from another for Idempotency-Key:
// an HMAC of the method, query string and body, keyed with the caller's
// own API key. The body may hold contact info; Redis keeps only hashes of
// API keys, so whoever reads Redis cannot test a guess of the contact info
// against the stored fingerprint.
func requestFingerprint(r *http.Request, body []byte) string {
	apiKey, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	m := hmac.New(sha256.New, []byte("textkit idempotency fingerprint\n"+apiKey))
	m.Write([]byte(r.Method + "\n" + r.URL.RawQuery + "\n"))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// idempotency is what a request's Idempotency-Key gives its resolvers.
type idempotency struct {
	key      string
	replayed *replayMark
}

// replayMark records that a mutation answered from an earlier outcome.
type replayMark struct{ set atomic.Bool }

// replayHeader adds Idempotent-Replayed: true to a response in which a
// mutation answered from the outcome of an earlier request with the key.
type replayHeader struct {
	http.ResponseWriter
	mark    *replayMark
	written bool
}

func (r *replayHeader) WriteHeader(s int) {
	if !r.written && r.mark.set.Load() {
		r.Header().Set("Idempotent-Replayed", "true")
	}
	r.written = true
	r.ResponseWriter.WriteHeader(s)
}

func (r *replayHeader) Write(b []byte) (int, error) {
	if !r.written {
		r.WriteHeader(http.StatusOK)
	}
	return r.ResponseWriter.Write(b)
}
