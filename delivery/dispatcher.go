package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hookstream/hookstream/broker"
	"github.com/hookstream/hookstream/delivery/decide"
)

// taskAckWait is the ack wait of the dispatcher's consumers for an attempt timeout: a task may wait in its
// lane behind two rounds of attempts before its own runs. It is also how long the tasks of an instance that
// died wait before another instance takes them.
func taskAckWait(timeout time.Duration) time.Duration { return 3*timeout + 10*time.Second }

// tryTimeout bounds one try of a task from its request to its last record: the request's timeout and the
// time its records may take to write.
func tryTimeout(timeout time.Duration) time.Duration { return timeout + recordTimeout }

// TaskWindow is how long the streams the engine writes must dedupe its message ids, for an attempt timeout.
// A task of an instance that died comes back after the ack wait, may queue behind two rounds of attempts in
// its lane, and then writes its outcome again under the same message ids: the window covers that with 30 s
// to spare, and is never under 2 minutes. After a restart the views have caught up before any task runs, so
// a task finds its recorded outcome there whatever the window.
func TaskWindow(timeout time.Duration) time.Duration {
	return max(2*time.Minute, taskAckWait(timeout)+laneQueue*timeout+30*time.Second)
}

// A lane queues up to laneQueue tasks per slot, so a queued task waits at most two rounds of attempts (well
// within the ack wait). When it is full, a task of a slow lane is parked at once; otherwise the dispatcher
// waits up to laneWaitLimit for room (a burst to endpoints that keep up, even on a saturated machine:
// backpressure, nothing goes back to the server) and parks the task only if none came. A lane is slow when its
// attempts take slowFactor times the instance's average and at least slowFloor: slowness is relative, so a
// machine that is merely busy parks nothing.
const (
	laneQueue     = 2
	laneWaitLimit = 100 * time.Millisecond
	slowFactor    = 4
	slowFloor     = 20 * time.Millisecond
	maxParkDelay  = 5 * time.Minute
)

// errStopping hands a task back because the dispatcher is stopping.
var errStopping = errors.New("delivery is stopping")

// stoppedDelay is how long a task handed to a dispatcher that has stopped waits before it comes again: long
// enough that a router whose dispatcher failed does not spin on its events until delivery restarts.
const stoppedDelay = time.Second

// Dispatcher is the one way into a delivery try. It applies the instance's limits to every try, whatever
// brought it (the router's first tries, retries and resends from the streams, held events being released,
// recover and replay jobs): at most MaxInFlight at once, and at most MaxPerEndpoint to one webhook's
// endpoint, in a lane of its own, so a slow endpoint never takes the other endpoints' slots. It also runs
// the two durable consumers, shared by every instance and webhook, of queued tasks and due retries.
type Dispatcher struct {
	cfg       Config
	tries     trier
	parker    parker
	scheduler *Scheduler
	broker    *broker.Broker
	metrics   *Metrics
	log       *slog.Logger

	global   chan struct{}
	inFlight sync.WaitGroup
	// rateOf returns a webhook's rate limit, 0 for none; limits spaces the starts of rate-limited webhooks.
	rateOf func(tenant, webhook string) int
	limits *rateLimits

	mu      sync.Mutex
	stopped bool            // no lane starts once Run is over
	laneCtx context.Context // ends when Run ends: lanes hand their queued tasks back, waiting callers give up
	lanes   map[string]*lane
	latency int64 // moving average of every lane's attempt time, in nanoseconds
	// paused holds, per lane, until when new tries wait because the endpoint answered 429 or 503 with
	// Retry-After. It is this instance's alone: another instance learns it from its own tries.
	paused map[string]time.Time
}

// trier carries out tries in two phases: begin runs in an endpoint's slot (the checks and the request),
// conclude after it (the records and what follows).
type trier interface {
	begin(ctx context.Context, t *task, fromHold bool) (*concluding, result, error)
	conclude(ctx context.Context, c *concluding) (result, error)
}

// parker sets a task aside until due.
type parker interface {
	Schedule(ctx context.Context, t *task, due time.Time, msgID string) error
}

