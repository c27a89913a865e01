package gateway

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/lexer"
)

// Default limits of one request (OWASP GraphQL cheat sheet). The schema
// is not recursive: its deepest selection is five fields, a page of
// customers is at most 100.
const (
	DefaultMaxBodyBytes  = 64 << 10
	DefaultMaxTokens     = 2000
	DefaultMaxDepth      = 10
	DefaultMaxAliases    = 30
	DefaultMaxFields     = 500
	DefaultMaxComplexity = 2000
	DefaultMaxMutations  = 5
	// requestTimeoutMargin is what a request gets on top of its
	// mutations' outcome waits when RequestTimeout is automatic.
	requestTimeoutMargin = 10 * time.Second
)

// Limits bound one request. Every limit is checked before anything is
// executed; a request over one is refused with an error whose
// extensions.code says which (REQUEST_TOO_LARGE, TOKEN_LIMIT_EXCEEDED,
// DEPTH_LIMIT_EXCEEDED, ALIAS_LIMIT_EXCEEDED, FIELD_LIMIT_EXCEEDED,
// COMPLEXITY_LIMIT_EXCEEDED, MUTATION_LIMIT_EXCEEDED) and extensions.limit
// the bound. A zero field takes its default.
type Limits struct {
	// MaxBodyBytes bounds the request body (POST) or query string (GET).
	// Default 64 KiB.
	MaxBodyBytes int
	// MaxTokens bounds the GraphQL lexer tokens of the query (names,
	// punctuation, values). Default 2000.
	MaxTokens int
	// MaxDepth bounds how deeply selections nest, fragments followed.
	// Default 10.
	MaxDepth int
	// MaxAliases bounds the aliased fields of the operation, fragments
	// followed. Default 30.
	MaxAliases int
	// MaxFields bounds the fields the operation selects, each fragment
	// counted where it is spread. Default 500.
	MaxFields int
	// MaxComplexity bounds the operation's cost: one per field, the page
	// of customers(first) times its page size. Default 2000.
	MaxComplexity int
	// MaxMutations bounds the top-level mutation fields of one request
	// (each publishes a command and waits for its outcome). Default 5.
	MaxMutations int
	// RequestTimeout bounds the whole request. Default (0): MaxMutations ×
	// MutationTimeout + 10s, so every mutation of a request gets its full
	// wait; a shorter one is refused by Validate.
	RequestTimeout time.Duration
}

