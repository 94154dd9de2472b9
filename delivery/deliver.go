package delivery

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/hookstream/hookstream"
	"github.com/hookstream/hookstream/delivery/decide"
	"github.com/hookstream/hookstream/delivery/sender"
	"github.com/hookstream/hookstream/projections"
	"github.com/hookstream/hookstream/tracing"
	"go.opentelemetry.io/otel/attribute"
)

// Suspender suspends a webhook on the engine's behalf after a final failure.
type Suspender interface {
	Suspend(ctx context.Context, tenant, webhook, reason string) (*hookstream.Webhook, error)
}

// result says what became of a task.
type result int

const (
	resultDone   result = iota // delivered, failed for good, or dropped
	resultHeld                 // the webhook is suspended: the task waits in the held stream
	resultFailed               // failed; a retry is scheduled or the final failure handled
)

// deliverer carries out one try: the checks, the request through the sender, and what follows under the
// decision: the outcome recorded, the retry scheduled, or the final failure's steps.
type deliverer struct {
	sender    *sender.Sender
	webhooks  *projections.Webhooks
	recorder  *Recorder
	scheduler *Scheduler
	suspender Suspender
	metrics   *Metrics
	tracer    *tracing.Tracer // nil: no spans; attempts carry the event's trace context regardless
	log       *slog.Logger
}

// concluding is a try whose request is over (or was made before, and recorded), waiting for its conclusion.
type concluding struct {
	t        *task
	wh       *hookstream.Webhook // nil when the webhook no longer exists
	a        *hookstream.Attempt
	recorded bool
}

// begin is the first phase of a try: the checks and the request. It returns the try to conclude, or nil with
// the result when nothing is left to conclude. fromHold is set for a task out of the held stream.
func (d *deliverer) begin(ctx context.Context, t *task, fromHold bool) (*concluding, result, error) {
	if t.kind == kindAlert {
		d.sendAlert(ctx, t)
		return nil, resultDone, nil
	}
	wh := d.webhooks.Current(t.tenant, t.webhook)
	if prior := d.recorder.Outcome(t); prior != nil {
		if fromHold && !t.ordered {
			// Held by a router that routed the event again after its try had run: that try's conclusion
			// stands (its task resumed it if need be); releasing it would conclude it twice.
			return nil, resultDone, nil
		}
		// The task comes back after its attempt was made and recorded (an instance died before settling it,
		// or a router routed the event again): carry on from the recorded outcome instead of sending again.
		return &concluding{t: t, wh: wh, a: prior, recorded: true}, resultDone, nil
	}
	switch {
	case wh == nil || wh.Deleted, !wh.Enabled:
		d.metrics.Deliveries.WithLabelValues("skipped").Inc()
		return nil, resultDone, d.recorder.Cancelled(ctx, t)
	case wh.Suspended:
		if fromHold {
			return nil, resultHeld, nil
		}
		d.metrics.Deliveries.WithLabelValues("held").Inc()
		return nil, resultHeld, d.scheduler.Hold(ctx, t)
	}
	if t.try > 0 {
		done, err := d.recorder.Delivered(t)
		if err != nil {
			return nil, resultDone, err
		}
		if done {
			d.metrics.Deliveries.WithLabelValues("skipped").Inc()
			return nil, resultDone, d.recorder.Cancelled(ctx, t)
		}
	}
	span := d.tracer.Start(ctx, "hookstream.attempt", tracing.KindClient, t.trace)
	r := d.sender.Send(ctx, &wh.Endpoint, t.event, t.body, span.Context(t.trace))
	endSpan(span, t, r)
	d.metrics.Latency.Observe(r.Latency().Seconds())
	a := &hookstream.Attempt{
		Locator: t.attempt, Tenant: t.tenant, Webhook: t.webhook, Event: t.event, EventSeq: t.eventSeq, Try: t.try,
		URL: wh.Endpoint.URL, StatusCode: r.StatusCode, ResponseBody: r.Body, LatencyMs: float64(r.Latency().Microseconds()) / 1000,
		Created: r.Started.UTC(), Status: hookstream.AttemptSuccess,
	}
	if r.Err != nil {
		a.Error = r.Err.Error()
	}
	if !decide.Succeeded(r.StatusCode) {
		a.Status = hookstream.AttemptFailed
		a.Trigger, _ = decide.MatchTrigger(wh.FailureHandling.Triggers, r.StatusCode)
	}
	if decide.HonoursRetryAfter(r.StatusCode) {
		if wait, ok := decide.ParseRetryAfter(r.RetryAfter, r.Ended); ok {
			seconds := int(wait / time.Second)
			a.RetryAfter = &seconds
		}
	}
	return &concluding{t: t, wh: wh, a: a}, resultDone, nil
}