// lane queues the tasks of one webhook's endpoint and runs at most MaxPerEndpoint of them at once.
type lane struct {
	queue   chan *job
	running int
	waiting int // dispatchers waiting for room: the lane stays while they do
	parked  int // tasks parked by this instance and not yet back
	// latency is a moving average of the time an attempt holds a slot, in nanoseconds.
	latency int64
	created time.Time
	// limited marks a lane whose webhook has had a rate limit: its gate goes with it.
	limited bool
}

// attemptTime is the lane's average attempt time. Until an attempt has completed, the lane's age stands in:
// an endpoint that has not answered once in a while is slow.
func (l *lane) attemptTime() time.Duration {
	if l.latency == 0 {
		return time.Since(l.created)
	}
	return time.Duration(l.latency)
}

// slow reports whether the lane's attempts take much longer than the instance's average (nanoseconds).
func (l *lane) slow(average int64) bool {
	t := l.attemptTime()
	return t >= slowFloor && int64(t) > slowFactor*average
}

// drainTime estimates how long the lane takes to run what is ahead of a task queued behind extra others.
func (l *lane) drainTime(perEndpoint, extra int) time.Duration {
	return time.Duration(int64(len(l.queue)+l.running+extra) * int64(l.attemptTime()) / int64(perEndpoint))
}

// rateDrainTime estimates how long a lane limited to rate starts per second takes to start what is ahead of
// a task queued behind extra others; zero without a limit.
func (l *lane) rateDrainTime(rate, extra int) time.Duration {
	if rate <= 0 {
		return 0
	}
	return time.Duration(len(l.queue)+l.running+extra) * rateInterval(rate)
}

// rateBound reports whether the lane's rate limit keeps it from starting its queue within laneWaitLimit: a
// task that finds it full is parked at once rather than waiting for room.
func (l *lane) rateBound(rate int) bool {
	return l.rateDrainTime(rate, 0) > laneWaitLimit
}

// movingAverage folds sample into an exponential moving average (weight 1/8); zero means no sample yet.
func movingAverage(avg, sample int64) int64 {
	if avg == 0 {
		return sample
	}
	return avg + (sample-avg)/8
}

// job is one task in a lane with what settles it: the message it came in (a retry, a resend, an alert), the
// routed event it is one of (a first try, handed over in-process by the router), or a caller waiting for it
// (Deliver).
type job struct {
	t *task
	// msg is the task's own message; nil for a task handed over in-process.
	msg broker.Msg
	// fromHold marks a task released from the held stream, where a still-suspended webhook leaves it.
	fromHold bool
	// done settles the task: acked when retry is false, handed back to come again after delay otherwise.
	done func(retry bool, delay time.Duration)
	// reply, when set, receives what became of the task instead of done; such a job is never parked.
	reply chan<- tried
	// rate is the webhook's rate limit when the job was dispatched, 0 for none (and for alerts).
	rate int
}

// tried is what became of a task handed to Deliver.
type tried struct {
	res result
	err error
}

// ok settles a job whose task is done.
func (j *job) ok(res result) {
	if j.reply != nil {
		j.reply <- tried{res: res}
		return
	}
	j.done(false, 0)
}

// handBack settles a job whose task must be tried again after delay.
func (j *job) handBack(err error, delay time.Duration) {
	if j.reply != nil {
		j.reply <- tried{err: err}
		return
	}
	j.done(true, delay)
}

// parkID names the parked copy's schedule message, so a task handed over twice is parked once: a message is
// parked once per stream sequence, a first try once per attempt. Worked out only when a task is parked.
func (j *job) parkID() string {
	if j.msg != nil {
		if md, err := j.msg.Metadata(); err == nil {
			return fmt.Sprintf("park/%s/%d", md.Stream, md.Sequence.Stream)
		}
	}
	return "park/" + j.t.attempt
}

// settleMsg acks m, or hands it back to come again after delay (at once when delay is not positive).
func settleMsg(m broker.Msg, retry bool, delay time.Duration) {
	switch {
	case !retry:
		_ = m.Ack()
	case delay <= 0:
		_ = m.Nak()
	default:
		_ = m.NakWithDelay(delay)
	}
}

