package natsbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// MaxPrefetch bounds how many messages one consumer holds at once (its
// pull batch), whatever the consumer's MaxAckPending allows.
const MaxPrefetch = 256

// PriorityGroup is the priority group the pinned-client consumers are read
// through: one replica at a time holds the pin of each consumer.
const PriorityGroup = "textkit"

// laneSubscriber is the watermill subscriber Run consumes with: keyed
// concurrency. Each durable consumer is pulled in batches (up to its
// MaxAckPending, at most MaxPrefetch) and its messages are queued in FIFO
// lanes, one per subject; a subject's next message is handed to the router
// only once the previous one is finished (acknowledged). Different subjects
// run concurrently, so for the command partitions, whose subjects are one
// per customer, a customer's commands apply in order while a slow customer
// holds only itself.
//
// A message the router nacks stays at the head of its lane and is handed
// out again after the Redelivery backoff: it is never returned to JetStream,
// whose redelivery could let the lane's next message overtake it.
//
// Every message held (queued, in a handler, or waiting for its retry) is
// marked in progress when it is about to reach AckWait, so JetStream does
// not redeliver it meanwhile; a message in a handler for longer than
// MaxHandle is no longer marked, and JetStream redelivers it (a handler
// stuck for good must not keep its message for ever). A consumer stopped
// (or a replica that dies) leaves what it held unacknowledged: JetStream
// redelivers it after AckWait.
type laneSubscriber struct {
	js      jetstream.JetStream
	byTopic map[string]Handler
	rc      RouterConfig
	log     *slog.Logger

	mu      sync.Mutex
	closed  bool
	closing chan struct{}
	stops   []func()
	wg      sync.WaitGroup
}

func newLaneSubscriber(rc RouterConfig, byTopic map[string]Handler) (*laneSubscriber, error) {
	js, err := jetstream.New(rc.Conn)
	if err != nil {
		return nil, fmt.Errorf("natsbus: subscriber: %w", err)
	}
	return &laneSubscriber{js: js, byTopic: byTopic, rc: rc, log: rc.Logger, closing: make(chan struct{})}, nil
}

// held is one JetStream message a consumer holds.
type held struct {
	msg jetstream.Msg
	// subject is msg's subject, the same for every delivery of it: read
	// without the lock, while a redelivery may replace msg.
	subject string
	seq     uint64
	// runFrom is, for a first delivery, the stream sequence from which
	// this subscription has received every delivery of the consumer up to
	// this message (see inOrder); 0 when unknown (a redelivery).
	runFrom uint64
	signed  time.Time // last sign of life JetStream had: delivery or InProgress
	handed  time.Time // when handed to a handler; zero while queued
	expired bool      // in a handler past MaxHandle: no longer marked
	// again receives JetStream's redelivery of this message (it expired):
	// the lane hands it out without waiting for the stuck handler.
	again chan jetstream.Msg
	// redo receives a redelivery that came while the message was in a
	// handler or being acknowledged (not expired): the server lost the
	// delivery (a nats-server restarted), so an acknowledgement under way
	// may never be answered. The lane acknowledges (or handles) the new
	// delivery instead of waiting for JetStream's next one, AckWait later.
	redo chan jetstream.Msg
}

// lane is the FIFO queue of one subject's messages.
type lane struct {
	queue []*held
}

// consumerLanes is one subscription: its lanes and what it holds.
type consumerLanes struct {
	s      *laneSubscriber
	h      Handler
	stream jetstream.Stream // set when h.LaneSubjects is
	cons   jetstream.Consumer
	ctx    context.Context
	out    chan *message.Message
	mu     sync.Mutex
	lanes  map[string]*lane
	holds  map[*held]struct{}
	// acked are the stream sequences this subscription's acknowledgements
	// were confirmed for, recently (leftoverMemory): see leftover.
	acked map[uint64]time.Time
	// The run of deliveries (see inOrder): the consumer sequence of the
	// last one received, and the stream sequence of the run's first first
	// delivery (0 until one came since the last gap).
	lastDelivery, runFrom uint64
	// floor is the highest acknowledgement floor of the consumer seen, and
	// floorAt when it was last asked for.
	floor       uint64
	floorAt     time.Time
	floorAsking bool // an askFloor is under way
}

