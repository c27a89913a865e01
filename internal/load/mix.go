package load

import (
	"fmt"
	"math/rand/v2"

	"github.com/google/uuid"

	"github.com/textkit/customers/internal/ledger"
)

// The statuses the tool believes a customer is in.
const (
	stRegistered  = "REGISTERED"
	stActive      = "ACTIVE"
	stDeactivated = "DEACTIVATED"
	stTerminated  = "TERMINATED"
)

// cust is a customer the tool acts on, and the status it believes it has.
// Only its owning worker touches it (the hot mix's customers are shared
// and their status is not tracked).
type cust struct {
	id, space, status string
}

// newCustomer makes a customer id and a unique space.
func newCustomer() *cust {
	id := uuid.NewString()
	return &cust{id: id, space: "ld-" + id[:8] + id[9:13]}
}

// registerOp registers c.
func registerOp(c *cust) Op {
	return Op{Type: ledger.Register, CustomerID: c.id, Space: c.space, Label: "Load " + c.space, Ordered: true}
}

// contact is a valid Canadian contact info, varied by n.
func contact(n int) Contact {
	return Contact{
		BusinessName: fmt.Sprintf("Load Co. %d", n), PhoneNumber: fmt.Sprintf("+1416555%04d", n%10000),
		AddressLine1: fmt.Sprintf("%d Yonge St", 1+n%999), PostalCode: "M5E 1E5", Province: "ON", Country: "CA",
	}
}

// worker is one sender's state: its own customers and random source.
type worker struct {
	id   int
	rng  *rand.Rand
	own  []*cust
	next int // round robin over own
	n    int // steps made
}

// mix makes each worker's next measured step and learns from its answers.
type mix interface {
	next(w *worker) (Step, []*cust)
}

func newMix(name string, hot []*cust) mix {
	switch name {
	case MixRegister:
		return registerMix{}
	case MixTerminate:
		return terminateMix{}
	case MixHot:
		return &hotMix{customers: hot}
	}
	return lifecycleMix{}
}

// learn updates what the worker believes about the customers of a step
// from the answers (the hot mix does not track status).
func learn(step Step, custs []*cust, res []Result) {
	for i, op := range step.Ops {
		c := custs[i]
		if c == nil {
			continue
		}
		applied := res[i].Answer == ledger.Applied || res[i].Answer == ledger.Timeout // a timeout most likely applies
		switch {
		case applied && op.Type == ledger.Register:
			c.status = stRegistered
		case applied && op.Type == ledger.Activate:
			c.status = stActive
		case applied && op.Type == ledger.Deactivate:
			c.status = stDeactivated
		case applied && op.Type == ledger.Terminate:
			c.status = stTerminated
		case res[i].Code == "INVALID_TRANSITION" && op.Type == ledger.Activate:
			c.status = stActive
		case res[i].Code == "INVALID_TRANSITION" && op.Type == ledger.Deactivate:
			c.status = stDeactivated
		case op.Type == ledger.Register && c.status == "":
			c.status = stTerminated // never registered: leave it alone
		}
	}
}

// registerMix: three of four steps register a customer; the fourth
// activates the oldest one the worker registered and has not activated.
type registerMix struct{}

func (registerMix) next(w *worker) (Step, []*cust) {
	w.n++
	if w.n%4 == 0 {
		for _, c := range w.own {
			if c.status == stRegistered {
				c.status = stActive // not picked again, whatever the answer
				return Step{Ops: []Op{{Type: ledger.Activate, CustomerID: c.id, Ordered: true}}}, []*cust{nil}
			}
		}
	}
	c := newCustomer()
	w.own = append(w.own, c)
	if len(w.own) > 64 {
		w.own = w.own[1:]
	}
	return Step{Ops: []Op{registerOp(c)}}, []*cust{c}
}

// lifecycleMix: round robin over the worker's customers: an active one is
// deactivated (or, one time in three, gets a contact info update); a
// deactivated or registered one is activated with a contact info update
// in the same request.
type lifecycleMix struct{}

func (lifecycleMix) next(w *worker) (Step, []*cust) {
	c := w.pick(func(c *cust) bool { return c.status != stTerminated })
	if c == nil {
		c = newCustomer()
		w.own = append(w.own, c)
		return Step{Ops: []Op{registerOp(c)}}, []*cust{c}
	}
	w.n++
	if c.status == stActive {
		if w.rng.IntN(3) == 0 {
			return Step{Ops: []Op{{Type: ledger.UpdateContactInfo, CustomerID: c.id, Contact: contact(w.n), Ordered: true}}}, []*cust{nil}
		}
		return Step{Ops: []Op{{Type: ledger.Deactivate, CustomerID: c.id, Ordered: true}}}, []*cust{c}
	}
	return Step{Ops: []Op{
		{Type: ledger.Activate, CustomerID: c.id, Ordered: true},
		{Type: ledger.UpdateContactInfo, CustomerID: c.id, Contact: contact(w.n), Ordered: true},
	}}, []*cust{c, nil}
}

// pick returns the worker's next customer (round robin) that ok accepts.
func (w *worker) pick(ok func(*cust) bool) *cust {
	for range w.own {
		c := w.own[w.next%len(w.own)]
		w.next++
		if ok(c) {
			return c
		}
	}
	return nil
}

// strategies are the retention strategies the terminate mix cycles through.
var strategies = []string{"NO_RETENTION", "TEMPORARY", "INDEFINITE"}

// terminateMix terminates the worker's customers one by one, cycling the
// retention strategy; when it has none left it registers a new one.
type terminateMix struct{}

func (terminateMix) next(w *worker) (Step, []*cust) {
	c := w.pick(func(c *cust) bool { return c.status != stTerminated })
	if c == nil {
		c = newCustomer()
		w.own = append(w.own, c)
		return Step{Ops: []Op{registerOp(c)}}, []*cust{c}
	}
	w.n++
	op := Op{Type: ledger.Terminate, CustomerID: c.id, Retention: strategies[w.n%len(strategies)], Ordered: true}
	if op.Retention == "TEMPORARY" {
		op.Period = 1 + w.rng.IntN(120)
	}
	c.status = stTerminated // terminated or not, it is not picked again
	return Step{Ops: []Op{op}}, []*cust{nil}
}

// hotMix: every worker sends deactivations, activations and contact
// info updates to the same few customers, concurrently.
type hotMix struct {
	customers []*cust // read only while workers run
}

func (h *hotMix) next(w *worker) (Step, []*cust) {
	c := h.customers[w.rng.IntN(len(h.customers))]
	w.n++
	op := Op{CustomerID: c.id, Ordered: false}
	switch w.rng.IntN(3) {
	case 0:
		op.Type = ledger.Deactivate
	case 1:
		op.Type = ledger.Activate
	default:
		op.Type, op.Contact = ledger.UpdateContactInfo, contact(w.n)
	}
	return Step{Ops: []Op{op}}, []*cust{nil}
}
