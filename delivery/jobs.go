package delivery

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hookstream/hookstream"
	"github.com/hookstream/hookstream/broker"
	"github.com/hookstream/hookstream/projections"
)

// Job kinds.
const (
	// JobRecover sends again every event in the window whose latest attempt to the webhook failed.
	JobRecover = "recover"
	// JobReplayMissing sends every event in the window that the webhook subscribes to and never attempted.
	JobReplayMissing = "replay_missing"
)

// Job is a durable delivery job over a time window of one webhook's events. It is a message in the jobs
// stream until it is done: a restart midway runs it again, and its per-event checks (latest attempt failed,
// never attempted) make the second run send only what the first did not.
type Job struct {
	ID      string    `json:"id"`
	Kind    string    `json:"kind"`
	Tenant  string    `json:"tenant"`
	Webhook string    `json:"webhook"`
	Begin   time.Time `json:"begin,omitzero"`
	End     time.Time `json:"end,omitzero"`
	Actor   string    `json:"actor"`
	// UpTo is the events stream's last sequence when the job was submitted. A replay considers no later
	// event: those are the live path's to deliver.
	UpTo uint64 `json:"upTo,omitempty"`
}

// jobConcurrency bounds the jobs running at once; each runs its events one at a time, in order.
const jobConcurrency = 4

// jobAckWait is how long a job taken by an instance that stopped or died waits before it runs again. A
// running job tells the server it is alive three times as often; a short wait matters because a stopping
// instance's nak may not outlive the server it was sent to.
const jobAckWait = 10 * time.Second

// Jobs runs delivery jobs.
type Jobs struct {
	broker    *broker.Broker
	store     *projections.Store
	events    *projections.Events
	attempts  *projections.Attempts
	webhooks  *projections.Webhooks
	deliver   deliverFunc
	scheduler *Scheduler
	recorder  *Recorder
	log       *slog.Logger

	mu    sync.Mutex
	locks map[string]*sync.Mutex // per webhook: its jobs run one at a time
}

// lock serializes the jobs of one webhook: two overlapping jobs would both see an event as still to send.
func (j *Jobs) lock(tenant, webhook string) func() {
	j.mu.Lock()
	l, ok := j.locks[tenant+"/"+webhook]
	if !ok {
		l = &sync.Mutex{}
		j.locks[tenant+"/"+webhook] = l
	}
	j.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// catchUp waits until the events and attempts views have applied everything appended so far, so the job sees
// every event ingested before it was submitted and decides eligibility on current attempts.
func (j *Jobs) catchUp(ctx context.Context) error {
	for _, v := range []struct{ kind, view string }{
		{broker.KindEvents, projections.EventsView},
		{broker.KindAttempts, projections.AttemptsView},
	} {
		last, err := j.broker.LastSeq(ctx, v.kind)
		if err != nil {
			return err
		}
		if err := j.store.WaitFor(ctx, v.view, last); err != nil {
			return fmt.Errorf("%s view: %w", v.view, err)
		}
	}
	return nil
}

// Submit stores a job. Every request is a job of its own; repeating one is harmless because jobs of a
// webhook run one at a time and each checks, event by event, what is still to send.
func (j *Jobs) Submit(ctx context.Context, job *Job) error {
	job.ID = hookstream.NewLocator(time.Now())
	upTo, err := j.broker.LastSeq(ctx, broker.KindEvents)
	if err != nil {
		return err
	}
	job.UpTo = upTo
	_, err = j.broker.AppendJSON(ctx, j.broker.Subjects.Job(job.Tenant, job.Webhook), job, broker.AppendOptions{MsgID: "job/" + job.ID})
	return err
}

// Run carries out jobs until ctx ends.
func (j *Jobs) Run(ctx context.Context) error {
	cons, err := j.broker.Consumer(ctx, broker.ConsumerConfig{
		Kind:          broker.KindJobs,
		Durable:       JobsConsumer,
		Description:   "hookstream delivery jobs",
		AckWait:       jobAckWait,
		MaxAckPending: jobConcurrency,
	})
	if err != nil {
		return err
	}
	var (
		running sync.WaitGroup
		mu      sync.Mutex
		stopped bool
	)
	cc, err := cons.Consume(jobConcurrency, func(m broker.Msg) {
		// The consumer may hand over one more job while stopping: it goes back at once.
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			_ = m.Nak()
			return
		}
		running.Go(func() { j.run(ctx, m) })
	})
	if err != nil {
		return fmt.Errorf("jobs: %w", err)
	}
	<-ctx.Done()
	cc.Stop()
	mu.Lock()
	stopped = true
	mu.Unlock()
	running.Wait()
	return nil
}

func (j *Jobs) run(ctx context.Context, m broker.Msg) {
	var job Job
	if err := json.Unmarshal(m.Data(), &job); err != nil {
		j.log.Warn("dropping a malformed job", "err", err)
		_ = m.Term()
		return
	}
	alive := make(chan struct{})
	defer close(alive)
	go func() {
		tick := time.NewTicker(jobAckWait / 3)
		defer tick.Stop()
		for {
			select {
			case <-alive:
				return
			case <-tick.C:
				_ = m.InProgress()
			}
		}
	}()
	if err := j.runJob(ctx, &job); err != nil {
		if ctx.Err() != nil {
			_ = m.Nak() // stopping: the next start runs it again
			return
		}
		j.log.Warn("job failed; it will run again", "job", job.ID, "kind", job.Kind, "err", err)
		_ = m.NakWithDelay(5 * time.Second)
		return
	}
	_ = m.Ack()
}