// Subscribe consumes topic's durable consumer (which must exist) into
// lanes and returns the messages they hand out.
func (s *laneSubscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	h, ok := s.byTopic[topic]
	if !ok {
		return nil, fmt.Errorf("natsbus: topic %q names no handler's consumer", topic)
	}
	c, err := lookUp(s, ctx, "consumer "+h.Consumer, func(ctx context.Context) (jetstream.Consumer, error) {
		return s.js.Consumer(ctx, h.Stream, h.Consumer)
	})
	if err != nil {
		return nil, err
	}
	var stream jetstream.Stream
	if h.LaneSubjects != nil {
		if stream, err = lookUp(s, ctx, "stream "+h.Stream, func(ctx context.Context) (jetstream.Stream, error) {
			return s.js.Stream(ctx, h.Stream)
		}); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("natsbus: subscriber closed")
	}
	cl := &consumerLanes{s: s, h: h, cons: c, stream: stream, ctx: ctx, out: make(chan *message.Message), lanes: map[string]*lane{}, holds: map[*held]struct{}{}, acked: map[uint64]time.Time{}}
	cc, err := c.Consume(cl.receive, consumeOpts(c.CachedInfo().Config, s.rc.AckWait)...)
	if err != nil {
		return nil, fmt.Errorf("natsbus: consume %s: %w", h.Consumer, err)
	}
	hbCtx, stopHB := context.WithCancel(context.Background())
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		cl.heartbeats(hbCtx)
	}()
	s.stops = append(s.stops, func() { cc.Stop(); stopHB() })
	return cl.out, nil
}

// lookUp asks JetStream for what (a consumer, a stream) by get, again
// while the cluster does not answer in time or is not formed yet (a
// cluster just started, or busy creating every replica's consumers at
// once): a replica that gave up would exit and hold its partitions for
// PinnedTTL. Other errors, and the subscriber closing, end it.
func lookUp[T any](s *laneSubscriber, ctx context.Context, what string, get func(context.Context) (T, error)) (T, error) {
	for attempt := uint64(1); ; attempt++ {
		v, err := get(ctx)
		if err == nil || !clusterForming(err) || ctx.Err() != nil {
			if err != nil {
				err = fmt.Errorf("natsbus: %s: %w", what, err)
			}
			return v, err
		}
		s.log.Warn("JetStream did not answer in time; asking again", "what", what, "error", err.Error())
		wait := time.NewTimer(Backoff{Base: 100 * time.Millisecond, Max: 2 * time.Second}.WaitTime(attempt))
		select {
		case <-wait.C:
		case <-s.closing:
			wait.Stop()
			var zero T
			return zero, fmt.Errorf("natsbus: %s: subscriber closed: %w", what, err)
		case <-ctx.Done():
			wait.Stop()
			var zero T
			return zero, fmt.Errorf("natsbus: %s: %w", what, ctx.Err())
		}
	}
}

// consumeOpts pulls batches as large as cfg lets one consumer hold and
// joins cfg's priority group, renewing its pull (and so its pin) within
// ackWait.
func consumeOpts(cfg jetstream.ConsumerConfig, ackWait time.Duration) []jetstream.PullConsumeOpt {
	batch := min(max(cfg.MaxAckPending, 1), MaxPrefetch)
	opts := []jetstream.PullConsumeOpt{jetstream.PullMaxMessages(batch)}
	if len(cfg.PriorityGroups) > 0 {
		opts = append(opts, jetstream.PullPriorityGroup(cfg.PriorityGroups[0]))
		if cfg.PinnedTTL > 0 {
			// The pin lasts while pulls come within PinnedTTL.
			opts = append(opts, jetstream.PullExpiry(max(cfg.PinnedTTL/4, time.Second)))
		}
	}
	return opts
}