// decision is what the decision needs of a recorded attempt. The jitter's random number is derived from the
// attempt's locator, so a try concluded again (resumed after a crash) schedules the very same retry.
func decision(t *task, a *hookstream.Attempt) decide.Attempt {
	da := decide.Attempt{StatusCode: a.StatusCode, Try: t.try, Ended: a.Ended(), Random: decide.Uniform(a.Locator)}
	if a.RetryAfter != nil {
		da.RetryAfter = time.Duration(*a.RetryAfter) * time.Second
	}
	return da
}

// conclude is the second phase of a try, which needs no endpoint slot: it records the attempt (unless it was
// recorded before: a resumed task) and carries out the decision. Resuming writes nothing twice: the other
// writes have message ids derived from the attempt, and should a resumed task record an attempt again (its
// first record not yet in this instance's view), the attempts view keeps the first.
func (d *deliverer) conclude(ctx context.Context, c *concluding) (result, error) {
	t, wh, a := c.t, c.wh, c.a
	ended := a.Ended()
	if !c.recorded {
		if err := d.recorder.Attempt(ctx, a, t.ordered); err != nil {
			return resultDone, err
		}
	}
	if wh == nil || wh.Deleted {
		return resultDone, nil
	}
	next := decide.Next(decision(t, a), wh.FailureHandling)
	switch next.Action {
	case decide.Delivered:
		d.metrics.Deliveries.WithLabelValues("success").Inc()
		return resultDone, d.recorder.Resolved(ctx, t, ended)
	case decide.Failed:
		d.metrics.Deliveries.WithLabelValues("failed").Inc()
		return resultFailed, nil
	case decide.Retry:
		d.metrics.Deliveries.WithLabelValues("failed").Inc()
		if t.ordered {
			return resultFailed, d.retryInOrder(ctx, t, wh, next.RetryAt, ended)
		}
		return resultFailed, d.scheduleRetry(ctx, t, wh, next.RetryAt, ended)
	default:
		d.metrics.Deliveries.WithLabelValues("failed").Inc()
		return resultFailed, d.finalFailure(ctx, t, a, next, ended)
	}
}

// scheduleRetry records the next try as PENDING and schedules it, durably, in the retries stream.
func (d *deliverer) scheduleRetry(ctx context.Context, t *task, wh *hookstream.Webhook, due, failedAt time.Time) error {
	next, err := d.pendingRetry(ctx, t, wh, due, failedAt)
	if err != nil {
		return err
	}
	if err := d.scheduler.Schedule(ctx, next, due, "sched/"+next.attempt); err != nil {
		return fmt.Errorf("schedule retry: %w", err)
	}
	d.metrics.Deliveries.WithLabelValues("retry_scheduled").Inc()
	return nil
}

// retryInOrder records the next try of an ordered task as PENDING and hands it to the task's caller (t.next),
// which carries it out when due, before any later event of the webhook. Nothing is scheduled: the event waits
// where it is held, and a release resumed elsewhere finds this try's outcome and decides it again.
func (d *deliverer) retryInOrder(ctx context.Context, t *task, wh *hookstream.Webhook, due, failedAt time.Time) error {
	next, err := d.pendingRetry(ctx, t, wh, due, failedAt)
	if err != nil {
		return err
	}
	next.due = due
	t.next = next
	d.metrics.Deliveries.WithLabelValues("retry_scheduled").Inc()
	return nil
}

// pendingRetry records the try after t, due at due, as PENDING and returns it.
func (d *deliverer) pendingRetry(ctx context.Context, t *task, wh *hookstream.Webhook, due, failedAt time.Time) (*task, error) {
	next := *t
	next.try = t.try + 1
	next.attempt = hookstream.DerivedLocator(due, t.event, t.webhook, t.attempt)
	next.outcomeRead, next.prior, next.next = false, nil, nil
	pending := &hookstream.Attempt{Locator: next.attempt, Tenant: t.tenant, Webhook: t.webhook, Event: t.event, EventSeq: t.eventSeq,
		Try: next.try, Status: hookstream.AttemptPending, Created: failedAt.UTC(), Due: &due, URL: wh.Endpoint.URL}
	if err := d.recorder.Pending(ctx, pending); err != nil {
		return nil, err
	}
	return &next, nil
}