// Run consumes queued tasks and due retries until ctx ends, then waits for the tries in flight.
func (d *Dispatcher) Run(ctx context.Context) error {
	laneCtx, endLanes := context.WithCancel(ctx)
	d.mu.Lock()
	d.stopped, d.laneCtx = false, laneCtx
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.stopped = true
		d.mu.Unlock()
		endLanes() // also when Run fails early: queued tasks go back rather than outlive the run
		d.inFlight.Wait()
	}()
	ackWait := taskAckWait(d.cfg.Timeout)
	var consumptions []*broker.Consumption
	defer func() { broker.Drain(consumptions...) }() // tasks already pulled reach dispatch, which hands them back at once
	for _, cc := range []broker.ConsumerConfig{
		{Kind: broker.KindDeliveries, Durable: DeliveriesConsumer},
		{Kind: broker.KindRetries, Durable: RetriesConsumer, Filters: []string{d.broker.Subjects.RetryDueAll(), d.broker.Subjects.RetryPromoteAll()}},
	} {
		cc.Description, cc.AckWait, cc.MaxAckPending = "hookstream dispatcher: "+cc.Durable, ackWait, 4*d.cfg.MaxInFlight
		cons, err := d.broker.Consumer(ctx, cc)
		if err != nil {
			return err
		}
		c, err := cons.Consume(d.cfg.MaxInFlight, func(m broker.Msg) { d.dispatchMsg(ctx, m) })
		if err != nil {
			return err
		}
		consumptions = append(consumptions, c)
	}
	<-ctx.Done()
	return nil
}

// dispatchMsg runs in a consumer's goroutine: it turns a task message into a job for its lane.
func (d *Dispatcher) dispatchMsg(ctx context.Context, m broker.Msg) {
	if bucket, ok := d.scheduler.promotedBucket(m.Subject()); ok {
		d.inFlight.Add(1)
		go func() {
			defer d.inFlight.Done()
			d.promote(ctx, m, bucket)
		}()
		return
	}
	t, err := parseTask(m.Headers(), m.Data())
	if err != nil {
		d.log.Warn("dropping a malformed delivery task", "subject", m.Subject(), "err", err)
		_ = m.Term()
		return
	}
	d.dispatch(ctx, &job{t: t, msg: m, done: func(retry bool, delay time.Duration) { settleMsg(m, retry, delay) }})
}

// promote promotes the bucket a tick names, then settles the tick; a failure hands it back for another try.
func (d *Dispatcher) promote(ctx context.Context, m broker.Msg, bucket string) {
	if err := d.scheduler.promote(ctx, bucket, func() { _ = m.InProgress() }, d.log); err != nil {
		d.log.Warn("promoting a bucket of retries failed; it will be tried again", "bucket", bucket, "err", err)
		_ = m.NakWithDelay(time.Second)
		return
	}
	_ = m.Ack()
}

// Deliver carries out one try of t through the instance's limits and returns what became of it. The caller
// waits for room in the lane: the task is never parked. A try that has begun runs to its end even if ctx ends
// meanwhile; one still waiting for room or a slot is handed back with an error.
func (d *Dispatcher) Deliver(ctx context.Context, t *task, fromHold bool) (result, error) {
	reply := make(chan tried, 1)
	d.dispatch(ctx, &job{t: t, fromHold: fromHold, reply: reply})
	r := <-reply
	return r.res, r.err
}

