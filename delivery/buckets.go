package delivery

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hookstream/hookstream"
	"github.com/hookstream/hookstream/broker"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// RetryBuckets says which tasks wait in buckets rather than in a schedule of their own. The embedded
// server keeps every schedule in memory (about 355 bytes of pointer-dense heap each, which the engine's GC
// marks over and over): with a million retries pending a day ahead, fresh deliveries ran at 0.40–0.57 of their
// speed. A task due further ahead than After is a plain message in the bucket of its due time instead, and
// one schedule per bucket promotes the bucket's tasks to schedules of their own Lead before the bucket
// begins (docs/performance.md).
type RetryBuckets struct {
	// After: tasks due further ahead wait in a bucket (default 10 minutes).
	After time.Duration
	// Span is the span of due times one bucket holds (default 1 minute).
	Span time.Duration
	// Lead is how long before its span begins a bucket is promoted (default 3 minutes).
	Lead time.Duration
}

// withDefaults fills in the defaults, and keeps a bucket's promotion after the time its tasks are written:
// a task waits only when due more than After ahead, so its bucket begins at least After−Span ahead.
func (b RetryBuckets) withDefaults() RetryBuckets {
	if b.After <= 0 {
		b.After = 10 * time.Minute
	}
	if b.Span <= 0 {
		b.Span = time.Minute
	}
	if b.Lead <= 0 {
		b.Lead = 3 * time.Minute
	}
	if b.Lead+b.Span >= b.After {
		b.Lead = (b.After - b.Span) / 2
	}
	return b
}

// bucket returns the bucket of due times that holds due, and when it is promoted.
func (b RetryBuckets) bucket(due time.Time) (name string, promote time.Time) {
	n := due.UnixNano() / int64(b.Span)
	return strconv.FormatInt(n, 10), time.Unix(0, n*int64(b.Span)).Add(-b.Lead)
}

// Headers of a task waiting in a bucket.
const (
	headerDue        = "Hookstream-Due"
	headerScheduleID = "Hookstream-Schedule-Id"
)

// ticks remembers the buckets whose promotion this worker has scheduled, until their promotion time: a
// bucket's tick is written once per worker, not once per task (a million retries queued in a few minutes
// fall into a handful of buckets). It is safe to forget: a tick written again keeps its message id and
// subject, so it is scheduled once.
type ticks struct {
	mu      sync.Mutex
	promote map[string]time.Time // by bucket
}

// first records bucket's tick and reports whether it is new to this worker; it forgets the ticks whose
// promotion time has passed.
func (tk *ticks) first(bucket string, promote, now time.Time) bool {
	tk.mu.Lock()
	defer tk.mu.Unlock()
	if _, ok := tk.promote[bucket]; ok {
		return false
	}
	for b, at := range tk.promote {
		if at.Before(now) {
			delete(tk.promote, b)
		}
	}
	if tk.promote == nil {
		tk.promote = map[string]time.Time{}
	}
	tk.promote[bucket] = promote
	return true
}

// forget drops bucket, whose tick could not be written.
func (tk *ticks) forget(bucket string) {
	tk.mu.Lock()
	defer tk.mu.Unlock()
	delete(tk.promote, bucket)
}

// wait puts a task due far ahead in its bucket. The bucket's promotion is scheduled first, so no task waits
// in a bucket that nothing will promote; its message id and subject are the bucket's, so it is scheduled
// once however many tasks the bucket holds.
func (w *Worker) wait(ctx context.Context, t *task, due time.Time, msgID string) error {
	bucket, promote := w.buckets.bucket(due)
	if w.ticks.first(bucket, promote, w.now()) {
		tick := nats.NewMsg(w.broker.Subjects.RetryTick(bucket))
		setSchedule(tick, promote, w.broker.Subjects.RetryPromote(bucket))
		if _, err := w.broker.JS.PublishMsg(ctx, tick, jetstream.WithMsgID("tick/"+bucket)); err != nil {
			w.ticks.forget(bucket)
			return fmt.Errorf("schedule bucket %s: %w", bucket, err)
		}
	}
	msg := t.msg(w.broker.Subjects.RetryWait(bucket, t.tenant, t.webhook))
	msg.Header.Set(headerDue, due.UTC().Format(time.RFC3339Nano))
	msg.Header.Set(headerScheduleID, msgID)
	if _, err := w.broker.JS.PublishMsg(ctx, msg, jetstream.WithMsgID("wait/"+msgID)); err != nil {
		return fmt.Errorf("put in bucket %s: %w", bucket, err)
	}
	return nil
}

// promoteMsg promotes the bucket a tick names, then settles the tick; a failure hands it back for another
// try.
func (w *Worker) promoteMsg(ctx context.Context, m jetstream.Msg, bucket string) {
	if err := w.promote(ctx, bucket, func() { _ = m.InProgress() }); err != nil {
		w.log.Warn("promoting a bucket of retries failed; it will be tried again", "bucket", bucket, "err", err)
		_ = m.NakWithDelay(time.Second)
		return
	}
	_ = m.Ack()
}

// promote gives each task of a bucket a schedule of its own, then removes it from the bucket. A bucket
// promoted twice (its tick redelivered after a crash) schedules nothing twice: a task's schedule keeps its
// message id and subject.
func (w *Worker) promote(ctx context.Context, bucket string, progress func()) error {
	stream, err := w.broker.Stream(ctx, broker.KindRetries)
	if err != nil {
		return err
	}
	n := 0
	var failed error
	err = eachOnSubject(ctx, stream, w.broker.Subjects.RetryWait(bucket, "*", "*"), func(raw *jetstream.RawStreamMsg) bool {
		t, err := parseTask(raw.Header, raw.Data)
		due, dueErr := time.Parse(time.RFC3339Nano, raw.Header.Get(headerDue))
		if err = errors.Join(err, dueErr); err != nil {
			w.log.Warn("dropping a malformed task from its bucket", "bucket", bucket, "seq", raw.Sequence, "err", err)
		} else if err := w.scheduleAt(ctx, t, due, raw.Header.Get(headerScheduleID)); err != nil {
			failed = fmt.Errorf("promote from bucket %s: %w", bucket, err)
			return false
		}
		if err := stream.DeleteMsg(ctx, raw.Sequence); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			failed = fmt.Errorf("remove from bucket %s: %w", bucket, err)
			return false
		}
		if n++; n%256 == 0 {
			progress()
		}
		return true
	})
	if err != nil {
		return fmt.Errorf("read bucket %s: %w", bucket, err)
	}
	return failed
}

// unwait removes a PENDING try's task from its bucket, if it waits in one.
func (w *Worker) unwait(ctx context.Context, stream jetstream.Stream, a *hookstream.Attempt) error {
	if a.Due == nil {
		return nil
	}
	bucket, _ := w.buckets.bucket(*a.Due)
	var failed error
	err := eachOnSubject(ctx, stream, w.broker.Subjects.RetryWait(bucket, a.Tenant, a.Webhook), func(raw *jetstream.RawStreamMsg) bool {
		if raw.Header.Get(headerAttempt) != a.Locator {
			return true
		}
		if err := stream.DeleteMsg(ctx, raw.Sequence); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			failed = fmt.Errorf("remove from bucket %s: %w", bucket, err)
		}
		return false
	})
	if err != nil {
		return fmt.Errorf("read bucket %s: %w", bucket, err)
	}
	return failed
}

// promotedBucket returns the bucket a promotion message names.
func (w *Worker) promotedBucket(subject string) (string, bool) {
	return strings.CutPrefix(subject, w.broker.Subjects.RetryPromote(""))
}
