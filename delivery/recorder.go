package delivery

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/hookstream/hookstream"
	"github.com/hookstream/hookstream/broker"
	"github.com/hookstream/hookstream/projections"
)

// Bounds of one attempts batch. A record carries at most a response body excerpt, the URL and the error, so a
// full batch stays well under NATS's default payload limit.
const (
	maxBatchRecords = 64
	maxBatchBytes   = 256 << 10
)

// batchLinger is how long a write waits for more records of its subject before it goes out, unless its batch
// fills first. Each record has a fixed cost beyond its attempts (the publish, the stream's write, the view's
// delivery and transaction share), so fuller batches make a burst cheaper (docs/performance.md, the burst
// benchmark). The wait falls after the endpoint answered, so an event's publish → receipt latency does not see
// it: the outcome reaches the stream, and the task its ack, up to this much later.
const batchLinger = 5 * time.Millisecond

// recordTimeout bounds one write of an attempts batch: the time a task is given beyond its request's timeout.
// The write does not take a caller's context, since it carries the records of several callers.
const recordTimeout = 30 * time.Second

// appender appends a JSON value to a stream subject.
type appender interface {
	AppendJSON(ctx context.Context, subject string, v any, o broker.AppendOptions) (uint64, error)
}

// attemptRecorder writes attempts' outcomes in batches. A message per record would cost a stream write, a
// message id held for the duplicate window, a publish ack and a delivery to the view's consumer, for every
// attempt: a large share of a burst's CPU and memory (docs/performance.md, the burst benchmark). The records of one webhook concluded while
// the previous write to its subject is on its way, or while the write lingers for more (up to linger, unless
// the batch fills first), go out together, as one attempts batch, in the order they came.
//
// A batch has no per-attempt message id, so the attempts view, not the server, keeps an attempt's first
// outcome when a resumed task records it again.
type attemptRecorder struct {
	out     appender
	timeout time.Duration
	linger  time.Duration

	mu     sync.Mutex
	queues map[string]*subjectQueue // by subject; a subject is present while its writer runs
}

// subjectQueue is the records waiting for one subject's writer.
type subjectQueue struct {
	items []*queuedAttempt
	// full is closed when the items make a full batch while the writer lingers; nil when it does not linger.
	full chan struct{}
}

type queuedAttempt struct {
	a    *hookstream.Attempt
	done chan error
	// urgent records are written without lingering: a FIFO webhook's next event waits for this one's record.
	urgent bool
}

// size is roughly what the record adds to a batch: its variable fields, and a fixed allowance for the rest.
func (q *queuedAttempt) size() int {
	return 512 + len(q.a.URL) + len(q.a.ResponseBody) + len(q.a.Error)
}

func newAttemptRecorder(out appender, timeout, linger time.Duration) *attemptRecorder {
	return &attemptRecorder{out: out, timeout: timeout, linger: linger, queues: map[string]*subjectQueue{}}
}

// record writes a to subject (its webhook's attempts subject) and returns once it is stored, or with the
// write's error. A record whose caller gave up may still be written.
func (r *attemptRecorder) record(ctx context.Context, subject string, a *hookstream.Attempt) error {
	return r.enqueue(ctx, subject, &queuedAttempt{a: a, done: make(chan error, 1)})
}

// recordNow is record without the linger: its batch goes out with what is queued already.
func (r *attemptRecorder) recordNow(ctx context.Context, subject string, a *hookstream.Attempt) error {
	return r.enqueue(ctx, subject, &queuedAttempt{a: a, done: make(chan error, 1), urgent: true})
}

func (r *attemptRecorder) enqueue(ctx context.Context, subject string, q *queuedAttempt) error {
	a := q.a
	r.mu.Lock()
	queue, writing := r.queues[subject]
	if !writing {
		queue = &subjectQueue{}
		r.queues[subject] = queue
	}
	queue.items = append(queue.items, q)
	if queue.full != nil && (q.urgent || fullBatch(queue.items)) {
		close(queue.full)
		queue.full = nil
	}
	r.mu.Unlock()
	if !writing {
		go r.write(subject)
	}
	select {
	case err := <-q.done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("record attempt %s: %w", a.Locator, ctx.Err())
	}
}

// write writes subject's queued records, a batch at a time, until none is left.
func (r *attemptRecorder) write(subject string) {
	for {
		r.lingerFor(subject)
		batch := r.next(subject)
		if len(batch) == 0 {
			return
		}
		err := r.append(subject, batch)
		for _, q := range batch {
			q.done <- err
		}
	}
}