// runJob walks the window's events in ingestion order and sends the eligible ones one at a time.
func (j *Jobs) runJob(ctx context.Context, job *Job) error {
	defer j.lock(job.Tenant, job.Webhook)()
	var queued map[string]bool
	if job.Kind == JobReplayMissing {
		var err error
		if queued, err = j.queuedEvents(ctx, job); err != nil {
			return err
		}
	}
	filter := projections.EventFilter{Start: job.Begin, End: job.End}
	accepted := filters{}
	var after uint64
	for ctx.Err() == nil {
		if err := j.catchUp(ctx); err != nil {
			return err
		}
		events, last, err := j.events.List(job.Tenant, filter, after, 256)
		if err != nil {
			return err
		}
		for _, e := range events {
			seq, _ := hookstream.EventSeq(e.Locator)
			if job.UpTo > 0 && seq > job.UpTo {
				return nil // ingested after the job: the live path has it
			}
			if queued[e.Locator] {
				continue
			}
			wh := j.webhooks.Current(job.Tenant, job.Webhook)
			if wh == nil {
				return nil // the webhook is gone: nothing left to send
			}
			if !accepted.accepts(wh, filterEvent(e), j.log) {
				continue // the webhook's filter rejects it: the live path never sent it either
			}
			due, err := j.eligible(ctx, job, wh, e)
			if err != nil {
				return err
			}
			if !due {
				continue
			}
			body, err := json.Marshal(e)
			if err != nil {
				return fmt.Errorf("encode event: %w", err)
			}
			t := &task{kind: kindEvent, tenant: job.Tenant, webhook: job.Webhook, event: e.Locator, eventSeq: seq,
				attempt: hookstream.DerivedLocator(time.Now(), job.ID, e.Locator), body: body, trace: e.Trace}
			// A try that has begun runs to its end even if the engine stops; the job stops between events.
			if _, err := j.deliver(ctx, t, false); err != nil {
				return err
			}
		}
		if len(events) == 0 || last == after {
			return nil
		}
		after = last
	}
	return ctx.Err()
}

// queuedEvents returns the events of the job's window that the live path still has to try for the webhook:
// resent or replayed but not yet tried (in the deliveries stream), parked, or held. Called before catching
// the attempts view up: a task that has left its stream had its attempt recorded first, so the view then
// shows that attempt.
func (j *Jobs) queuedEvents(ctx context.Context, job *Job) (map[string]bool, error) {
	// Wait until the router has acked every event up to the job's: each first try is then done, held or
	// parked, none still in a lane.
	for {
		floor, err := routedUpTo(ctx, j.broker)
		if err != nil {
			return nil, err
		}
		if floor >= job.UpTo {
			break
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	queued := map[string]bool{}
	for _, q := range []struct{ kind, subject string }{
		{broker.KindDeliveries, j.broker.Subjects.Delivery(job.Tenant, job.Webhook)},
		{broker.KindHeld, j.broker.Subjects.Held(job.Tenant, job.Webhook)},
		// Parked by a lane that could not keep up: scheduled, or due and back in line.
		{broker.KindRetries, j.broker.Subjects.RetrySchedule(job.Tenant, job.Webhook, "*")},
		{broker.KindRetries, j.broker.Subjects.RetryWait("*", job.Tenant, job.Webhook)},
		{broker.KindRetries, j.broker.Subjects.RetryDue(job.Tenant, job.Webhook)},
	} {
		err := j.broker.EachOnSubject(ctx, q.kind, q.subject, func(m broker.RawMsg) bool {
			if m.Header.Get(headerKind) == kindEvent {
				queued[m.Header.Get(headerEvent)] = true
			}
			return true
		})
		if err != nil {
			return nil, fmt.Errorf("read queued tasks: %w", err)
		}
	}
	return queued, nil
}

func (j *Jobs) eligible(ctx context.Context, job *Job, wh *hookstream.Webhook, e *hookstream.Event) (bool, error) {
	switch job.Kind {
	case JobRecover:
		latest, err := j.attempts.LatestOutcome(job.Tenant, job.Webhook, e.Locator)
		if err != nil || latest == nil || latest.Status != hookstream.AttemptFailed {
			return false, err
		}
		// Sent again now: the retry that was waiting, if any, will not run.
		pending, err := j.attempts.Pending(job.Tenant, job.Webhook, e.Locator)
		if err != nil {
			return false, err
		}
		for _, p := range pending {
			if err := j.cancelRetry(ctx, p); err != nil {
				return false, err
			}
		}
		return true, nil
	case JobReplayMissing:
		if !wh.Receives(e.Type) {
			return false, nil
		}
		attempted, err := j.attempts.EverAttempted(job.Tenant, job.Webhook, e.Locator)
		return !attempted, err
	default:
		return false, fmt.Errorf("unknown job kind %q", job.Kind)
	}
}

// cancelRetry removes a pending retry: its task never runs, and its PENDING record is cancelled.
func (j *Jobs) cancelRetry(ctx context.Context, a *hookstream.Attempt) error {
	if err := j.scheduler.Cancel(ctx, a); err != nil {
		return err
	}
	return j.recorder.Cancelled(ctx, &task{tenant: a.Tenant, webhook: a.Webhook, event: a.Event, try: a.Try, attempt: a.Locator})
}
