package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/hookstream/hookstream"
	"github.com/hookstream/hookstream/broker"
	"github.com/nats-io/nats.go"
)

// Scheduler puts tasks where they wait, durably: retries and parked tasks in the retries stream (a schedule
// of their own, or a bucket when due far ahead), tasks of suspended webhooks in the held stream, and resends
// and alerts in the deliveries stream. Every write carries a message id derived from what it stands for, so a
// task handled twice is written once.
type Scheduler struct {
	broker  *broker.Broker
	buckets RetryBuckets
	ticks   ticks
	now     func() time.Time
	held    chan struct{}
}

// NewScheduler returns a Scheduler.
func NewScheduler(b *broker.Broker, buckets RetryBuckets) *Scheduler {
	return &Scheduler{broker: b, buckets: buckets.bounded(), now: time.Now, held: make(chan struct{}, 1)}
}

// Schedule puts a task in the retries stream to come back through the retries consumer at due: in the bucket
// of its due time when due far ahead (see RetryBuckets), else in a schedule of its own.
func (s *Scheduler) Schedule(ctx context.Context, t *task, due time.Time, msgID string) error {
	if due.Sub(s.now()) > s.buckets.After {
		return s.wait(ctx, t, due, msgID)
	}
	return s.scheduleAt(ctx, t, due, msgID)
}

// scheduleAt gives a task a schedule of its own, due at due. The schedule's subject is the attempt's:
// purging it (Cancel) cancels the task, whether a retry or parked.
func (s *Scheduler) scheduleAt(ctx context.Context, t *task, due time.Time, msgID string) error {
	msg := t.msg(s.broker.Subjects.RetrySchedule(t.tenant, t.webhook, t.attempt))
	broker.SetSchedule(msg, due, s.broker.Subjects.RetryDue(t.tenant, t.webhook))
	return s.broker.Publish(ctx, msg, msgID)
}

// wait puts a task due far ahead in its bucket. The bucket's promotion is scheduled first, so no task waits
// in a bucket that nothing will promote; its message id and subject are the bucket's, so it is scheduled
// once however many tasks the bucket holds.
func (s *Scheduler) wait(ctx context.Context, t *task, due time.Time, msgID string) error {
	bucket, promote := s.buckets.bucket(due)
	if s.ticks.first(bucket, promote, s.now()) {
		tick := nats.NewMsg(s.broker.Subjects.RetryTick(bucket))
		broker.SetSchedule(tick, promote, s.broker.Subjects.RetryPromote(bucket))
		if err := s.broker.Publish(ctx, tick, "tick/"+bucket); err != nil {
			s.ticks.forget(bucket)
			return fmt.Errorf("schedule bucket %s: %w", bucket, err)
		}
	}
	msg := t.msg(s.broker.Subjects.RetryWait(bucket, t.tenant, t.webhook))
	msg.Header.Set(headerDue, due.UTC().Format(time.RFC3339Nano))
	msg.Header.Set(headerScheduleID, msgID)
	if err := s.broker.Publish(ctx, msg, "wait/"+msgID); err != nil {
		return fmt.Errorf("put in bucket %s: %w", bucket, err)
	}
	return nil
}

// promotedBucket returns the bucket a promotion message names.
func (s *Scheduler) promotedBucket(subject string) (string, bool) {
	return strings.CutPrefix(subject, s.broker.Subjects.RetryPromote(""))
}

// promote gives each task of a bucket a schedule of its own, then removes it from the bucket. A bucket
// promoted twice (its tick redelivered after a crash) schedules nothing twice: a task's schedule keeps its
// message id and subject.
func (s *Scheduler) promote(ctx context.Context, bucket string, progress func(), log *slog.Logger) error {
	n := 0
	var failed error
	err := s.broker.EachOnSubject(ctx, broker.KindRetries, s.broker.Subjects.RetryWait(bucket, "*", "*"), func(raw broker.RawMsg) bool {
		t, err := parseTask(raw.Header, raw.Data)
		due, dueErr := time.Parse(time.RFC3339Nano, raw.Header.Get(headerDue))
		if err = errors.Join(err, dueErr); err != nil {
			log.Warn("dropping a malformed task from its bucket", "bucket", bucket, "seq", raw.Seq, "err", err)
		} else if err := s.scheduleAt(ctx, t, due, raw.Header.Get(headerScheduleID)); err != nil {
			failed = fmt.Errorf("promote from bucket %s: %w", bucket, err)
			return false
		}
		if err := s.broker.DeleteMsg(ctx, broker.KindRetries, raw.Seq); err != nil {
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

// Cancel removes a pending retry's task: it leaves its bucket and its schedule is purged, so it never fires.
// (A bucket being promoted at that very moment may still schedule it.)
func (s *Scheduler) Cancel(ctx context.Context, a *hookstream.Attempt) error {
	if err := s.unwait(ctx, a); err != nil {
		return err
	}
	return s.broker.PurgeSubject(ctx, broker.KindRetries, s.broker.Subjects.RetrySchedule(a.Tenant, a.Webhook, a.Locator))
}

// unwait removes a PENDING try's task from its bucket, if it waits in one.
func (s *Scheduler) unwait(ctx context.Context, a *hookstream.Attempt) error {
	if a.Due == nil {
		return nil
	}
	bucket, _ := s.buckets.bucket(*a.Due)
	var failed error
	err := s.broker.EachOnSubject(ctx, broker.KindRetries, s.broker.Subjects.RetryWait(bucket, a.Tenant, a.Webhook), func(raw broker.RawMsg) bool {
		if raw.Header.Get(headerAttempt) != a.Locator {
			return true
		}
		if err := s.broker.DeleteMsg(ctx, broker.KindRetries, raw.Seq); err != nil {
			failed = fmt.Errorf("remove from bucket %s: %w", bucket, err)
		}
		return false
	})
	if err != nil {
		return fmt.Errorf("read bucket %s: %w", bucket, err)
	}
	return failed
}

// Hold appends a task to its webhook's held events, and wakes the release loop.
func (s *Scheduler) Hold(ctx context.Context, t *task) error {
	if err := s.broker.Publish(ctx, t.msg(s.broker.Subjects.Held(t.tenant, t.webhook)), "hold/"+t.attempt); err != nil {
		return fmt.Errorf("hold task: %w", err)
	}
	select {
	case s.held <- struct{}{}:
	default:
	}
	return nil
}

// Held signals that a task was held since the last receive.
func (s *Scheduler) Held() <-chan struct{} { return s.held }

// enqueue puts a task in the deliveries stream, where the deliveries consumer takes it.
func (s *Scheduler) enqueue(ctx context.Context, t *task, msgID string) error {
	if err := s.broker.Publish(ctx, t.msg(s.broker.Subjects.Delivery(t.tenant, t.webhook)), msgID); err != nil {
		return fmt.Errorf("enqueue delivery: %w", err)
	}
	return nil
}

// Enqueue starts a first try of an event to a webhook outside the router (a resend, an example), as the new
// attempt attempt. msgID dedupes it: a caller that derives msgID from what it resends makes a repeated
// request one task.
func (s *Scheduler) Enqueue(ctx context.Context, e *hookstream.Event, eventSeq uint64, webhook, attempt, msgID string) error {
	body, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	return s.enqueue(ctx, &task{kind: kindEvent, tenant: e.Tenant, webhook: webhook, event: e.Locator, eventSeq: eventSeq,
		attempt: attempt, body: body, trace: e.Trace}, msgID)
}