// lingerFor waits up to the recorder's linger for subject's queue to make a full batch. An empty queue does not
// wait: its writer ends, and the next record starts another.
func (r *attemptRecorder) lingerFor(subject string) {
	if r.linger <= 0 {
		return
	}
	r.mu.Lock()
	queue := r.queues[subject]
	if len(queue.items) == 0 || fullBatch(queue.items) || slices.ContainsFunc(queue.items, func(q *queuedAttempt) bool { return q.urgent }) {
		r.mu.Unlock()
		return
	}
	full := make(chan struct{})
	queue.full = full
	r.mu.Unlock()
	timer := time.NewTimer(r.linger)
	defer timer.Stop()
	select {
	case <-full:
	case <-timer.C:
	}
	r.mu.Lock()
	if queue.full == full {
		queue.full = nil
	}
	r.mu.Unlock()
}

// batchLen is how many of the queued records, from the first, one batch takes: at most maxBatchRecords and
// maxBatchBytes, and at least one.
func batchLen(items []*queuedAttempt) int {
	n, size := 0, 0
	for n < len(items) && n < maxBatchRecords {
		size += items[n].size()
		if n > 0 && size > maxBatchBytes {
			break
		}
		n++
	}
	return n
}

// fullBatch reports whether the queued records make at least one whole batch: waiting would not make the next
// batch bigger.
func fullBatch(items []*queuedAttempt) bool {
	return len(items) >= maxBatchRecords || batchLen(items) < len(items)
}

// next takes the next batch off subject's queue, or removes the queue when it is empty.
func (r *attemptRecorder) next(subject string) []*queuedAttempt {
	r.mu.Lock()
	defer r.mu.Unlock()
	queue := r.queues[subject]
	if len(queue.items) == 0 {
		delete(r.queues, subject)
		return nil
	}
	n := batchLen(queue.items)
	batch := queue.items[:n:n]
	queue.items = queue.items[n:]
	return batch
}

