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

// dlqCmd is `textkit dlq list|show|replay|purge`: the dead letters of
// CUSTOMER_DLQ. None holds a message body, so none is ever printed.
func dlqCmd(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	v, args, err := verb("dlq", args, "list", "show", "replay", "purge")
	if err != nil {
		return err
	}
	o, pos, err := parseOps("dlq "+v, args, getenv, stdout)
	if err != nil {
		return err
	}
	seqs, err := dlqArgs(v, pos, o.all)
	if err != nil {
		return err
	}
	nc, js, err := o.connectNATS(o.natsUser, o.pass)
	if err != nil {
		return fmt.Errorf("dlq %s: %w", v, err)
	}
	defer nc.Close()
	d := ops.NewDLQ(js)
	switch v {
	case "list":
		return dlqList(ctx, o, d, stdout)
	case "show":
		return dlqShow(ctx, o, d, seqs[0], stdout)
	case "replay":
		return dlqReplay(ctx, o, d, seqs[0], stdout)
	}
	return dlqPurge(ctx, o, d, seqs, stdout)
}

// dlqArgs checks the positional arguments of `dlq <v>` (before anything
// connects): none for list, one sequence for show and replay, sequences
// or -all for purge.
func dlqArgs(v string, pos []string, all bool) ([]uint64, error) {
	name := "dlq " + v
	switch {
	case v == "list" && len(pos) > 0:
		return nil, usagef("%s: takes no arguments, only flags", name)
	case (v == "show" || v == "replay") && len(pos) != 1:
		return nil, usagef("%s: want exactly one seq (textkit %s <seq> [flags])", name, name)
	case v == "purge" && all == (len(pos) > 0):
		return nil, usagef("%s: give the dead letters' sequences or -all, not both", name)
	}
	seqs := make([]uint64, 0, len(pos))
	for _, a := range pos {
		seq, err := seqArg(name, a)
		if err != nil {
			return nil, err
		}
		seqs = append(seqs, seq)
	}
	return seqs, nil
}

func dlqList(ctx context.Context, o *opsFlags, d *ops.DLQ, stdout io.Writer) error {
	letters, err := d.List(ctx, o.limit)
	if err != nil {
		return fmt.Errorf("dlq list: %w", err)
	}
	return o.emit(stdout, letters, func(w io.Writer) error {
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		// tabwriter buffers; Flush reports any write error.
		_, _ = fmt.Fprintln(tw, "SEQ\tAT\tCOMMAND\tTYPE\tPARTNER\tCUSTOMER\tREASON")
		for _, l := range letters {
			dl := l.DeadLetter
			_, _ = fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", l.Seq, dl.DeadLetteredAt.Format(time.RFC3339), dl.CommandID,
				dash(string(dl.Type)), dash(dl.PartnerID), dash(dl.CustomerID), dl.Reason)
		}
		return tw.Flush()
	})
}

func dlqShow(ctx context.Context, o *opsFlags, d *ops.DLQ, seq uint64, stdout io.Writer) error {
	l, err := d.Show(ctx, seq)
	if err != nil {
		return fmt.Errorf("dlq show: %w", err)
	}
	return o.emit(stdout, l, func(w io.Writer) error {
		dl := l.DeadLetter
		var b strings.Builder
		fmt.Fprintf(&b, "dead letter %d (stored %s)\n", l.Seq, l.StoredAt.Format(time.RFC3339))
		fmt.Fprintf(&b, "command:   %s (Nats-Msg-Id %s)\ntype:      %s\n", dl.CommandID, dash(dl.MsgID), dash(string(dl.Type)))
		fmt.Fprintf(&b, "partner:   %s\ncustomer:  %s\nsubject:   %s\n", dash(dl.PartnerID), dash(dl.CustomerID), dl.Subject)
		fmt.Fprintf(&b, "original:  sequence %d in CUSTOMER_COMMANDS, %d bytes, %s\n", dl.StreamSequence, dl.Size, originalState(l.Original))
		fmt.Fprintf(&b, "rejected:  %s\nerrors:\n", dl.DeadLetteredAt.Format(time.RFC3339))
		for _, e := range dl.Errors {
			fmt.Fprintf(&b, "  %s %s: %s\n", e.Code, dash(e.Field), e.Message)
		}
		_, err := io.WriteString(w, b.String())
		return err
	})
}

func originalState(there bool) string {
	if there {
		return "still there (replay can publish it again)"
	}
	return "erased (it cannot be replayed)"
}

func dlqReplay(ctx context.Context, o *opsFlags, d *ops.DLQ, seq uint64, stdout io.Writer) error {
	l, err := d.Show(ctx, seq)
	if err != nil {
		return fmt.Errorf("dlq replay: %w", err)
	}
	user := o.replayUser
	if user == "" {
		user = replayUserFor(l.DeadLetter.Subject, l.DeadLetter.PartnerID)
	}
	nc, js, err := o.connectNATS(user, o.replayPass)
	if err != nil {
		return fmt.Errorf("dlq replay: %w", err)
	}
	defer nc.Close()
	r, err := d.Replay(ctx, seq, js)
	if err != nil {
		return fmt.Errorf("dlq replay: %w", err)
	}
	return o.emit(stdout, r, func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "replayed dead letter %d: command %s published again as %s on %s (sequence %d); textkit command show %s follows it\n",
			r.Seq, r.OldCommandID, r.NewCommandID, r.Subject, r.StreamSeq, r.NewCommandID)
		return err
	})
}

// replayUserFor is the NATS user allowed to publish on a command's
// subject: the gateway's for the gateway form (trailing .gw), else the
// partner's direct publisher.
func replayUserFor(subject, partnerID string) string {
	if strings.HasSuffix(subject, ".gw") || len(partnerID) < 8 {
		return "gateway"
	}
	return "partner-" + partnerID[:8]
}

func dlqPurge(ctx context.Context, o *opsFlags, d *ops.DLQ, seqs []uint64, stdout io.Writer) error {
	if o.all {
		letters, err := d.List(ctx, int(^uint(0)>>1))
		if err != nil {
			return fmt.Errorf("dlq purge: %w", err)
		}
		for _, l := range letters {
			seqs = append(seqs, l.Seq)
		}
	}
	purged := []ops.Purged{}
	for _, seq := range seqs {
		p, err := d.Purge(ctx, seq)
		if err != nil {
			return fmt.Errorf("dlq purge: %w (purged before it: %d)", err, len(purged))
		}
		purged = append(purged, p)
	}
	return o.emit(stdout, purged, func(w io.Writer) error {
		var b strings.Builder
		for _, p := range purged {
			fmt.Fprintf(&b, "erased dead letter %d", p.Seq)
			if p.Original {
				b.WriteString(" and its original command")
			}
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "%d dead letters erased\n", len(purged))
		_, err := io.WriteString(w, b.String())
		return err
	})
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