// dispatch queues the job on its endpoint's lane. When the lane is full it waits for room if the endpoint
// keeps up (or the caller waits for the job), and parks the task otherwise: a slow endpoint's backlog leaves
// the consumers' windows (MaxAckPending), so the other endpoints' tasks keep flowing.
func (d *Dispatcher) dispatch(ctx context.Context, j *job) {
	key := j.t.tenant + "/" + j.t.webhook
	d.mu.Lock()
	if d.stopped {
		d.mu.Unlock()
		j.handBack(errStopping, stoppedDelay)
		return
	}
	// Counted while it dispatches, so Run's end waits for a caller still waiting for room, not only for the
	// lanes: no lane starts after it.
	d.inFlight.Add(1)
	defer d.inFlight.Done()
	var ended <-chan struct{}
	if d.laneCtx != nil {
		ended = d.laneCtx.Done()
	}
	l, ok := d.lanes[key]
	if !ok {
		l = &lane{queue: make(chan *job, laneQueue*d.cfg.MaxPerEndpoint), created: time.Now()}
		d.lanes[key] = l
	}
	if j.t.parked && l.parked > 0 {
		l.parked--
	}
	if j.t.kind == kindEvent && d.rateOf != nil {
		j.rate = d.rateOf(j.t.tenant, j.t.webhook)
	}
	rate := j.rate
	if rate > 0 {
		l.limited = true
	}
	// A rate-limited lane takes no more than it starts within laneWaitLimit: what it queued would keep its
	// event (and the router's ack floor, which held releases follow) waiting on the limit.
	bound := l.rateBound(rate)
	queued := false
	if j.reply != nil || !bound {
		select {
		case l.queue <- j:
			queued = true
		default:
		}
	}
	if !queued && (j.reply != nil || !l.slow(d.latency) && !bound) {
		l.waiting++
		d.mu.Unlock()
		var limit <-chan time.Time
		if j.reply == nil {
			timer := time.NewTimer(laneWaitLimit)
			defer timer.Stop()
			limit = timer.C
		}
		select {
		case l.queue <- j:
			queued = true
		case <-limit:
		case <-ctx.Done():
		case <-ended:
		}
		d.mu.Lock()
		l.waiting--
	}
	if !queued && j.reply != nil {
		d.mu.Unlock()
		err := ctx.Err()
		if err == nil {
			err = errStopping
		}
		j.handBack(fmt.Errorf("wait for a delivery slot: %w", err), 0)
		return
	}
	if !queued {
		l.parked++
		delay := max(l.drainTime(d.cfg.MaxPerEndpoint, l.parked), l.rateDrainTime(rate, l.parked))
		delay = min(max(delay, laneWaitLimit), maxParkDelay)
		d.mu.Unlock()
		d.park(ctx, j, delay)
		return
	}
	if l.running < d.cfg.MaxPerEndpoint {
		l.running++
		d.inFlight.Add(1)
		laneCtx := d.laneCtx
		if laneCtx == nil {
			laneCtx = ctx
		}
		go d.runLane(laneCtx, key, l)
	}
	d.mu.Unlock()
}

// park takes a task of a lane that cannot keep up out of the consumers' windows: it is scheduled again,
// durably, in the retries stream for when the lane should have room, then settled. The schedule's subject is
// the attempt's, so cancelling a pending retry cancels its parked task too; its message id is the job's park
// id, so a task handed over twice is parked once.
func (d *Dispatcher) park(ctx context.Context, j *job, delay time.Duration) {
	if ctx.Err() != nil {
		j.handBack(errStopping, 0) // stopping: the task goes back at once
		return
	}
	t := *j.t
	t.parked = true
	if err := d.parker.Schedule(ctx, &t, time.Now().Add(delay), j.parkID()); err != nil {
		d.log.Warn("park a delivery task", "webhook", t.webhook, "err", err)
		j.handBack(err, delay)
		return
	}
	d.metrics.Deliveries.WithLabelValues("parked").Inc()
	j.ok(resultDone)
}

// runLane carries out a lane's tasks until its queue is empty. When the engine stops, queued tasks go back
// to JetStream at once so another instance (or the next start) takes them without waiting for AckWait.
func (d *Dispatcher) runLane(ctx context.Context, key string, l *lane) {
	defer d.inFlight.Done()
	var took int64 // the previous attempt's time, recorded under the lock the next turn takes anyway
	for {
		d.mu.Lock()
		if took > 0 {
			l.latency = movingAverage(l.latency, took)
			d.latency = movingAverage(d.latency, took)
		}
		var j *job
		select {
		case j = <-l.queue:
		default:
			l.running--
			if l.running == 0 && len(l.queue) == 0 && l.waiting == 0 {
				delete(d.lanes, key)
				if l.limited {
					d.limits.forget(key)
				}
			}
			d.mu.Unlock()
			return
		}
		backlog := len(l.queue) + 1
		d.mu.Unlock()
		if ctx.Err() != nil {
			j.handBack(errStopping, 0)
			continue
		}
		if d.waitOutPause(ctx, key, j) {
			continue
		}
		if err := d.acquire(ctx, key, j, backlog); err != nil {
			delay := stoppedDelay // the shared rate key could not be read: the broker is away
			if errors.Is(err, errStopping) {
				delay = 0
			}
			j.handBack(err, delay)
			continue
		}
		started := time.Now()
		d.handle(j)
		<-d.global
		took = int64(time.Since(started))
	}
}

