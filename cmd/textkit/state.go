package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/textkit/customers/internal/ops"
)

// commandCmd is `textkit command show <id>`: a command's outcome, or that
// it is pending.
func commandCmd(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	_, args, err := verb("command", args, "show")
	if err != nil {
		return err
	}
	o, pos, err := parseOps("command show", args, getenv, stdout)
	if err != nil {
		return err
	}
	id, err := oneArg("command show", "id", pos)
	if err != nil {
		return err
	}
	store, done, err := o.store(ctx)
	if err != nil {
		return fmt.Errorf("command show: %w", err)
	}
	defer done()
	v, err := ops.Command(ctx, store, id)
	if err != nil {
		return fmt.Errorf("command show: %w", err)
	}
	return o.emit(stdout, v, func(w io.Writer) error {
		var b strings.Builder
		fmt.Fprintf(&b, "command %s: %s\n", v.CommandID, v.Status)
		if out := v.Outcome; out != nil {
			fmt.Fprintf(&b, "type:      %s\npartner:   %s\ncustomer:  %s\nprocessed: %s\n", out.Type, out.PartnerID, out.CustomerID, out.ProcessedAt.Format(time.RFC3339))
			if out.CustomerVersion > 0 {
				fmt.Fprintf(&b, "version:   %d (%s)\n", out.CustomerVersion, out.Event)
			}
			for _, e := range out.Errors {
				fmt.Fprintf(&b, "error:     %s %s: %s\n", e.Code, dash(e.Field), e.Message)
			}
		}
		if p := v.Pending; p != nil {
			fmt.Fprintf(&b, "type:      %s\npartner:   %s\ncustomer:  %s\nsent:      %s (published: %t)\n", p.Type, p.PartnerID, p.CustomerID, p.At.Format(time.RFC3339), p.Published)
		}
		_, err := io.WriteString(w, b.String())
		return err
	})
}

// customerCmd is `textkit customer show <id|space>`: the customer, its
// key and its history; contact info only as set or not.
func customerCmd(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	_, args, err := verb("customer", args, "show")
	if err != nil {
		return err
	}
	o, pos, err := parseOps("customer show", args, getenv, stdout)
	if err != nil {
		return err
	}
	ref, err := oneArg("customer show", "id|space", pos)
	if err != nil {
		return err
	}
	store, done, err := o.store(ctx)
	if err != nil {
		return fmt.Errorf("customer show: %w", err)
	}
	defer done()
	v, err := ops.Customer(ctx, store, ref)
	if err != nil {
		return fmt.Errorf("customer show: %w", err)
	}
	return o.emit(stdout, v, func(w io.Writer) error { return printCustomer(w, v) })
}

func printCustomer(w io.Writer, v ops.CustomerView) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	// tabwriter buffers; Flush reports any write error.
	_, _ = fmt.Fprintf(tw, "customer %s (space %s, partner %s)\n", v.ID, v.Space, v.PartnerID)
	_, _ = fmt.Fprintf(tw, "status:\t%s, version %d\nindustry:\t%s\ntwilio:\t%s\ncontact info:\t%s\n",
		v.Status, v.Version, v.IndustryID, dash(v.TwilioSID), map[bool]string{true: "set (sealed)", false: "none"}[v.ContactSet])
	if v.Retention != nil {
		_, _ = fmt.Fprintf(tw, "retention:\t%s %d\n", v.Retention.Strategy, v.Retention.Period)
	}
	_, _ = fmt.Fprintf(tw, "key:\t%s", dash(string(v.Key.State)))
	if !v.Key.DestroyAt.IsZero() {
		_, _ = fmt.Fprintf(tw, ", destroy at %s", v.Key.DestroyAt.Format(time.RFC3339))
	}
	if v.Key.Problem != "" {
		_, _ = fmt.Fprintf(tw, " (%s)", v.Key.Problem)
	}
	_, _ = fmt.Fprintf(tw, "\n\nVERSION\tEVENT\tAT\tACTOR\tCOMMAND\n")
	for _, h := range v.History {
		_, _ = fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", h.Version, h.Event, h.At.Format(time.RFC3339), dash(h.Actor), h.CommandID)
	}
	return tw.Flush()
}

// keysCmd is `textkit keys due`: the key destruction schedule, soonest
// first.
func keysCmd(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	_, args, err := verb("keys", args, "due")
	if err != nil {
		return err
	}
	within := 0 * time.Second
	o, pos, err := parseOpsWith("keys due", args, getenv, stdout, func(o *opsFlags) {
		o.fs.DurationVar(&within, "within", 0, "also list destructions due within this long from now (0: every one scheduled)")
	})
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("keys due: takes no arguments, only flags")
	}
	store, done, err := o.store(ctx)
	if err != nil {
		return fmt.Errorf("keys due: %w", err)
	}
	defer done()
	now := time.Now()
	until := now.Add(within)
	if within <= 0 {
		until = time.UnixMilli(1<<53 - 1)
	}
	due, err := ops.KeysDue(ctx, store, now, until, o.limit)
	if err != nil {
		return fmt.Errorf("keys due: %w", err)
	}
	return o.emit(stdout, due, func(w io.Writer) error {
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		_, _ = fmt.Fprintln(tw, "CUSTOMER\tDUE\tNEXT ATTEMPT\tSTATE")
		for _, k := range due {
			state := "scheduled"
			switch {
			case k.Claimed:
				state = "being destroyed"
			case k.Overdue:
				state = "OVERDUE"
			}
			_, _ = fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.CustomerID, timeOrDash(k.Due), k.Next.Format(time.RFC3339), state)
		}
		return tw.Flush()
	})
}

func timeOrDash(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format(time.RFC3339)
}
