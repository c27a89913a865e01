package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/textkit/customers/internal/strictjson"
)

// graphQLRequest is one GraphQL operation as read from HTTP.
type graphQLRequest struct {
	Query         string
	OperationName string
	Variables     map[string]any
	Extensions    map[string]any
}

type graphQLRequestKey struct{}

// requestError is an HTTP request refused before GraphQL sees it.
type requestError struct {
	status int
	code   string
	msg    string
}

func badRequest(format string, args ...any) *requestError {
	return &requestError{http.StatusBadRequest, codeBadRequest, fmt.Sprintf(format, args...)}
}

// withBody reads and checks the HTTP request (method, media type, size,
// UTF-8, one operation per request, well-formed JSON without duplicate
// keys) before anything else reads it, and hands the operation to the
// GraphQL transport. The body is put back for withIdempotency.
func (g *Gateway) withBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, rerr := g.readRequest(w, r)
		if rerr != nil {
			if rerr.status == http.StatusMethodNotAllowed {
				w.Header().Set("Allow", "GET, POST")
			}
			writeErrors(w, rerr.status, rerr.msg, rerr.code)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), graphQLRequestKey{}, req)))
	})
}

func (g *Gateway) readRequest(w http.ResponseWriter, r *http.Request) (*graphQLRequest, *requestError) {
	limit := g.cfg.Limits.MaxBodyBytes
	switch r.Method {
	case http.MethodGet:
		if len(r.URL.RawQuery) > limit {
			return nil, &requestError{http.StatusRequestURITooLong, codeTooLarge,
				fmt.Sprintf("the query string is longer than %d bytes; send large requests with POST", limit)}
		}
		return readGET(r.URL.RawQuery)
	case http.MethodPost:
		mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != "application/json" {
			return nil, &requestError{http.StatusUnsupportedMediaType, codeUnsupportedMedia,
				"send the request as JSON with Content-Type: application/json"}
		}
		if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
			return nil, &requestError{http.StatusUnsupportedMediaType, codeUnsupportedMedia,
				fmt.Sprintf("the request body must be UTF-8, not %q", cs)}
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(limit)))
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			return nil, &requestError{http.StatusRequestEntityTooLarge, codeTooLarge,
				fmt.Sprintf("the request body is larger than %d bytes", limit)}
		case err != nil:
			return nil, badRequest("the request body could not be read")
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		return decodeBody(body)
	default:
		return nil, &requestError{http.StatusMethodNotAllowed, codeMethodNotAllowed,
			fmt.Sprintf("method %s is not allowed: POST a JSON body, or GET with ?query=", r.Method)}
	}
}

