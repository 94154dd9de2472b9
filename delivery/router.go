package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hookstream/hookstream"
	"github.com/hookstream/hookstream/broker"
	"github.com/hookstream/hookstream/projections"
	"github.com/hookstream/hookstream/tracing"
	"go.opentelemetry.io/otel/attribute"
)

// The durable consumers every instance shares: the router's on the events stream, the dispatcher's on queued
// tasks and due retries, and the jobs'.
const (
	RouterConsumer     = "router"
	DeliveriesConsumer = "deliveries"
	RetriesConsumer    = "retries"
	JobsConsumer       = "jobs"
)

// routerBatch bounds the events routed between two checks that the webhooks view is current.
const routerBatch = 512

// routerAckWait is how long an event may go without news from the router that took it: how long the events
// of an instance that died (or that the server sent to a router as it stopped, lost in flight) wait before
// another router takes them. An event whose tasks take longer is kept with InProgress every third of it.
const routerAckWait = 15 * time.Second

// Router fans each ingested event out into one delivery task per subscribed webhook and hands the tasks to
// this instance's dispatcher in-process: a first try costs no message of its own, only the event's. The event is
// acked once each of its tasks is done (delivered, failed with its retry scheduled or its final failure
// handled, or parked), so an instance that dies leaves its events to be routed again, and a task whose outcome
// was recorded is not sent twice. It is one durable consumer shared by every instance and every webhook; the
// webhooks are found through the view's in-memory index, never by scanning.
type Router struct {
	broker     *broker.Broker
	store      *projections.Store
	webhooks   *projections.Webhooks
	recorder   *Recorder
	scheduler  *Scheduler
	dispatcher *Dispatcher
	metrics    *Metrics
	tracer     *tracing.Tracer
	log        *slog.Logger

	mu       sync.Mutex
	inFlight map[broker.Msg]*routedEvent // events whose tasks are not all done yet

	// filters is used by the routing loop alone.
	filters filters
}

// routedEvent is what an event's tasks have come to so far.
type routedEvent struct {
	left  int           // tasks not done yet
	again bool          // some task must be tried again: the event is handed back
	after time.Duration // how long it waits first
}

// Run routes events until ctx ends.
func (r *Router) Run(ctx context.Context) error {
	cons, err := r.broker.Consumer(ctx, broker.ConsumerConfig{
		Kind:          broker.KindEvents,
		Durable:       RouterConsumer,
		Description:   "hookstream router: events to delivery tasks",
		AckWait:       routerAckWait,
		MaxAckPending: 4 * routerBatch,
	})
	if err != nil {
		return err
	}
	go r.keepInFlight(ctx)
	return consumeBatches(ctx, cons, routerBatch, func(batch []broker.Msg) {
		r.route(ctx, batch)
	})
}

// keepInFlight tells the server, every third of the ack wait, that the events whose tasks are still running
// are being worked on, so a slow delivery does not send its event to another router.
func (r *Router) keepInFlight(ctx context.Context) {
	tick := time.NewTicker(routerAckWait / 3)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		r.mu.Lock()
		for m := range r.inFlight {
			_ = m.InProgress()
		}
		r.mu.Unlock()
	}
}

// route handles one batch: it waits until the webhooks view has applied every webhook change appended so far
// (so a change answered 2xx before these events were ingested applies to them), looks up the batch's tries'
// recorded outcomes in one read, then hands each event's tasks to the dispatcher; each event is acked when its
// last task is done.
func (r *Router) route(ctx context.Context, batch []broker.Msg) {
	last, err := r.broker.LastSeq(ctx, broker.KindWebhooks)
	if err == nil {
		err = r.store.WaitFor(ctx, projections.WebhooksView, last)
	}
	if err != nil {
		if ctx.Err() != nil {
			nakAll(batch, 0) // stopping: the batch goes back at once
			return
		}
		r.log.Warn("router cannot see current webhooks; retrying the batch", "err", err)
		nakAll(batch, time.Second)
		return
	}
	type fannedOut struct {
		m     broker.Msg
		tasks []*task
	}
	events := make([]fannedOut, 0, len(batch))
	var all []*task
	for _, m := range batch {
		tasks, err := r.fanOut(ctx, m)
		if err != nil {
			var de *hookstream.Error
			if errors.As(err, &de) {
				r.metrics.EventsRejected.Inc()
				r.log.Warn("rejected an invalid event", "subject", m.Subject(), "err", err)
				_ = m.Term()
				continue
			}
			r.log.Warn("route event", "subject", m.Subject(), "err", err)
			_ = m.NakWithDelay(time.Second)
			continue
		}
		if len(tasks) == 0 {
			r.settle(m, false, 0)
			continue
		}
		events = append(events, fannedOut{m: m, tasks: tasks})
		all = append(all, tasks...)
	}
	if err := r.recorder.ReadOutcomes(all); err != nil {
		r.log.Warn("each task's outcome is read on its own", "err", err)
	}
	for _, e := range events {
		r.mu.Lock()
		r.inFlight[e.m] = &routedEvent{left: len(e.tasks)}
		r.mu.Unlock()
		done := func(retry bool, delay time.Duration) { r.taskDone(e.m, retry, delay) }
		for _, t := range e.tasks {
			r.dispatcher.dispatch(ctx, &job{t: t, done: done})
		}
	}
}