// Close stops every consumer and the lanes; what they held and did not
// finish is left to JetStream's redelivery.
func (s *laneSubscriber) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.closing)
	stops := s.stops
	s.mu.Unlock()
	for _, stop := range stops {
		stop()
	}
	s.wg.Wait()
	// The acknowledgements sent, the router's connection is drained.
	if err := s.rc.Conn.Drain(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) && !errors.Is(err, nats.ErrConnectionDraining) {
		return fmt.Errorf("natsbus: drain: %w", err)
	}
	return nil
}

// receive queues a delivery in its subject's lane, in stream order,
// starting the lane if it was idle. It never blocks on a handler.
func (cl *consumerLanes) receive(msg jetstream.Msg) {
	h := &held{msg: msg, subject: msg.Subject(), signed: time.Now(), again: make(chan jetstream.Msg, 1), redo: make(chan jetstream.Msg, 1)}
	var delivery, count uint64
	if md, err := msg.Metadata(); err == nil {
		h.seq, delivery, count = md.Sequence.Stream, md.Sequence.Consumer, md.NumDelivered
	}
	key := msg.Subject()
	if cl.h.LaneKey != nil {
		key = cl.h.LaneKey(key)
	}
	cl.mu.Lock()
	defer cl.mu.Unlock()
	cl.noteRun(h, delivery, count)
	l, busy := cl.lanes[key]
	if !busy {
		cl.holds[h] = struct{}{}
		l = &lane{queue: []*held{h}}
		cl.lanes[key] = l
		cl.s.wg.Add(1)
		go cl.run(key, l)
		return
	}
	if l.redelivery(h) {
		return
	}
	cl.holds[h] = struct{}{}
	// In stream order: a redelivery (its first delivery went to a
	// replica that died) goes ahead of the later messages queued, but
	// never ahead of the one in a handler.
	at := len(l.queue)
	for at > 1 && l.queue[at-1].seq > h.seq {
		at--
	}
	if at == 1 && l.queue[0].handed.IsZero() && l.queue[0].seq > h.seq {
		at = 0
	}
	l.queue = append(l.queue, nil)
	copy(l.queue[at+1:], l.queue[at:])
	l.queue[at] = h
}

// noteRun follows the run of deliveries this subscription receives with
// no gap in the consumer's delivery sequence, which counts every delivery
// to anyone: a gap means another replica got some (it holds or held the
// pin), or deliveries were lost on the way (a reconnect, a server
// restart). JetStream makes first deliveries in stream order, so a first
// delivery h in a run follows every message from the run's first first
// delivery up to h: those are in this subscription's lanes or finished.
// Lock held.
func (cl *consumerLanes) noteRun(h *held, delivery, count uint64) {
	if delivery == 0 || cl.lastDelivery == 0 || delivery != cl.lastDelivery+1 {
		cl.runFrom = 0
	}
	cl.lastDelivery = delivery
	if count != 1 || h.seq == 0 {
		return
	}
	if cl.runFrom == 0 || h.seq < cl.runFrom { // the latter never in stream order: start again
		cl.runFrom = h.seq
	}
	h.runFrom = cl.runFrom
}

// floorRefresh is how often at most the lanes of one subscription ask for
// the consumer's acknowledgement floor (see inOrder).
const floorRefresh = 50 * time.Millisecond