// decodeBody reads a POST body: one JSON object with "query" and,
// optionally, "operationName", "variables" and "extensions".
func decodeBody(body []byte) (*graphQLRequest, *requestError) {
	if !utf8.Valid(body) {
		return nil, badRequest("the request body is not valid UTF-8 (first bad byte at offset %d)", invalidUTF8At(body))
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	switch {
	case len(trimmed) == 0:
		return nil, badRequest(`the request body is empty; send {"query": "..."}`)
	case trimmed[0] == '[':
		return nil, &requestError{http.StatusBadRequest, codeBatching,
			"batched operations are not supported: send one operation per request, as a JSON object, not an array"}
	case trimmed[0] != '{':
		return nil, badRequest(`the request body must be a JSON object like {"query": "...", "variables": {...}}`)
	}
	if err := checkJSON(body); err != nil {
		return nil, badRequest("the request body is not acceptable JSON: %s", err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return nil, badRequest("the request body is not acceptable JSON: %s", err)
	}
	req := &graphQLRequest{}
	q, ok := fields["query"]
	if !ok || string(q) == "null" {
		return nil, badRequest(`the request has no "query"`)
	}
	if err := json.Unmarshal(q, &req.Query); err != nil {
		return nil, badRequest(`"query" must be a string`)
	}
	if req.Query == "" {
		return nil, badRequest(`the request has no "query"`)
	}
	if n, ok := fields["operationName"]; ok && string(n) != "null" {
		if err := json.Unmarshal(n, &req.OperationName); err != nil {
			return nil, badRequest(`"operationName" must be a string or null`)
		}
	}
	var err *requestError
	if req.Variables, err = jsonObject(fields["variables"], "variables"); err != nil {
		return nil, err
	}
	if req.Extensions, err = jsonObject(fields["extensions"], "extensions"); err != nil {
		return nil, err
	}
	return req, nil
}

// readGET reads ?query=&operationName=&variables=&extensions=.
func readGET(rawQuery string) (*graphQLRequest, *requestError) {
	vals, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, badRequest("the query string is malformed: %s", err)
	}
	for _, k := range []string{"query", "operationName", "variables", "extensions"} {
		if len(vals[k]) > 1 {
			return nil, badRequest("the parameter %q is given %d times; give it once", k, len(vals[k]))
		}
		if !utf8.ValidString(vals.Get(k)) {
			return nil, badRequest("the parameter %q is not valid UTF-8", k)
		}
	}
	req := &graphQLRequest{Query: vals.Get("query"), OperationName: vals.Get("operationName")}
	if req.Query == "" {
		return nil, badRequest("the request has no query: GET /graphql?query=...")
	}
	for _, p := range []struct {
		name string
		dst  *map[string]any
	}{{"variables", &req.Variables}, {"extensions", &req.Extensions}} {
		s := vals.Get(p.name)
		if s == "" {
			continue
		}
		if err := checkJSON([]byte(s)); err != nil {
			return nil, badRequest("the parameter %q is not acceptable JSON: %s", p.name, err)
		}
		var rerr *requestError
		if *p.dst, rerr = jsonObject(json.RawMessage(s), p.name); rerr != nil {
			return nil, rerr
		}
	}
	return req, nil
}

// jsonObject decodes raw (already checked by checkJSON) as an object,
// numbers kept exact; absent and null are nil.
func jsonObject(raw json.RawMessage, name string) (map[string]any, *requestError) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if t := bytes.TrimLeft(raw, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return nil, badRequest("%q must be a JSON object or null", name)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var out map[string]any
	if err := dec.Decode(&out); err != nil {
		return nil, badRequest("%q is not acceptable JSON: %s", name, err)
	}
	return out, nil
}

// checkJSON reports a syntax error, a duplicate object key or data after
// the first value. Duplicate keys are refused because decoders disagree
// on which one wins.
func checkJSON(data []byte) error {
	return strictjson.Walk(data, strictjson.Options{}, func(k strictjson.Key) error {
		if k.Twice {
			return fmt.Errorf("duplicate key %q in %s; give each key once", k.Name, jsonWhere(k.Path))
		}
		return nil
	})
}

// jsonWhere names the object at path, e.g. variables.in, items[2] or the
// top-level object.
func jsonWhere(path []strictjson.Step) string {
	var b strings.Builder
	for _, s := range path {
		if s.InArray {
			b.WriteString("[" + strconv.Itoa(s.Index) + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s.Key)
	}
	if b.Len() == 0 {
		return "the top-level object"
	}
	return b.String()
}

func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(b)
}

// requestTransport is the GraphQL transport for requests withBody read:
// it answers every error as JSON with extensions.code, runs only queries
// over GET, and never echoes the request body.
type requestTransport struct{ g *Gateway }

var _ graphql.Transport = requestTransport{}

func (requestTransport) Supports(r *http.Request) bool {
	_, ok := r.Context().Value(graphQLRequestKey{}).(*graphQLRequest)
	return ok
}

func (t requestTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	ctx := r.Context()
	req := ctx.Value(graphQLRequestKey{}).(*graphQLRequest)
	w.Header().Set("Content-Type", "application/json")
	start := graphql.Now()
	params := &graphql.RawParams{
		Query: req.Query, OperationName: req.OperationName, Variables: req.Variables, Extensions: req.Extensions,
		Headers: r.Header, ReadTime: graphql.TraceTiming{Start: start, End: start},
	}
	opCtx, errs := exec.CreateOperationContext(ctx, params)
	if errs != nil {
		status := http.StatusOK
		if errcode.GetErrorKind(errs) == errcode.KindProtocol {
			status = http.StatusUnprocessableEntity
		}
		t.write(ctx, w, status, refused(exec.DispatchError(graphql.WithOperationContext(ctx, opCtx), errs)))
		return
	}
	if r.Method == http.MethodGet && opCtx.Operation.Operation != ast.Query {
		w.Header().Set("Allow", "POST")
		t.write(ctx, w, http.StatusMethodNotAllowed, refused(&graphql.Response{Errors: gqlerror.List{{
			Message: "GET runs only queries; send mutations with POST", Extensions: map[string]any{"code": codeMethodNotAllowed}}}}))
		return
	}
	responses, ctx := exec.DispatchOperation(ctx, opCtx)
	t.write(ctx, w, http.StatusOK, responses(ctx))
}

// refusedResponse is the answer to a request refused before execution:
// no "data" member at all (GraphQL spec, Response), so a client can tell
// that nothing ran.
type refusedResponse struct {
	Errors     gqlerror.List  `json:"errors"`
	Extensions map[string]any `json:"extensions,omitempty"`
}

func refused(r *graphql.Response) refusedResponse {
	return refusedResponse{Errors: r.Errors, Extensions: r.Extensions}
}

func (t requestTransport) write(ctx context.Context, w http.ResponseWriter, status int, resp any) {
	b, err := json.Marshal(resp)
	if err != nil {
		t.g.cfg.Logger.ErrorContext(ctx, "cannot encode response", "error", err.Error(), "request_id", requestID(ctx))
		writeErrors(w, http.StatusInternalServerError, "internal error (request "+requestID(ctx)+")", codeInternal)
		return
	}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