// append writes one batch. Its message id is derived from its records, so writing the same batch again
// stores it once.
func (r *attemptRecorder) append(subject string, batch []*queuedAttempt) error {
	first := batch[0].a
	rec := &hookstream.DeliveryRecord{Type: hookstream.RecordAttempts, Tenant: first.Tenant, Webhook: first.Webhook,
		Attempts: make([]*hookstream.Attempt, len(batch))}
	h := sha256.New()
	for i, q := range batch {
		rec.Attempts[i] = q.a
		if t := q.a.Ended(); t.After(rec.Time) {
			rec.Time = t
		}
		h.Write([]byte(q.a.Locator + "/" + string(q.a.Status) + "\n"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	defer cancel()
	if _, err := r.out.AppendJSON(ctx, subject, rec, broker.AppendOptions{MsgID: "atts/" + hex.EncodeToString(h.Sum(nil)[:16])}); err != nil {
		return fmt.Errorf("record %d attempts: %w", len(batch), err)
	}
	return nil
}

// Recorder writes what became of delivery tries to the attempts and diverted streams, and answers whether a
// try has an outcome already. Outcomes go in batches; the other records go alone, each with a message id
// derived from the attempt it concerns, so a task concluded twice writes each once.
type Recorder struct {
	broker   *broker.Broker
	batches  *attemptRecorder
	attempts *projections.Attempts
	diverted *projections.Diverted
	now      func() time.Time
}

// NewRecorder returns a Recorder that reads prior outcomes from the attempts and diverted views.
func NewRecorder(b *broker.Broker, attempts *projections.Attempts, diverted *projections.Diverted) *Recorder {
	return &Recorder{broker: b, batches: newAttemptRecorder(b, recordTimeout, batchLinger), attempts: attempts,
		diverted: diverted, now: time.Now}
}

// Outcome returns the recorded outcome of the task's try, or nil when it has none yet (or the view cannot
// say: the try is made, at least once). A task whose outcome the router read with its batch is not read
// again.
func (r *Recorder) Outcome(t *task) *hookstream.Attempt {
	if t.outcomeRead {
		return t.prior
	}
	prior, _ := r.attempts.Outcome(t.tenant, t.attempt)
	return prior
}

// ReadOutcomes looks up, in one read of the attempts view, whether the tasks' tries were made and recorded
// before (their events routed again after an instance died before acking them). When the read fails, each
// task's outcome is read on its own later.
func (r *Recorder) ReadOutcomes(tasks []*task) error {
	if len(tasks) == 0 {
		return nil
	}
	refs := make([]projections.AttemptRef, len(tasks))
	for i, t := range tasks {
		refs[i] = projections.AttemptRef{Tenant: t.tenant, Locator: t.attempt}
	}
	prior, err := r.attempts.Outcomes(refs)
	if err != nil {
		return fmt.Errorf("read the outcomes of routed tasks: %w", err)
	}
	for i, t := range tasks {
		t.outcomeRead, t.prior = true, prior[i]
	}
	return nil
}

// Delivered reports whether the event was delivered to the webhook already.
func (r *Recorder) Delivered(t *task) (bool, error) {
	return r.attempts.Delivered(t.tenant, t.webhook, t.event)
}

// Attempt records an attempt's outcome; it returns once the outcome is stored. An urgent outcome (one the
// next delivery to a FIFO webhook waits for) goes out without waiting for others to share its write.
func (r *Recorder) Attempt(ctx context.Context, a *hookstream.Attempt, urgent bool) error {
	subject := r.broker.Subjects.Attempts(a.Tenant, a.Webhook)
	if urgent {
		return r.batches.recordNow(ctx, subject, a)
	}
	return r.batches.record(ctx, subject, a)
}

// Pending records the next try as PENDING, alone and with a message id: a task resumed from its recorded
// outcome schedules its retry again, and would otherwise write the same record twice.
func (r *Recorder) Pending(ctx context.Context, pending *hookstream.Attempt) error {
	return r.write(ctx, r.broker.Subjects.Attempts(pending.Tenant, pending.Webhook), &hookstream.DeliveryRecord{
		Type: hookstream.RecordAttempt, Tenant: pending.Tenant, Webhook: pending.Webhook, Event: pending.Event,
		Time: pending.Created, Attempt: pending}, "pend/"+pending.Locator)
}

// Cancelled removes the PENDING record of a retry that will not run.
func (r *Recorder) Cancelled(ctx context.Context, t *task) error {
	if t.try == 0 {
		return nil
	}
	return r.write(ctx, r.broker.Subjects.Attempts(t.tenant, t.webhook), &hookstream.DeliveryRecord{
		Type: hookstream.RecordAttemptCancelled, Tenant: t.tenant, Webhook: t.webhook, Event: t.event,
		Time: r.now().UTC(), Cancelled: t.attempt}, "cancel/"+t.attempt)
}

// Diverted parks the event after the final failure of attempt a.
func (r *Recorder) Diverted(ctx context.Context, d *hookstream.DivertedEvent) error {
	return r.write(ctx, r.broker.Subjects.Diverted(d.Tenant, d.Webhook), &hookstream.DeliveryRecord{
		Type: hookstream.RecordDiverted, Tenant: d.Tenant, Webhook: d.Webhook, Event: d.EventLocator,
		Time: d.FailureTimestamp, Diverted: d}, "div/"+d.RequestLocator)
}

// Resolved removes the diverted record of an event the task has now delivered, if there is one.
func (r *Recorder) Resolved(ctx context.Context, t *task, at time.Time) error {
	if !r.diverted.Exists(t.tenant, t.webhook, t.event) {
		return nil
	}
	return r.write(ctx, r.broker.Subjects.Diverted(t.tenant, t.webhook), &hookstream.DeliveryRecord{
		Type: hookstream.RecordDivertedResolved, Tenant: t.tenant, Webhook: t.webhook, Event: t.event, Time: at},
		"resolved/"+t.attempt)
}

// AlertSentBefore reports whether the alert task's notice was accepted already.
func (r *Recorder) AlertSentBefore(t *task) bool { return r.attempts.AlertSent(t.tenant, t.attempt) }

// AlertSent notes that the alert endpoint accepted the alert task's notice. It goes to the attempts stream,
// whose message ids outlive a restart (the deliveries work queue forgets those of the tasks it has removed),
// so a repeated alert task is skipped.
func (r *Recorder) AlertSent(ctx context.Context, t *task) error {
	return r.write(ctx, r.broker.Subjects.Attempts(t.tenant, t.webhook), &hookstream.DeliveryRecord{
		Type: hookstream.RecordAlertSent, Tenant: t.tenant, Webhook: t.webhook, Event: t.event,
		// Cancelled names it too, for engines that read only that field (a rolling upgrade, a rollback).
		Time: r.now().UTC(), Alert: t.attempt, Cancelled: t.attempt}, "alertsent/"+t.attempt)
}

// write appends one record with a deterministic message id.
func (r *Recorder) write(ctx context.Context, subject string, rec *hookstream.DeliveryRecord, msgID string) error {
	if _, err := r.broker.AppendJSON(ctx, subject, rec, broker.AppendOptions{MsgID: msgID}); err != nil {
		return fmt.Errorf("record %s: %w", rec.Type, err)
	}
	return nil
}
