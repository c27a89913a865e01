package invariant

import (
	"context"
	"fmt"

	"github.com/textkit/customers/internal/command"
	"github.com/textkit/customers/internal/customer"
	"github.com/textkit/customers/internal/ledger"
	"github.com/textkit/customers/internal/redisstore"
)

// customerCheck checks one customer.
type customerCheck struct {
	src    Sources
	opt    Options
	id     string
	cmds   []*cmd
	global *global
	rep    *Report

	cust *customer.Snapshot
	hist []redisstore.HistoryEntry
	// claimed marks the history entries a command with a known id explains.
	claimed []bool
}

func (c *customerCheck) report(k Kind, commandID, format string, args ...any) {
	c.rep.Violations = append(c.rep.Violations, Violation{Kind: k, CustomerID: c.id, CommandID: commandID, Detail: fmt.Sprintf(format, args...)})
}

func (c *customerCheck) run(ctx context.Context) error {
	var err error
	if c.cust, err = c.src.Customer(ctx, c.id); err != nil {
		return err
	}
	if c.hist, err = c.src.History(ctx, c.id); err != nil {
		return err
	}
	c.rep.Counts.Applied += len(c.hist)
	c.claimed = make([]bool, len(c.hist))
	c.versions()
	if err := c.knownCommands(ctx); err != nil {
		return err
	}
	c.unknownCommands()
	if err := c.stream(ctx); err != nil {
		return err
	}
	if err := c.twilio(); err != nil {
		return err
	}
	return c.keys(ctx)
}

// versions: the history counts 1, 2, 3, …, ends at the customer's
// version, and names each command once.
func (c *customerCheck) versions() {
	for i, h := range c.hist {
		if h.Version != int64(i+1) {
			c.report(VersionGap, h.CommandID, "history entry %d has version %d, want %d", i+1, h.Version, i+1)
			break
		}
	}
	switch {
	case c.cust == nil && len(c.hist) > 0:
		c.report(VersionGap, "", "history has %d entries but the customer does not exist", len(c.hist))
	case c.cust != nil && c.cust.Version != int64(len(c.hist)):
		c.report(VersionGap, "", "customer is at version %d but its history has %d entries", c.cust.Version, len(c.hist))
	}
	seen := map[string]int64{}
	for _, h := range c.hist {
		if v, dup := seen[h.CommandID]; dup {
			c.report(AppliedTwice, h.CommandID, "applied at version %d and again at version %d (%s)", v, h.Version, h.Event)
			continue
		}
		seen[h.CommandID] = h.Version
	}
}

// knownCommands checks every command whose id the client learnt.
func (c *customerCheck) knownCommands(ctx context.Context) error {
	at := map[string][]int{}
	for i, h := range c.hist {
		at[h.CommandID] = append(at[h.CommandID], i)
	}
	for _, cm := range c.cmds {
		if cm.id == "" {
			continue
		}
		pos := at[cm.id]
		for _, p := range pos {
			c.claimed[p] = true
			if c.hist[p].Event != cm.event() {
				c.report(HistoryMismatch, cm.id, "ledger sent %s, history has %s at version %d", cm.typ, c.hist[p].Event, c.hist[p].Version)
			}
		}
		if err := c.known(ctx, cm, pos); err != nil {
			return err
		}
	}
	return nil
}

func (c *customerCheck) known(ctx context.Context, cm *cmd, pos []int) error {
	out, err := c.src.Outcome(ctx, cm.partnerID, c.id, cm.id)
	if err != nil {
		return err
	}
	_, deadLettered := c.global.deadLetters[cm.id]
	switch cm.verdict() {
	case toldApplied:
		if len(pos) == 0 {
			c.report(Lost, cm.id, "%s was answered APPLIED but is not in the history", cm.typ)
		} else if v := cm.version(); v != 0 && c.hist[pos[0]].Version != v {
			c.report(HistoryMismatch, cm.id, "%s was answered APPLIED at version %d, history has it at version %d", cm.typ, v, c.hist[pos[0]].Version)
		}
		if out == nil || out.Status != command.Applied {
			c.report(HistoryMismatch, cm.id, "%s was answered APPLIED but command(id) says %s", cm.typ, outcomeStatus(out))
		}
		c.oneAnswer(cm, pos)
	case toldFailed:
		if len(pos) > 0 {
			c.report(ErrorApplied, cm.id, "%s was answered %s but was applied at version %d", cm.typ, lastAnswer(cm), c.hist[pos[0]].Version)
		}
	case unknown:
		switch {
		case out == nil && !deadLettered:
			c.report(Unprocessed, cm.id, "%s timed out and has neither an outcome nor a dead letter", cm.typ)
		case out != nil && out.Status == command.Applied && len(pos) == 0:
			c.report(HistoryMismatch, cm.id, "command(id) says APPLIED but %s is not in the history", cm.typ)
		case out != nil && out.Status == command.Rejected && len(pos) > 0:
			c.report(HistoryMismatch, cm.id, "command(id) says REJECTED but %s is in the history at version %d", cm.typ, c.hist[pos[0]].Version)
		}
	}
	return nil
}