// inOrder reports whether h can be handed out without asking the stream
// for an earlier message of its lane: h is a first delivery in a run (see
// noteRun) whose first message is just above the consumer's
// acknowledgement floor, so every earlier message of the consumer is
// acknowledged or in this run, before h, in h's lane. That skips the order
// check's two stream reads per command while one replica holds the pin and
// nothing is lost; after a pin change, a reconnect or a redelivery the
// check runs until the floor passes the new run's start. The floor is
// asked for in the background (at most every floorRefresh), never while
// a lane waits: a consumer leader that just died must not delay it.
func (cl *consumerLanes) inOrder(h *held) bool {
	if h.runFrom == 0 {
		return false
	}
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.floor+1 >= h.runFrom {
		return true
	}
	if !cl.floorAsking && time.Since(cl.floorAt) >= floorRefresh {
		cl.floorAsking, cl.floorAt = true, time.Now()
		go cl.askFloor()
	}
	return false
}

// askFloor reads the consumer's acknowledgement floor into cl.floor.
func (cl *consumerLanes) askFloor() {
	ctx, cancel := context.WithTimeout(cl.ctx, apiTimeout)
	defer cancel()
	info, err := cl.cons.Info(ctx)
	cl.mu.Lock()
	defer cl.mu.Unlock()
	cl.floorAsking = false
	if err == nil {
		cl.floor = max(cl.floor, info.AckFloor.Stream)
	}
}

// redelivery reports whether h is a new delivery of a message the lane
// already holds, and if so takes it in: for the head stuck in a handler
// past MaxHandle it is handed out anew, for a message queued it replaces
// the older delivery. Lock held.
func (l *lane) redelivery(h *held) bool {
	for _, q := range l.queue {
		if q.seq != h.seq || h.seq == 0 {
			continue
		}
		switch {
		case q.expired:
			select {
			case q.again <- h.msg:
			default: // a redelivery is already waiting: this one is the same
			}
		case q.handed.IsZero():
			q.msg, q.signed = h.msg, h.signed
		default:
			select {
			case q.redo <- h.msg:
			default: // one is waiting already: it stands for this one
			}
		}
		return true
	}
	return false
}

// run hands out a lane's messages one after the other until it is empty
// or the subscriber closes.
func (cl *consumerLanes) run(key string, l *lane) {
	defer cl.s.wg.Done()
	for {
		cl.mu.Lock()
		if len(l.queue) == 0 {
			delete(cl.lanes, key)
			cl.mu.Unlock()
			return
		}
		h := l.queue[0]
		cl.mu.Unlock()
		if !cl.waitTurn(l, h) {
			select {
			case <-cl.s.closing:
				return
			default: // an earlier message came in ahead of h
				continue
			}
		}
		if !cl.finish(h) {
			return
		}
		cl.mu.Lock()
		l.queue = slices.DeleteFunc(l.queue, func(q *held) bool { return q == h })
		delete(cl.holds, h)
		cl.mu.Unlock()
	}
}

// finish hands h out until a handler acknowledges it, waiting the
// Redelivery backoff after each nack. It reports false if the subscriber
// closed first (h is then left to JetStream's redelivery).
func (cl *consumerLanes) finish(h *held) bool {
	for attempt := uint64(1); ; attempt++ {
		cl.mu.Lock()
		msg := h.msg
		h.handed = time.Now()
		cl.mu.Unlock()
		select {
		case msg = <-h.redo: // redelivered meanwhile: handle the live delivery
			cl.mu.Lock()
			h.msg, h.signed = msg, time.Now()
			cl.mu.Unlock()
		default:
		}
		m := toMessage(msg)
		ctx, cancel := context.WithCancel(cl.ctx)
		m.SetContext(ctx)
		v := cl.handOut(m, h)
		// A stuck handler's message is handled anew: its context ends.
		cancel()
		switch v {
		case closed:
			return false
		case acked:
			if cl.ack(h, msg) {
				return true
			}
			attempt-- // redelivered while being acknowledged: handled again at once
			continue
		case redelivered:
			attempt--
			continue
		}
		cl.mu.Lock()
		h.handed = time.Time{}
		cl.mu.Unlock()
		wait := time.NewTimer(cl.s.rc.Redelivery.WaitTime(attempt))
		select {
		case <-wait.C:
		case <-cl.s.closing:
			wait.Stop()
			return false
		}
	}
}

