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
// the previous write to its subject is on its way go out together, as one attempts batch, in the order they
// came. A lone record goes out at once: batching adds no wait, only what queues during a write.
//
// A batch has no per-attempt message id, so the attempts view, not the server, keeps an attempt's first
// outcome when a resumed task records it again.
type attemptRecorder struct {
	out     appender
	timeout time.Duration

	mu     sync.Mutex
	queues map[string][]*queuedAttempt // by subject; a subject is present while its writer runs
}

type queuedAttempt struct {
	a    *hookstream.Attempt
	done chan error
}

func newAttemptRecorder(out appender, timeout time.Duration) *attemptRecorder {
	return &attemptRecorder{out: out, timeout: timeout, queues: map[string][]*queuedAttempt{}}
}

// record writes a to subject (its webhook's attempts subject) and returns once it is stored, or with the
// write's error. A record whose caller gave up may still be written.
func (r *attemptRecorder) record(ctx context.Context, subject string, a *hookstream.Attempt) error {
	q := &queuedAttempt{a: a, done: make(chan error, 1)}
	r.mu.Lock()
	queue, writing := r.queues[subject]
	r.queues[subject] = append(queue, q)
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

// next takes the next batch off subject's queue, or removes the queue when it is empty.
func (r *attemptRecorder) next(subject string) []*queuedAttempt {
	r.mu.Lock()
	defer r.mu.Unlock()
	queue := r.queues[subject]
	if len(queue) == 0 {
		delete(r.queues, subject)
		return nil
	}
	n, size := 0, 0
	for n < len(queue) && n < maxBatchRecords {
		a := queue[n].a
		size += 512 + len(a.URL) + len(a.ResponseBody) + len(a.Error)
		if n > 0 && size > maxBatchBytes {
			break
		}
		n++
	}
	r.queues[subject] = queue[n:]
	return queue[:n:n]
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