// acquire waits for a global slot and, for a rate-limited webhook, for the task's start under the limit.
// A start the task missed by more than rateSlack (a slot it waited for, a slow reservation) is given up for
// the next: late starts would bunch up.
func (d *Dispatcher) acquire(ctx context.Context, key string, j *job, backlog int) error {
	rate := j.rate
	waited := false
	for {
		var start time.Time
		if rate > 0 {
			var err error
			if start, err = d.limits.next(ctx, key, rate, backlog); err != nil {
				return err
			}
			if wait := time.Until(start); wait > 0 {
				if !waited {
					waited = true
					d.metrics.RateLimited.Inc()
				}
				d.metrics.RateWaiting.Inc()
				ok := pause(ctx, wait)
				d.metrics.RateWaiting.Dec()
				if !ok {
					return errStopping
				}
			}
		}
		select {
		case d.global <- struct{}{}:
		case <-ctx.Done():
			return errStopping
		}
		if rate == 0 || time.Since(start) <= rateSlack {
			return nil
		}
		<-d.global
	}
}

// handle carries out the first phase of one try in its lane (the checks and the request) and hands the
// second phase (recording, retry, final failure, settling) to its own goroutine, so the endpoint's slot is
// free as soon as the endpoint has answered. Both run to completion even while the engine stops: an attempt
// that was sent is recorded.
func (d *Dispatcher) handle(j *job) {
	ctx, cancel := context.WithTimeout(context.Background(), tryTimeout(d.cfg.Timeout))
	c, res, err := d.tries.begin(ctx, j.t, j.fromHold)
	if c == nil || err != nil {
		cancel()
		d.finish(j, res, err)
		return
	}
	if c.a != nil {
		if until, ok := decide.PauseUntil(decision(c.t, c.a)); ok {
			d.pause(j.t.tenant+"/"+j.t.webhook, until)
		}
	}
	d.inFlight.Add(1)
	go func() {
		defer d.inFlight.Done()
		defer cancel()
		res, err := d.tries.conclude(ctx, c)
		d.finish(j, res, err)
	}()
}

// pause makes new tries in the lane wait until the given time (a later pause wins).
func (d *Dispatcher) pause(key string, until time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if until.After(d.paused[key]) && until.After(time.Now()) {
		if d.paused == nil {
			d.paused = map[string]time.Time{}
		}
		d.paused[key] = until
	}
}

// pausedUntil returns until when the lane's tries wait, zero when they do not.
func (d *Dispatcher) pausedUntil(key string) time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	until, ok := d.paused[key]
	if ok && !until.After(time.Now()) {
		delete(d.paused, key)
		return time.Time{}
	}
	return until
}

// waitOutPause keeps a job of a paused lane from its try: a job nobody waits for is parked until the pause
// ends (true: the job is settled), a job its caller waits for waits here. Alerts go to another endpoint and
// never wait.
func (d *Dispatcher) waitOutPause(ctx context.Context, key string, j *job) bool {
	if j.t.kind != kindEvent {
		return false
	}
	for {
		until := d.pausedUntil(key)
		if until.IsZero() {
			return false
		}
		if j.reply == nil {
			d.mu.Lock()
			if l, ok := d.lanes[key]; ok {
				l.parked++ // counted back when the task returns, as for a task parked for room
			}
			d.mu.Unlock()
			d.metrics.Deliveries.WithLabelValues("paused").Inc()
			d.park(ctx, j, time.Until(until))
			return true
		}
		timer := time.NewTimer(time.Until(until))
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			j.handBack(errStopping, 0)
			return true
		}
	}
}

// finish settles a job, or hands it back for another try when recording its outcome failed.
func (d *Dispatcher) finish(j *job, res result, err error) {
	if err != nil {
		if j.reply == nil {
			d.log.Warn("delivery task failed; it will be redelivered", "webhook", j.t.webhook, "event", j.t.event, "err", err)
		}
		j.handBack(err, time.Second)
		return
	}
	j.ok(res)
}