// taskDone records that one of the event's tasks is done; the last one settles the event: acked, or handed
// back when any task must be tried again (tasks already done are then concluded from their outcome).
func (r *Router) taskDone(m broker.Msg, retry bool, delay time.Duration) {
	r.mu.Lock()
	e := r.inFlight[m]
	e.left--
	if retry {
		e.again, e.after = true, max(e.after, delay)
	}
	if e.left > 0 {
		r.mu.Unlock()
		return
	}
	delete(r.inFlight, m)
	r.mu.Unlock()
	r.settle(m, e.again, e.after)
}

// settle acks a routed event, or hands it back.
func (r *Router) settle(m broker.Msg, retry bool, delay time.Duration) {
	settleMsg(m, retry, delay)
	if !retry {
		r.metrics.EventsRouted.Inc()
	}
}

// routedUpTo returns the events stream sequence up to which the router has routed every event (its ack
// floor): each such event's tasks are in the deliveries or held streams, or already done.
func routedUpTo(ctx context.Context, b *broker.Broker) (uint64, error) {
	return b.AckFloor(ctx, broker.KindEvents, RouterConsumer)
}

// fanOut returns the event's tasks for the webhooks that receive it now; those of suspended or holding
// webhooks are held instead, in order.
func (r *Router) fanOut(ctx context.Context, m broker.Msg) ([]*task, error) {
	md, err := m.Metadata()
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	ev, err := projections.DecodeEvent(r.broker.Subjects, &projections.Msg{Subject: m.Subject(), Seq: md.Sequence.Stream,
		Time: md.Timestamp, Header: m.Headers(), Data: m.Data()})
	if err != nil {
		return nil, err
	}
	span := r.tracer.Start(ctx, "hookstream.route", tracing.KindConsumer, ev.Trace)
	defer span.End()
	if span.Recording() {
		span.SetAttributes(attribute.String("hookstream.tenant", ev.Tenant), attribute.String("hookstream.event", ev.Locator),
			attribute.String("hookstream.event_type", ev.Type))
	}
	subs := r.webhooks.Subscribers(ev.Tenant, ev.Type)
	if len(subs) == 0 {
		return nil, nil
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("encode event: %w", err)
	}
	tasks := make([]*task, 0, len(subs))
	fe := filterEvent(ev) // shared by every webhook's filter: the data is read once, if at all
	for _, w := range subs {
		if !w.Enabled || !w.ReceivesIngestedAt(ev.Timestamp) {
			continue // disabled webhooks receive nothing, even when the router is late; replay_missing can send it later
		}
		if !r.filters.accepts(w, fe, r.log) {
			r.metrics.Deliveries.WithLabelValues("filtered").Inc()
			continue // the webhook's filter rejects the event: no attempt, not held
		}
		t := &task{kind: kindEvent, tenant: ev.Tenant, webhook: w.Locator, event: ev.Locator, eventSeq: md.Sequence.Stream,
			attempt: hookstream.DerivedLocator(ev.Timestamp, ev.Locator, w.Locator, "0"), body: body, trace: ev.Trace}
		if w.FIFO() {
			// A FIFO webhook's events all wait in its held events, in order, for the one release that sends
			// them one at a time; a prior try (routed again after a crash) is carried on from by that release.
			t.ordered = true
			if err := r.scheduler.Hold(ctx, t); err != nil {
				return nil, err
			}
			r.metrics.Deliveries.WithLabelValues("queued_in_order").Inc()
			continue
		}
		if w.Suspended || w.Holding {
			if prior := r.recorder.Outcome(t); prior != nil {
				// Routed before and tried, then the instance died before the event was acked: not held, but
				// handed to the dispatcher, whose try carries on from the recorded outcome (the final failure's
				// remaining steps) without sending again.
				tasks = append(tasks, t)
				continue
			}
			// Ordered against the release: appended synchronously.
			if err := r.scheduler.Hold(ctx, t); err != nil {
				return nil, err
			}
			r.metrics.Deliveries.WithLabelValues("held").Inc()
			continue
		}
		tasks = append(tasks, t)
	}
	if span.Recording() {
		span.SetAttributes(attribute.Int("hookstream.tasks", len(tasks)))
	}
	return tasks, nil
}

// consumeBatches feeds handle with batches of what the consumer delivers: it blocks for one message, then
// takes whatever else is already waiting, up to max.
func consumeBatches(ctx context.Context, cons *broker.Consumer, max int, handle func([]broker.Msg)) error {
	in := make(chan broker.Msg, max)
	c, err := cons.Consume(max, func(m broker.Msg) {
		select {
		case in <- m:
		case <-ctx.Done():
			_ = m.Nak() // stopping: another instance (or the next start) takes it at once, not after the ack wait
		}
	})
	if err != nil {
		return err
	}
	defer func() {
		broker.Drain(c)
		// What was pulled but not batched goes back at once too.
		for {
			select {
			case m := <-in:
				_ = m.Nak()
			default:
				return
			}
		}
	}()
	batch := make([]broker.Msg, 0, max)
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-in:
			batch = append(batch[:0], m)
		}
	fill:
		for len(batch) < max {
			select {
			case m := <-in:
				batch = append(batch, m)
			default:
				break fill
			}
		}
		handle(batch)
	}
}

func nakAll(batch []broker.Msg, delay time.Duration) {
	for _, m := range batch {
		settleMsg(m, true, delay)
	}
}
