package gateway

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"sync"

	"github.com/textkit/customers/internal/access"
	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/customer"
	"github.com/textkit/customers/internal/gateway/graph"
	"github.com/textkit/customers/internal/gateway/model"
	"github.com/textkit/customers/internal/keys"
	"github.com/textkit/customers/internal/redisstore"
)

type resolver struct{ g *Gateway }

func (r *resolver) Customer() graph.CustomerResolver { return &customerResolver{r.g} }
func (r *resolver) Mutation() graph.MutationResolver { return &mutationResolver{r.g} }
func (r *resolver) Query() graph.QueryResolver       { return &queryResolver{r.g} }
func (r *resolver) RegisterCustomerPayload() graph.RegisterCustomerPayloadResolver {
	return &registerPayloadResolver{r.g}
}
func (r *resolver) TerminateCustomerPayload() graph.TerminateCustomerPayloadResolver {
	return &terminatePayloadResolver{r.g}
}

type queryResolver struct{ g *Gateway }

func (g *Gateway) principal(ctx context.Context) (access.Principal, error) {
	p, ok := PrincipalFrom(ctx)
	if !ok {
		return access.Principal{}, errNoPrincipal
	}
	return p, nil
}

// visible loads a customer the principal may see. Another partner's
// customer is reported exactly like a missing one.
func (g *Gateway) visible(ctx context.Context, id string) (*customer.Customer, error) {
	p, err := g.principal(ctx)
	if err != nil {
		return nil, err
	}
	id = customer.NormalizeID(id)
	if err := customer.ValidateID("id", id); err != nil {
		return nil, err
	}
	c, err := g.cfg.Store.Get(ctx, id)
	if customer.ErrorCode(err) == customer.CodeNotFound || (err == nil && !p.Sees(c.PartnerID())) {
		return nil, customer.Errorf(customer.CodeNotFound, "customer %s not found", id)
	}
	if err != nil {
		return nil, g.storeFailed(ctx, err)
	}
	return c, nil
}

func (q *queryResolver) Customer(ctx context.Context, id string) (*model.Customer, error) {
	c, err := q.g.visible(ctx, id)
	if customer.ErrorCode(err) == customer.CodeNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return customerOf(c), nil
}

func (q *queryResolver) CustomerBySpace(ctx context.Context, space string) (*model.Customer, error) {
	if customer.ValidateSpace(space) != nil {
		return nil, nil
	}
	id, err := q.g.cfg.Store.SpaceOwner(ctx, space)
	if err != nil {
		return nil, q.g.storeFailed(ctx, err)
	}
	if id == "" {
		return nil, nil
	}
	return q.Customer(ctx, id)
}

func (q *queryResolver) Customers(ctx context.Context, first *int64, after *string, status *model.CustomerStatus, partnerID *string) (*model.CustomerConnection, error) {
	p, err := q.g.principal(ctx)
	if err != nil {
		return nil, err
	}
	f := redisstore.ListFilter{First: 20}
	if first != nil {
		if *first < 1 || *first > 100 {
			return nil, customer.Invalid("first", "must be between 1 and 100")
		}
		f.First = int(*first)
	}
	if after != nil && *after != "" {
		raw, err := base64.RawURLEncoding.DecodeString(*after)
		if err != nil || customer.ValidateID("after", string(raw)) != nil {
			return nil, customer.Invalid("after", "is not a cursor this API returned")
		}
		f.After = string(raw)
	}
	if status != nil {
		f.Status = customer.Status(*status)
	}
	switch {
	case !p.Operator():
		f.PartnerID = p.PartnerID
		if partnerID != nil && *partnerID != p.PartnerID {
			// Another partner's customers look like none at all.
			return &model.CustomerConnection{Edges: []*model.CustomerEdge{}, Nodes: []*model.Customer{}, PageInfo: &model.PageInfo{}}, nil
		}
	case partnerID != nil:
		f.PartnerID = customer.NormalizeID(*partnerID)
	}
	page, err := q.g.cfg.Store.List(ctx, f)
	if err != nil {
		if customer.ErrorCode(err) == customer.CodeInvalid {
			return nil, err
		}
		return nil, q.g.storeFailed(ctx, err)
	}
	conn := &model.CustomerConnection{Edges: []*model.CustomerEdge{}, Nodes: []*model.Customer{}, PageInfo: &model.PageInfo{HasNextPage: page.HasNext}}
	for _, c := range page.Customers {
		m := customerOf(c)
		cursor := base64.RawURLEncoding.EncodeToString([]byte(c.ID()))
		conn.Edges = append(conn.Edges, &model.CustomerEdge{Cursor: cursor, Node: m})
		conn.Nodes = append(conn.Nodes, m)
		conn.PageInfo.EndCursor = &cursor
	}
	return conn, nil
}