// ack acknowledges msg, h's delivery the handler finished, trying again
// while the connection is down (the heartbeats keep the message in
// progress meanwhile): a message left to JetStream's redelivery would hold
// its lane for AckWait more. It reports false when JetStream redelivered
// the message first (a restarted server lost that delivery, so its
// acknowledgement is never answered): the caller handles the
// redelivery, h.redo's, at once. It gives up after AckWait (or when the
// subscriber closes), leaving the message to JetStream's redelivery,
// which the handler's idempotency makes safe.
func (cl *consumerLanes) ack(h *held, msg jetstream.Msg) bool {
	giveUp := time.Now().Add(cl.s.rc.AckWait)
	for attempt := uint64(1); ; attempt++ {
		redo, err := cl.ackOnce(h, msg)
		if redo {
			return false
		}
		if err == nil {
			cl.rememberAcked(h.seq)
			return true
		}
		if time.Now().After(giveUp) {
			cl.s.log.Warn("could not acknowledge a message", "subject", msg.Subject(), "error", err.Error())
			return true
		}
		cl.s.log.Debug("could not acknowledge a message; trying again", "subject", msg.Subject(), "error", err.Error())
		wait := time.NewTimer(cl.s.rc.Redelivery.WaitTime(attempt))
		select {
		case <-wait.C:
		case again := <-h.redo:
			wait.Stop()
			select {
			case h.redo <- again:
			default: // another redelivery came meanwhile: it stands for this one
			}
			return false
		case <-cl.s.closing:
			wait.Stop()
			return true
		}
	}
}

// ackOnce sends one acknowledgement of msg and waits (a quarter of
// AckWait at most) for its answer, or for a redelivery of h (then redo).
func (cl *consumerLanes) ackOnce(h *held, msg jetstream.Msg) (redo bool, err error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(cl.ctx), max(cl.s.rc.AckWait/4, 250*time.Millisecond))
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- msg.DoubleAck(ctx) }()
	select {
	case err = <-done:
		return false, err
	case again := <-h.redo:
		cancel()
		if <-done == nil {
			return false, nil // acknowledged after all: the redelivery is the same message
		}
		select {
		case h.redo <- again:
		default: // another redelivery came meanwhile: it stands for this one
		}
		return true, nil
	}
}

// waitTurn waits while the stream holds a message of h's lane earlier than
// h (held by another replica, or redelivered and not yet here): h must not
// overtake it. It reports false if the subscriber closed first or an
// earlier message came into the lane ahead of h.
func (cl *consumerLanes) waitTurn(l *lane, h *held) bool {
	if cl.h.LaneSubjects == nil || h.seq == 0 {
		return true
	}
	if cl.inOrder(h) {
		orderChecks.WithLabelValues("skipped").Inc()
		return true
	}
	orderChecks.WithLabelValues("stream").Inc()
	for attempt := uint64(1); ; attempt++ {
		first, err := cl.earliest(cl.h.LaneSubjects(h.subject))
		if err == nil && (first == 0 || first >= h.seq) {
			return true
		}
		if err == nil && cl.leftover(first, attempt) {
			cl.removeLeftover(h.subject, first)
		} else if err != nil {
			cl.s.log.Warn("could not check a message's order in its stream; checking again", "subject", h.subject, "error", err.Error())
		} else {
			cl.s.log.Debug("an earlier message of this lane is still in the stream; waiting for it", "subject", h.subject, "sequence", h.seq, "earlier", first)
		}
		// Soon at first: an acknowledged message may take a moment to
		// leave a replicated stream.
		wait := time.NewTimer(Backoff{Base: orderCheckBase, Max: orderCheckMax}.WaitTime(attempt))
		select {
		case <-wait.C:
		case <-cl.s.closing:
			wait.Stop()
			return false
		}
		cl.mu.Lock()
		ahead := l.queue[0] != h
		cl.mu.Unlock()
		if ahead {
			return false
		}
	}
}

