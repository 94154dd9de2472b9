package delivery

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/hookstream/hookstream"
	"github.com/hookstream/hookstream/broker"
)

// Bounds of one attempts batch. A record is at most ~6 KB (a 4 KB response body, the URL, the error), so a
// full batch stays well under NATS's default 1 MB payload limit.
const (
	maxBatchRecords = 64
	maxBatchBytes   = 256 << 10
)

// batchLinger is how long a write waits for more records of its subject before it goes out, unless its batch
// fills first. A record costs ~45 µs of CPU beyond its attempts (the publish, the stream's write, the view's
// delivery and transaction share); in a 100,000-delivery burst batches carried ~4 attempts without the wait,
// ~17 with 2 ms and ~29 with 5 ms. The wait falls after the endpoint answered, so an event's publish → receipt
// latency does not see it: the outcome reaches the stream, and the task its ack, up to this much later.
const batchLinger = 5 * time.Millisecond

// recordTimeout bounds one write of an attempts batch: the 30 s a task is given beyond its request's timeout.
// The write does not take a caller's context, since it carries the records of several callers.
const recordTimeout = 30 * time.Second

// appender appends a JSON value to a stream subject.
type appender interface {
	AppendJSON(ctx context.Context, subject string, v any, o broker.AppendOptions) (uint64, error)
}

// attemptRecorder writes attempts' outcomes in batches. A message per record cost a stream write, a message
// id held for the duplicate window, a publish ack and a delivery to the view's consumer: about 30 % of a
// burst's CPU and half of its peak memory (docs/performance.md). The records of one webhook concluded while
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
}

// size is roughly what the record adds to a batch: its variable fields, and 512 bytes for the rest.
func (q *queuedAttempt) size() int {
	return 512 + len(q.a.URL) + len(q.a.ResponseBody) + len(q.a.Error)
}

func newAttemptRecorder(out appender, timeout, linger time.Duration) *attemptRecorder {
	return &attemptRecorder{out: out, timeout: timeout, linger: linger, queues: map[string]*subjectQueue{}}
}

// record writes a to subject (its webhook's attempts subject) and returns once it is stored, or with the
// write's error. A record whose caller gave up may still be written.
func (r *attemptRecorder) record(ctx context.Context, subject string, a *hookstream.Attempt) error {
	q := &queuedAttempt{a: a, done: make(chan error, 1)}
	r.mu.Lock()
	queue, writing := r.queues[subject]
	if !writing {
		queue = &subjectQueue{}
		r.queues[subject] = queue
	}
	queue.items = append(queue.items, q)
	if queue.full != nil && fullBatch(queue.items) {
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
	if len(queue.items) == 0 || fullBatch(queue.items) {
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
		h.Write([]byte(q.a.Locator + "/" + q.a.Status + "\n"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	defer cancel()
	if _, err := r.out.AppendJSON(ctx, subject, rec, broker.AppendOptions{MsgID: "atts/" + hex.EncodeToString(h.Sum(nil)[:16])}); err != nil {
		return fmt.Errorf("record %d attempts: %w", len(batch), err)
	}
	return nil
}