func (q *queryResolver) Command(ctx context.Context, id string) (*model.Command, error) {
	p, err := q.g.principal(ctx)
	if err != nil {
		return nil, err
	}
	id = customer.NormalizeID(id)
	if customer.ValidateID("id", id) != nil {
		return nil, nil
	}
	pending, err := q.g.cfg.Store.PendingCommand(ctx, id)
	if err != nil {
		return nil, q.g.storeFailed(ctx, err)
	}
	scope := p.PartnerID
	if p.Operator() {
		scope = ""
	}
	out, err := q.g.cfg.Store.CommandOutcome(ctx, scope, id)
	if err != nil {
		return nil, q.g.storeFailed(ctx, err)
	}
	switch {
	case out != nil:
		if !p.Sees(out.PartnerID) {
			return nil, nil
		}
		return commandOf(out), nil
	case pending != nil:
		if !p.Sees(pending.PartnerID) {
			return nil, nil
		}
		if q.g.overdue(pending) {
			// Never PENDING for ever: settle it, unless the provisioner
			// is processing it (see settle.go).
			out, err := q.g.settleOverdue(ctx, pending)
			switch {
			case err == nil:
				return commandOf(out), nil
			case !errors.Is(err, redisstore.ErrClaimed):
				return nil, q.g.storeFailed(ctx, err)
			}
		}
		typ := string(pending.Type)
		cid := pending.CustomerID
		return &model.Command{ID: id, State: model.CommandStatePending, Type: &typ, CustomerID: &cid, Errors: []*model.UserError{}}, nil
	}
	return nil, nil
}

func commandOf(o *command.Outcome) *model.Command {
	typ := string(o.Type)
	cid := o.CustomerID
	at := o.ProcessedAt
	c := &model.Command{ID: o.CommandID, Type: &typ, CustomerID: &cid, ProcessedAt: &at, Errors: userErrorsOf(o.Errors)}
	if o.Status == command.Applied {
		c.State = model.CommandStateApplied
		v := o.CustomerVersion
		c.CustomerVersion = &v
	} else {
		c.State = model.CommandStateRejected
	}
	return c
}

func (q *queryResolver) Partners(ctx context.Context) ([]*model.Partner, error) {
	p, err := q.g.principal(ctx)
	if err != nil {
		return nil, err
	}
	all, err := q.g.cfg.Store.Partners(ctx)
	if err != nil {
		return nil, q.g.storeFailed(ctx, err)
	}
	out := []*model.Partner{}
	for _, pt := range all {
		if p.Sees(pt.ID) {
			out = append(out, &model.Partner{ID: pt.ID, Name: pt.Name})
		}
	}
	return out, nil
}

func (q *queryResolver) Industries(ctx context.Context) ([]*model.Industry, error) {
	all, err := q.g.cfg.Store.Industries(ctx)
	if err != nil {
		return nil, q.g.storeFailed(ctx, err)
	}
	out := make([]*model.Industry, 0, len(all))
	for _, i := range all {
		out = append(out, &model.Industry{ID: i.ID, Name: i.Name})
	}
	return out, nil
}

func (q *queryResolver) Viewer(ctx context.Context) (*model.Viewer, error) {
	p, err := q.g.principal(ctx)
	if err != nil {
		return nil, err
	}
	v := &model.Viewer{Role: model.Role(p.Role), Name: p.Name}
	if p.PartnerID != "" {
		id := p.PartnerID
		v.PartnerID = &id
	}
	return v, nil
}

type customerResolver struct{ g *Gateway }

// contactMemoKey holds a request's contactMemo.
type contactMemoKey struct{}

// contactMemo keeps, for one request, each customer's decrypted contact
// info, keyed by the customer value the request's resolvers share.
type contactMemo struct {
	mu sync.Mutex
	m  map[*model.Customer]*contactOnce
}

type contactOnce struct {
	once   sync.Once
	info   *model.ContactInfo
	status model.ContactInfoStatus
}

// withContactMemo gives the request a contactMemo.
func withContactMemo(ctx context.Context) context.Context {
	return context.WithValue(ctx, contactMemoKey{}, &contactMemo{m: map[*model.Customer]*contactOnce{}})
}

// once returns decrypt's result for obj, computing it once per request.
func (m *contactMemo) once(obj *model.Customer, decrypt func() (*model.ContactInfo, model.ContactInfoStatus)) (*model.ContactInfo, model.ContactInfoStatus) {
	if m == nil {
		return decrypt()
	}
	m.mu.Lock()
	o := m.m[obj]
	if o == nil {
		o = &contactOnce{}
		m.m[obj] = o
	}
	m.mu.Unlock()
	o.once.Do(func() { o.info, o.status = decrypt() })
	return o.info, o.status
}

