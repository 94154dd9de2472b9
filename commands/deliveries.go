package commands

import (
	"context"
	"time"

	"github.com/hookstream/hookstream"
	"github.com/hookstream/hookstream/broker"
	"github.com/hookstream/hookstream/delivery"
	"github.com/hookstream/hookstream/projections"
	"github.com/hookstream/hookstream/tracing"
)

// Enqueuer starts a new delivery of an event to a webhook (a resend), under the webhook's current failure
// handling.
type Enqueuer interface {
	Enqueue(ctx context.Context, e *hookstream.Event, eventSeq uint64, webhook, attempt, msgID string) error
}

// JobSubmitter stores a durable delivery job.
type JobSubmitter interface {
	Submit(ctx context.Context, job *delivery.Job) error
}

// DeliveryCommands are the commands on events and delivery records.
type DeliveryCommands struct {
	broker   *broker.Broker
	store    *projections.Store
	webhooks *projections.Webhooks
	events   *projections.Events
	diverted *projections.Diverted
	attempts *projections.Attempts
	enqueuer Enqueuer
	jobs     JobSubmitter
	now      func() time.Time
}

// NewDeliveryCommands returns DeliveryCommands.
func NewDeliveryCommands(b *broker.Broker, store *projections.Store, webhooks *projections.Webhooks, events *projections.Events,
	diverted *projections.Diverted, attempts *projections.Attempts, enqueuer Enqueuer, jobs JobSubmitter, now func() time.Time) *DeliveryCommands {
	return &DeliveryCommands{broker: b, store: store, webhooks: webhooks, events: events, diverted: diverted, attempts: attempts,
		enqueuer: enqueuer, jobs: jobs, now: now}
}

// PublishEvent ingests an event, with the trace context it is to keep, and answers once the events view has
// it, so the caller can read it back.
func (c *DeliveryCommands) PublishEvent(ctx context.Context, tenant, eventType string, data []byte, requestID, idempotencyKey string,
	trace tracing.Context) (*hookstream.Event, error) {
	// No wait for the events view: Event reads an event the view has not applied yet from the stream.
	return c.broker.PublishEvent(ctx, tenant, eventType, data, requestID, idempotencyKey, trace)
}

// PublishEvents ingests events that the caller has decoded and checked (see broker.PublishEvents) and returns
// each as stored, or its error, in order. Like PublishEvent it does not wait for the events view.
func (c *DeliveryCommands) PublishEvents(ctx context.Context, in []broker.EventInput) ([]*hookstream.Event, []error) {
	return c.broker.PublishEvents(ctx, in)
}

// CatchUpEvents waits until the events view has applied every event published so far, so a listing includes
// the events whose publish has answered.
func (c *DeliveryCommands) CatchUpEvents(ctx context.Context) error {
	last, err := c.broker.LastSeq(ctx, broker.KindEvents)
	if err != nil {
		return err
	}
	return c.store.WaitFor(ctx, projections.EventsView, last)
}

// Event returns an event of tenant: from the events view, or, when the view has not applied it yet, from the
// stream itself (the locator carries its sequence), so an event reads back the moment its publish answered.
func (c *DeliveryCommands) Event(ctx context.Context, tenant, locator string) (*hookstream.Event, error) {
	e, err := c.events.Get(tenant, locator)
	if err == nil || hookstream.ErrorCodeOf(err) != hookstream.CodeNotFound {
		return e, err
	}
	seq, ok := hookstream.EventSeq(locator)
	if !ok || seq <= c.events.Applied() {
		return nil, err // the view has passed it: it is not this tenant's, or it is gone
	}
	stored, serr := c.broker.ReadEvent(ctx, seq)
	if serr != nil || stored.Tenant != tenant || stored.Locator != locator {
		return nil, err
	}
	return stored, nil
}

// ResendDiverted delivers a diverted event again under the webhook's current failure handling; the diverted
// record goes when the resend succeeds, and is replaced if it finally fails again.
func (c *DeliveryCommands) ResendDiverted(ctx context.Context, tenant, webhook, event string) error {
	if _, err := c.webhooks.Get(tenant, webhook); err != nil {
		return err
	}
	d, err := c.diverted.Get(tenant, webhook, event)
	if err != nil {
		return err
	}
	e, err := c.events.Get(tenant, d.EventLocator)
	if err != nil {
		return hookstream.Conflict("event %s is no longer retained: the events stream's retention removed it", d.EventLocator)
	}
	attempt := hookstream.NewLocator(c.now())
	return c.enqueuer.Enqueue(ctx, e, d.EventSeq, webhook, attempt, "task/"+attempt)
}

// Resend sends an event to a webhook again now: each call is one more delivery.
func (c *DeliveryCommands) Resend(ctx context.Context, tenant, webhook, event string) error {
	if _, err := c.webhooks.Get(tenant, webhook); err != nil {
		return err
	}
	e, err := c.Event(ctx, tenant, event)
	if err != nil {
		return err
	}
	seq, _ := hookstream.EventSeq(e.Locator)
	attempt := hookstream.NewLocator(c.now())
	return c.enqueuer.Enqueue(ctx, e, seq, webhook, attempt, "task/"+attempt)
}

// StartJob stores a recover or replay_missing job for a webhook; it runs in the background and survives
// restarts.
func (c *DeliveryCommands) StartJob(ctx context.Context, actor, tenant, webhook, kind string, begin, end time.Time) error {
	if _, err := c.webhooks.Get(tenant, webhook); err != nil {
		return err
	}
	if !begin.IsZero() && !end.IsZero() && !begin.Before(end) {
		return hookstream.Invalid("begin", "must be before end")
	}
	return c.jobs.Submit(ctx, &delivery.Job{Kind: kind, Tenant: tenant, Webhook: webhook, Begin: begin, End: end, Actor: actor})
}

// SendExample delivers a realistic example event of eventType to a webhook, signed like any delivery and
// recorded as an attempt. The example is not an ingested event: no other webhook receives it.
func (c *DeliveryCommands) SendExample(ctx context.Context, tenant, webhook, eventType string) error {
	if _, err := c.webhooks.Get(tenant, webhook); err != nil {
		return err
	}
	if err := hookstream.CheckEventType("event_type", eventType); err != nil {
		return err
	}
	now := c.now().UTC()
	e := &hookstream.Event{Locator: hookstream.NewLocator(now), Type: eventType, Tenant: tenant, Timestamp: now,
		Data: hookstream.ExamplePayload(eventType)}
	attempt := hookstream.NewLocator(now)
	return c.enqueuer.Enqueue(ctx, e, 0, webhook, attempt, "example/"+attempt)
}

// DeleteDiverted removes a diverted record.
func (c *DeliveryCommands) DeleteDiverted(ctx context.Context, actor, tenant, webhook, event string) error {
	if _, err := c.webhooks.Get(tenant, webhook); err != nil {
		return err
	}
	if _, err := c.diverted.Get(tenant, webhook, event); err != nil {
		return err
	}
	seq, err := c.broker.AppendJSON(ctx, c.broker.Subjects.Diverted(tenant, webhook), &hookstream.DeliveryRecord{
		Type: hookstream.RecordDivertedDeleted, Tenant: tenant, Webhook: webhook, Event: event, Actor: actor, Time: c.now().UTC(),
	}, broker.AppendOptions{})
	if err != nil {
		return err
	}
	return c.store.WaitFor(ctx, projections.DivertedView, seq)
}