// oneAnswer checks that every attempt of a command told applied (a retry,
// or the same command published again) was answered the one outcome: no
// REJECTED beside the APPLIED, every APPLIED at the version the history
// has it.
func (c *customerCheck) oneAnswer(cm *cmd, pos []int) {
	for _, a := range cm.attempts {
		switch {
		case a.Answer == ledger.Rejected:
			c.report(HistoryMismatch, cm.id, "%s was answered APPLIED, and REJECTED %s to attempt %d", cm.typ, a.Code, a.Seq)
		case a.Answer == ledger.Applied && a.CustomerVersion != nil && len(pos) > 0 && *a.CustomerVersion != cm.version() &&
			*a.CustomerVersion != c.hist[pos[0]].Version: // the first APPLIED's version is checked above
			c.report(HistoryMismatch, cm.id, "%s attempt %d was answered APPLIED at version %d, history has it at version %d",
				cm.typ, a.Seq, *a.CustomerVersion, c.hist[pos[0]].Version)
		}
	}
}

func outcomeStatus(o *command.Outcome) string {
	if o == nil {
		return "nothing (no outcome)"
	}
	return string(o.Status)
}

func lastAnswer(cm *cmd) string {
	a := cm.attempts[len(cm.attempts)-1]
	if a.Code != "" {
		return string(a.Answer) + " " + a.Code
	}
	return string(a.Answer)
}

// unknownCommands matches the commands whose id the client never learnt
// (GraphQL requests without one) against the history entries no known
// command explains: in order for a customer the tool drove one command
// at a time, as a multiset for one it drove concurrently.
func (c *customerCheck) unknownCommands() {
	var rest []redisstore.HistoryEntry
	for i, h := range c.hist {
		if !c.claimed[i] {
			rest = append(rest, h)
		}
	}
	var cmds []*cmd
	ordered := true
	for _, cm := range c.cmds {
		if cm.id == "" {
			cmds = append(cmds, cm)
			ordered = ordered && cm.ordered
		}
	}
	if ordered {
		c.inOrder(cmds, rest)
		return
	}
	c.asMultiset(cmds, rest)
}

func (c *customerCheck) inOrder(cmds []*cmd, rest []redisstore.HistoryEntry) {
	i := 0
	for _, cm := range cmds {
		switch cm.verdict() {
		case toldApplied:
			// The next entry of its type is its own; entries skipped on
			// the way are explained by no command told applied before it.
			j := i
			for j < len(rest) && rest[j].Event != cm.event() {
				j++
			}
			if j == len(rest) {
				c.report(Lost, "", "%s (attempt %d) was answered APPLIED but the history has %s in its place", cm.typ, cm.first(), describe(rest, i))
				continue
			}
			for ; i < j; i++ {
				c.unexplained(cmds, rest[i])
			}
			if v := cm.version(); v != 0 && rest[i].Version != v {
				c.report(HistoryMismatch, rest[i].CommandID, "%s (attempt %d) was answered APPLIED at version %d, history has it at version %d", cm.typ, cm.first(), v, rest[i].Version)
			}
			i++
		case unknown:
			if i < len(rest) && rest[i].Event == cm.event() {
				i++
			}
		}
	}
	for ; i < len(rest); i++ {
		c.unexplained(cmds, rest[i])
	}
}

func describe(rest []redisstore.HistoryEntry, i int) string {
	if i >= len(rest) {
		return "nothing"
	}
	return fmt.Sprintf("%s (version %d)", rest[i].Event, rest[i].Version)
}

func (c *customerCheck) asMultiset(cmds []*cmd, rest []redisstore.HistoryEntry) {
	applied, maybe := map[command.EventType]int{}, map[command.EventType]int{}
	for _, cm := range cmds {
		switch cm.verdict() {
		case toldApplied:
			applied[cm.event()]++
		case unknown:
			maybe[cm.event()]++
		}
	}
	inHistory := map[command.EventType][]redisstore.HistoryEntry{}
	for _, h := range rest {
		inHistory[h.Event] = append(inHistory[h.Event], h)
	}
	for _, ev := range []command.EventType{command.Registered, command.Activated, command.ContactInfoUpdated, command.Deactivated, command.Terminated} {
		got := inHistory[ev]
		if len(got) < applied[ev] {
			c.report(Lost, "", "%d %s answered APPLIED, the history has %d", applied[ev], ev, len(got))
		}
		for _, h := range got[min(len(got), applied[ev]+maybe[ev]):] {
			c.unexplained(cmds, h)
		}
	}
}

// unexplained reports a history entry that no command the client was told
// applied (or may have been) explains.
func (c *customerCheck) unexplained(cmds []*cmd, h redisstore.HistoryEntry) {
	var failed []*cmd
	for _, cm := range cmds {
		if cm.verdict() == toldFailed && cm.event() == h.Event {
			failed = append(failed, cm)
		}
	}
	if len(failed) > 0 {
		c.report(ErrorApplied, h.CommandID, "%s at version %d matches no command told applied; %d %s without a known command id were answered as failed (the first: attempt %d, %s)",
			h.Event, h.Version, len(failed), failed[0].typ, failed[0].first(), lastAnswer(failed[0]))
		return
	}
	c.report(HistoryMismatch, h.CommandID, "%s at version %d matches no command the ledger sent", h.Event, h.Version)
}