// leftoverMemory is how long a subscription remembers the messages whose
// acknowledgement it saw confirmed: longer than JetStream takes to remove
// a message left behind by itself (its interest check runs every 2 to
// 2.5 minutes), short enough to keep the memory small at high rates.
const leftoverMemory = 3 * time.Minute

// leftoverFloorAttempt is the order check from which an earlier message
// still in the stream is compared with the consumer's acknowledgement
// floor (an API request, so not at once: see leftover).
const leftoverFloorAttempt = 3

// rememberAcked records that seq's acknowledgement was confirmed, and
// forgets those older than leftoverMemory.
func (cl *consumerLanes) rememberAcked(seq uint64) {
	if cl.h.LaneSubjects == nil || seq == 0 {
		return
	}
	now := time.Now()
	cl.mu.Lock()
	defer cl.mu.Unlock()
	cl.acked[seq] = now
	if len(cl.acked)%1024 == 0 {
		for s, at := range cl.acked {
			if now.Sub(at) > leftoverMemory {
				delete(cl.acked, s)
			}
		}
	}
}

// leftover reports whether the stream's message seq, earlier than one a
// lane waits to hand out, is already acknowledged: its acknowledgement was
// confirmed to this subscription, or (from leftoverFloorAttempt on) it is
// at or below the consumer's acknowledgement floor, whoever acknowledged
// it; never at the first check, when it is most likely on its way out (an
// acknowledged message takes a moment to leave a replicated stream). Such
// a message stays in a work-queue stream when its removal is lost: on a
// cluster, the consumer's leader forwards the removal to the stream's
// leader without waiting for an answer (raft ForwardProposal), and one
// forwarded while that leader is dying or being elected is dropped;
// JetStream only notices at its next interest check, minutes later.
// Nothing will deliver the message again, so waiting for it stalls its
// customer's commands (docs/scaling.md, NATS cluster).
func (cl *consumerLanes) leftover(seq uint64, attempt uint64) bool {
	cl.mu.Lock()
	_, mine := cl.acked[seq]
	cl.mu.Unlock()
	switch {
	case attempt < 2:
		return false // most likely on its way out: look again first
	case mine:
		return true
	case attempt < leftoverFloorAttempt:
		return false
	}
	ctx, cancel := context.WithTimeout(cl.ctx, apiTimeout)
	defer cancel()
	info, err := cl.cons.Info(ctx)
	return err == nil && seq <= info.AckFloor.Stream
}

// removeLeftover deletes the acknowledged message seq that JetStream left
// in the stream (see leftover), as the work queue would have; the order
// check then looks again.
func (cl *consumerLanes) removeLeftover(subject string, seq uint64) {
	ctx, cancel := context.WithTimeout(cl.ctx, apiTimeout)
	defer cancel()
	switch err := cl.stream.DeleteMsg(ctx, seq); {
	case err == nil:
		cl.s.log.Warn("removed an acknowledged message the stream still held (a removal lost in a leader change)", "subject", subject, "sequence", seq)
	case msgGone(err): // its removal came through meanwhile
	default:
		cl.s.log.Warn("could not remove an acknowledged message left in the stream; checking again", "subject", subject, "sequence", seq, "error", err.Error())
	}
}

// orderCheckBase and orderCheckMax bound the wait before the stream is
// checked again for an earlier message of a lane.
const (
	orderCheckBase = 20 * time.Millisecond
	orderCheckMax  = time.Second
)

// apiTimeout bounds one JetStream API request of a lane (an order check,
// an acknowledgement's confirmation): answered in milliseconds by a live
// leader, never by a dead one, and both are tried again (the check) or
// made good by a redelivery (the acknowledgement), so a lane waits this
// long, not the API's default 5 s, when a leader dies.
const apiTimeout = time.Second