// Validate fills the defaults of zero limits and checks that the request
// timeout leaves every mutation of a request its full outcome wait.
func (l *Limits) Validate(mutationTimeout time.Duration) error {
	for _, f := range []struct {
		name string
		v    *int
		def  int
	}{
		{"MaxBodyBytes", &l.MaxBodyBytes, DefaultMaxBodyBytes},
		{"MaxTokens", &l.MaxTokens, DefaultMaxTokens},
		{"MaxDepth", &l.MaxDepth, DefaultMaxDepth},
		{"MaxAliases", &l.MaxAliases, DefaultMaxAliases},
		{"MaxFields", &l.MaxFields, DefaultMaxFields},
		{"MaxComplexity", &l.MaxComplexity, DefaultMaxComplexity},
		{"MaxMutations", &l.MaxMutations, DefaultMaxMutations},
	} {
		if *f.v < 0 {
			return fmt.Errorf("gateway: Limits.%s is %d; want a positive number (0 for the default, %d)", f.name, *f.v, f.def)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	need := time.Duration(l.MaxMutations) * mutationTimeout
	switch {
	case l.RequestTimeout < 0:
		return fmt.Errorf("gateway: Limits.RequestTimeout is %s; want a positive duration (0 for automatic)", l.RequestTimeout)
	case l.RequestTimeout == 0:
		l.RequestTimeout = need + requestTimeoutMargin
	case l.RequestTimeout <= need:
		return fmt.Errorf("gateway: the request timeout %s must be longer than the mutation timeout %s times the mutations allowed per request (%d), %s, or a request could end before its mutations' outcomes arrive; raise it, lower the others, or leave it 0 (automatic)",
			l.RequestTimeout, mutationTimeout, l.MaxMutations, need)
	}
	return nil
}

// Error codes of refused requests.
const (
	codeBadRequest          = "BAD_REQUEST"
	codeTooLarge            = "REQUEST_TOO_LARGE"
	codeBatching            = "BATCHING_NOT_SUPPORTED"
	codeMethodNotAllowed    = "METHOD_NOT_ALLOWED"
	codeUnsupportedMedia    = "UNSUPPORTED_MEDIA_TYPE"
	codeTokenLimit          = "TOKEN_LIMIT_EXCEEDED"
	codeDepthLimit          = "DEPTH_LIMIT_EXCEEDED"
	codeAliasLimit          = "ALIAS_LIMIT_EXCEEDED"
	codeFieldLimit          = "FIELD_LIMIT_EXCEEDED"
	codeComplexityLimit     = "COMPLEXITY_LIMIT_EXCEEDED" // gqlgen's code
	codeMutationLimit       = "MUTATION_LIMIT_EXCEEDED"
	codeIntrospectionOff    = "INTROSPECTION_DISABLED"
	codeRateLimited         = "RATE_LIMITED"
	codeUnauthenticated     = "UNAUTHENTICATED"
	codeUnavailable         = "UNAVAILABLE"
	codeInternal            = "INTERNAL"
	codeGraphQLNotSupported = "OPERATION_NOT_SUPPORTED"
)

func init() {
	// Refusals before execution answer like validation failures (422).
	for _, c := range []string{codeTokenLimit, codeDepthLimit, codeAliasLimit, codeFieldLimit, codeComplexityLimit,
		codeMutationLimit, codeIntrospectionOff, codeGraphQLNotSupported} {
		errcode.RegisterErrorType(c, errcode.KindProtocol)
	}
}

// limitError is a refusal before execution, naming the limit.
func limitError(code string, limit int, format string, args ...any) *gqlerror.Error {
	return &gqlerror.Error{Message: fmt.Sprintf(format, args...), Extensions: map[string]any{"code": code, "limit": limit}}
}

// operationLimits is the gqlgen extension that checks depth, aliases,
// fields, mutation fields and introspection on the parsed and validated
// operation, before it runs. It must be added before the complexity limit,
// so that a fragment bomb is refused before anything expands it.
type operationLimits struct {
	limits Limits
	dev    bool
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = operationLimits{}

func (operationLimits) ExtensionName() string                   { return "OperationLimits" }
func (operationLimits) Validate(graphql.ExecutableSchema) error { return nil }

func (o operationLimits) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	w := walker{limits: o.limits, dev: o.dev, doc: oc.Doc, active: map[string]bool{}}
	w.mutation = oc.Operation.Operation == ast.Mutation
	if oc.Operation.Operation == ast.Subscription {
		return limitError(codeGraphQLNotSupported, 0, "subscriptions are not supported")
	}
	w.walk(oc.Operation.SelectionSet, 0)
	return w.err
}

// walker counts an operation's selections with fragments expanded where
// they are spread. It stops at the first limit exceeded, so an operation
// that would expand exponentially (fragments spreading fragments) costs at
// most the limits' worth of work; a fragment already being expanded on
// the current path is not entered again (validation refuses such cycles
// anyway, this only guarantees termination).
type walker struct {
	limits   Limits
	dev      bool
	mutation bool
	doc      *ast.QueryDocument
	active   map[string]bool

	fields, aliases, mutations int
	err                        *gqlerror.Error
}

func (w *walker) walk(set ast.SelectionSet, depth int) {
	for _, sel := range set {
		if w.err != nil {
			return
		}
		switch s := sel.(type) {
		case *ast.Field:
			w.field(s, depth)
		case *ast.InlineFragment:
			w.walk(s.SelectionSet, depth)
		case *ast.FragmentSpread:
			def := s.Definition
			if def == nil && w.doc != nil {
				def = w.doc.Fragments.ForName(s.Name)
			}
			if def == nil || w.active[s.Name] {
				continue
			}
			w.active[s.Name] = true
			w.walk(def.SelectionSet, depth)
			delete(w.active, s.Name)
		}
	}
}

func (w *walker) field(f *ast.Field, depth int) {
	if f.Name == "__schema" || f.Name == "__type" {
		if !w.dev {
			w.err = &gqlerror.Error{Message: "introspection is disabled; the schema is documented in docs/graphql.md",
				Extensions: map[string]any{"code": codeIntrospectionOff}}
			at(w.err, f.Position)
			return
		}
		// Dev tools' introspection queries nest deeper than any query
		// of the schema; introspection is on only in the dev profile.
		return
	}
	depth++
	w.fields++
	if f.Alias != "" && f.Alias != f.Name {
		w.aliases++
	}
	if w.mutation && depth == 1 {
		w.mutations++
	}
	switch {
	case depth > w.limits.MaxDepth:
		w.err = limitError(codeDepthLimit, w.limits.MaxDepth, "the query nests more than %d levels deep (at field %q); flatten it or split it into several requests", w.limits.MaxDepth, f.Name)
	case w.aliases > w.limits.MaxAliases:
		w.err = limitError(codeAliasLimit, w.limits.MaxAliases, "the query uses more than %d aliases; split it into several requests", w.limits.MaxAliases)
	case w.fields > w.limits.MaxFields:
		w.err = limitError(codeFieldLimit, w.limits.MaxFields, "the query selects more than %d fields (fragments counted where they are spread); select fewer or split it into several requests", w.limits.MaxFields)
	case w.mutations > w.limits.MaxMutations:
		w.err = limitError(codeMutationLimit, w.limits.MaxMutations, "a request may run at most %d mutations; send the others in another request", w.limits.MaxMutations)
	}
	if w.err != nil {
		at(w.err, f.Position)
		return
	}
	w.walk(f.SelectionSet, depth)
}

// at points err at p, when known.
func at(err *gqlerror.Error, p *ast.Position) {
	if p != nil {
		err.Locations = []gqlerror.Location{{Line: p.Line, Column: p.Column}}
	}
}

// intLiterals refuses an integer literal too large for any integer the
// schema takes, with its position. The validator would otherwise report
// the whole enclosing input object as being of the wrong type. It runs
// after the :any rewrite and lexes at most maxTokens tokens (the parser
// then refuses longer queries).
type intLiterals struct{ maxTokens int }

func (intLiterals) ExtensionName() string                   { return "IntLiterals" }
func (intLiterals) Validate(graphql.ExecutableSchema) error { return nil }

func (x intLiterals) MutateOperationParameters(_ context.Context, p *graphql.RawParams) *gqlerror.Error {
	lx := lexer.New(&ast.Source{Input: p.Query})
	for i := 0; i <= x.maxTokens; i++ {
		tok, err := lx.ReadToken()
		if err != nil || tok.Kind == lexer.EOF {
			return nil // the parser reports lexical errors with their position
		}
		if tok.Kind != lexer.Int {
			continue
		}
		if _, err := strconv.ParseInt(tok.Value, 10, 64); err != nil {
			e := &gqlerror.Error{
				Message:    fmt.Sprintf("the integer %s is too large: integers are at most %d", truncate(tok.Value, 40), int64(math.MaxInt64)),
				Extensions: map[string]any{"code": errcode.ValidationFailed},
			}
			e.Locations = []gqlerror.Location{{Line: tok.Pos.Line, Column: tok.Pos.Column}}
			return e
		}
	}
	return nil
}

// truncate shortens s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