// contact decrypts a customer's contact info, once per request however
// many of its fields are selected.
func (r *customerResolver) contact(ctx context.Context, obj *model.Customer) (*model.ContactInfo, model.ContactInfoStatus) {
	memo, _ := ctx.Value(contactMemoKey{}).(*contactMemo)
	return memo.once(obj, func() (*model.ContactInfo, model.ContactInfoStatus) {
		if obj.ContactCiphertext == "" {
			return nil, model.ContactInfoStatusNone
		}
		key, err := r.g.cfg.Store.KeyStatus(ctx, obj.ID)
		if err == nil && key.State == keys.Destroyed {
			return nil, model.ContactInfoStatusDestroyed
		}
		plain, err := r.g.cfg.Keys.Decrypt(ctx, obj.ID, obj.ContactCiphertext)
		switch {
		case err != nil && r.g.cfg.IsKeyMissing(err):
			return nil, model.ContactInfoStatusDestroyed
		case err != nil:
			r.g.cfg.Logger.WarnContext(ctx, "cannot decrypt contact info", "customer_id", obj.ID, "error", err.Error())
			return nil, model.ContactInfoStatusUnavailable
		}
		var ci customer.ContactInfo
		if err := json.Unmarshal(plain, &ci); err != nil {
			return nil, model.ContactInfoStatusUnavailable
		}
		return contactModel(ci), model.ContactInfoStatusAvailable
	})
}

func contactModel(ci customer.ContactInfo) *model.ContactInfo {
	opt := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	return &model.ContactInfo{
		BusinessName: ci.BusinessName, SecondaryName: opt(ci.SecondaryName), PhoneNumber: ci.PhoneNumber,
		AddressLine1: ci.AddressLine1, AddressLine2: opt(ci.AddressLine2), PostalCode: opt(ci.PostalCode),
		Province: opt(ci.Province), Country: ci.Country,
	}
}

func (r *customerResolver) ContactInfo(ctx context.Context, obj *model.Customer) (*model.ContactInfo, error) {
	info, _ := r.contact(ctx, obj)
	return info, nil
}

func (r *customerResolver) ContactInfoStatus(ctx context.Context, obj *model.Customer) (model.ContactInfoStatus, error) {
	_, status := r.contact(ctx, obj)
	return status, nil
}

func (r *customerResolver) EncryptionKey(ctx context.Context, obj *model.Customer) (*model.EncryptionKey, error) {
	k, err := r.g.cfg.Store.KeyStatus(ctx, obj.ID)
	if err != nil {
		return nil, r.g.storeFailed(ctx, err)
	}
	out := &model.EncryptionKey{Status: model.KeyStatus(k.State)}
	if !k.DestroyAt.IsZero() {
		t := k.DestroyAt
		out.ScheduledDestroyAt = &t
	}
	if !k.DestroyedAt.IsZero() {
		t := k.DestroyedAt
		out.DestroyedAt = &t
	}
	return out, nil
}

func (r *customerResolver) History(ctx context.Context, obj *model.Customer) ([]*model.HistoryEntry, error) {
	h, err := r.g.cfg.Store.History(ctx, obj.ID)
	if err != nil {
		return nil, r.g.storeFailed(ctx, err)
	}
	out := make([]*model.HistoryEntry, 0, len(h))
	for _, e := range h {
		he := &model.HistoryEntry{Version: e.Version, Event: string(e.Event), At: e.At, CommandID: e.CommandID}
		if e.Actor != "" {
			a := e.Actor
			he.Actor = &a
		}
		out = append(out, he)
	}
	return out, nil
}

type registerPayloadResolver struct{ g *Gateway }

func (r *registerPayloadResolver) Customer(ctx context.Context, obj *model.RegisterCustomerPayload) (*model.Customer, error) {
	return payloadCustomer(ctx, r.g, obj.CustomerID)
}

type terminatePayloadResolver struct{ g *Gateway }

func (r *terminatePayloadResolver) Customer(ctx context.Context, obj *model.TerminateCustomerPayload) (*model.Customer, error) {
	return payloadCustomer(ctx, r.g, obj.CustomerID)
}

func payloadCustomer(ctx context.Context, g *Gateway, id *string) (*model.Customer, error) {
	if id == nil || *id == "" {
		return nil, nil
	}
	return (&queryResolver{g}).Customer(ctx, *id)
}