// earliest returns the lowest sequence the stream holds on any of
// subjects, 0 if none.
func (cl *consumerLanes) earliest(subjects []string) (uint64, error) {
	var first uint64
	for _, subj := range subjects {
		ctx, cancel := context.WithTimeout(cl.ctx, apiTimeout)
		m, err := cl.stream.GetMsg(ctx, 1, jetstream.WithGetMsgSubject(subj))
		cancel()
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return 0, err
		}
		if first == 0 || m.Sequence < first {
			first = m.Sequence
		}
	}
	return first, nil
}

// verdict is how a handing out ended.
type verdict int

const (
	acked       verdict = iota // the handler finished the message
	nacked                     // the handler failed: retry after a backoff
	redelivered                // the handler is stuck and JetStream redelivered it
	closed                     // the subscriber closed first
)

// handOut gives m (h's message) to the router and waits for its verdict.
func (cl *consumerLanes) handOut(m *message.Message, h *held) verdict {
	select {
	case cl.out <- m:
	case <-cl.s.closing:
		return closed
	case <-cl.ctx.Done():
		return closed
	}
	select {
	case <-m.Acked():
		return acked
	case <-m.Nacked():
		return nacked
	case msg := <-h.again:
		cl.mu.Lock()
		h.msg, h.expired, h.signed = msg, false, time.Now()
		cl.mu.Unlock()
		return redelivered
	case <-cl.s.closing:
		return closed
	}
}

// heartbeats marks in progress, every AckWait/6, the messages held whose
// last sign of life is a third of AckWait old, except those past MaxHandle
// in a handler.
func (cl *consumerLanes) heartbeats(ctx context.Context) {
	every := max(cl.s.rc.AckWait/6, time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			for _, msg := range cl.due(now) {
				if err := msg.InProgress(); err != nil {
					cl.s.log.Debug("could not mark a message in progress", "subject", msg.Subject(), "error", err.Error())
				}
			}
		}
	}
}

// due returns the deliveries to mark in progress now, in stream order,
// and records the sign. It returns the deliveries, read under the lock,
// since a redelivery may replace a held message's.
func (cl *consumerLanes) due(now time.Time) []jetstream.Msg {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	var out []*held
	for h := range cl.holds {
		if now.Sub(h.signed) < cl.s.rc.AckWait/3 || h.expired {
			continue
		}
		if !h.handed.IsZero() && now.Sub(h.handed) > cl.s.rc.MaxHandle {
			h.expired = true
			cl.s.log.Warn("a message is taking longer than its handler may hold it; JetStream will redeliver it", "subject", h.subject, "max_handle", cl.s.rc.MaxHandle.String())
			continue
		}
		h.signed = now
		out = append(out, h)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	msgs := make([]jetstream.Msg, len(out))
	for i, h := range out {
		msgs[i] = h.msg
	}
	return msgs
}

// toMessage makes a watermill message of any JetStream message (see
// decode). It accepts any message: commands published by partners carry no
// watermill headers, and a message that cannot be decoded must still reach
// the handler so it is rejected with a reason instead of being dropped.
func toMessage(msg jetstream.Msg) *message.Message {
	id := msg.Headers().Get(nats.MsgIdHdr)
	uuid := id
	if uuid == "" {
		uuid = watermill.NewUUID()
	}
	m := message.NewMessage(uuid, msg.Data())
	m.Metadata.Set(metaSubject, msg.Subject())
	m.Metadata.Set(metaMsgID, id)
	if md, err := msg.Metadata(); err == nil {
		m.Metadata.Set(metaStreamSeq, fmt.Sprint(md.Sequence.Stream))
		delivered(m, md, msg.Subject())
	}
	traceToMetadata(msg.Headers(), m.Metadata)
	return m
}