// finalFailure diverts, suspends and alerts as the decision says. Each step is written with a message id
// derived from the attempt, so a crash between steps writes each exactly once.
func (d *deliverer) finalFailure(ctx context.Context, t *task, a *hookstream.Attempt, next decide.Decision, at time.Time) error {
	message := failureMessage(a)
	if next.Divert {
		if err := d.recorder.Diverted(ctx, &hookstream.DivertedEvent{Tenant: t.tenant, Webhook: t.webhook, EventLocator: t.event,
			EventSeq: t.eventSeq, RequestLocator: a.Locator, FailureMessage: message, FailureTimestamp: at.UTC(),
			FailureTrigger: next.Trigger}); err != nil {
			return err
		}
		d.metrics.Deliveries.WithLabelValues("diverted").Inc()
	}
	if next.Suspend {
		if _, err := d.suspender.Suspend(ctx, t.tenant, t.webhook, "final delivery failure of event "+t.event+": "+message); err != nil {
			return fmt.Errorf("suspend: %w", err)
		}
	}
	if next.Alert {
		notice, err := json.Marshal(&hookstream.AlertNotice{Type: hookstream.AlertType, Tenant: t.tenant, Webhook: t.webhook,
			Event: t.event, Request: a.Locator, FailureTrigger: next.Trigger, FailureMessage: message, FailureTimestamp: at.UTC(),
			Diverted: next.Divert, Suspended: next.Suspend})
		if err != nil {
			return fmt.Errorf("encode alert: %w", err)
		}
		alert := &task{kind: kindAlert, tenant: t.tenant, webhook: t.webhook, event: t.event, eventSeq: t.eventSeq,
			attempt: hookstream.DerivedLocator(at, a.Locator, "alert"), body: notice, trace: t.trace}
		if err := d.scheduler.enqueue(ctx, alert, "alert/"+a.Locator); err != nil {
			return fmt.Errorf("queue alert: %w", err)
		}
	}
	return nil
}

// endSpan describes a request on its span and ends it. Nothing is built for a span that does not record, and
// nothing secret goes in: no URL (its query may hold a token), no header, no body.
func endSpan(span tracing.Span, t *task, r sender.Result) {
	if span.Recording() {
		span.SetAttributes(attribute.String("hookstream.tenant", t.tenant), attribute.String("hookstream.webhook", t.webhook),
			attribute.String("hookstream.event", t.event), attribute.String("hookstream.attempt", t.attempt),
			attribute.Int("hookstream.try", t.try), attribute.Int("http.response.status_code", r.StatusCode))
		switch {
		case r.Err != nil:
			span.Fail(r.Err.Error())
		case !decide.Succeeded(r.StatusCode):
			span.Fail("endpoint answered " + strconv.Itoa(r.StatusCode))
		}
	}
	span.End()
}

func failureMessage(a *hookstream.Attempt) string {
	if a.StatusCode == 0 {
		return a.Error
	}
	msg := fmt.Sprintf("endpoint answered %d", a.StatusCode)
	if b := strings.TrimSpace(a.ResponseBody); b != "" {
		if len(b) > 200 {
			b = b[:200]
		}
		msg += ": " + b
	}
	return msg
}

// sendAlert POSTs a failure notice to the webhook's alert endpoint, signed with the alert endpoint's own
// secret. One try: an alert about failing deliveries is not itself retried.
func (d *deliverer) sendAlert(ctx context.Context, t *task) {
	wh := d.webhooks.Current(t.tenant, t.webhook)
	if wh == nil || wh.FailureHandling.AlertEndpoint == nil || d.recorder.AlertSentBefore(t) {
		d.metrics.Alerts.WithLabelValues("skipped").Inc()
		return
	}
	span := d.tracer.Start(ctx, "hookstream.alert", tracing.KindClient, t.trace)
	r := d.sender.Send(ctx, wh.FailureHandling.AlertEndpoint, t.attempt, t.body, span.Context(t.trace))
	endSpan(span, t, r)
	if r.Err != nil || !decide.Succeeded(r.StatusCode) {
		d.metrics.Alerts.WithLabelValues("failed").Inc()
		d.log.Warn("failure alert not accepted", "webhook", t.webhook, "status", r.StatusCode, "err", r.Err)
		return
	}
	d.metrics.Alerts.WithLabelValues("sent").Inc()
	if err := d.recorder.AlertSent(ctx, t); err != nil {
		d.log.Warn("record a sent alert", "webhook", t.webhook, "err", err)
	}
}
