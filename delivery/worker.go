package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hookstream/hookstream"
	"github.com/hookstream/hookstream/broker"
	"github.com/hookstream/hookstream/projections"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Suspender suspends a webhook on the engine's behalf after a final failure.
type Suspender interface {
	Suspend(ctx context.Context, tenant, webhook, reason string) (*hookstream.Webhook, error)
}

// WorkerConfig bounds the delivery work.
type WorkerConfig struct {
	// Timeout is how long one attempt may take.
	Timeout time.Duration
	// AllowPrivate lets deliveries reach loopback, private and link-local addresses.
	AllowPrivate bool
	// MaxInFlight bounds the attempts in flight on this instance.
	MaxInFlight int
	// MaxPerEndpoint bounds the attempts in flight to one webhook's endpoint, so a slow endpoint cannot take
	// every slot.
	MaxPerEndpoint int
	// UserAgent is sent with every delivery.
	UserAgent string
	// Buckets says which tasks wait in buckets rather than in a schedule of their own (zero: the defaults).
	Buckets RetryBuckets
}

// Worker carries out delivery tasks: it POSTs, records the attempt, and schedules the retry or handles the
// final failure. One durable consumer on the deliveries stream and one on due retries serve every webhook.
type Worker struct {
	cfg       WorkerConfig
	broker    *broker.Broker
	webhooks  *projections.Webhooks
	attempts  *projections.Attempts
	diverted  *projections.Diverted
	suspender Suspender
	holds     *Holds
	metrics   *Metrics
	log       *slog.Logger
	now       func() time.Time

	secure, insecure *http.Client
	global           chan struct{}
	inFlight         sync.WaitGroup

	mu      sync.Mutex
	stopped bool // no lane starts once Run is over
	lanes   map[string]*lane
	latency int64 // moving average of every lane's attempt time, in nanoseconds
	signers map[string]*Signer
	records *attemptRecorder
	buckets RetryBuckets
	ticks   ticks
}

// NewWorker returns a Worker.
func NewWorker(cfg WorkerConfig, b *broker.Broker, webhooks *projections.Webhooks, attempts *projections.Attempts,
	diverted *projections.Diverted, suspender Suspender, holds *Holds, m *Metrics, log *slog.Logger) *Worker {
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 256
	}
	if cfg.MaxPerEndpoint <= 0 {
		cfg.MaxPerEndpoint = 16
	}
	client := func(insecure bool) *http.Client {
		return NewHTTPClient(ClientOptions{Timeout: cfg.Timeout, AllowPrivate: cfg.AllowPrivate, InsecureSkipVerify: insecure,
			MaxConnsPerHost: cfg.MaxPerEndpoint, MaxIdleConnsPerHost: cfg.MaxPerEndpoint})
	}
	return &Worker{
		cfg: cfg, broker: b, webhooks: webhooks, attempts: attempts, diverted: diverted, suspender: suspender, holds: holds, metrics: m, log: log, now: time.Now,
		secure: client(false), insecure: client(true),
		global:  make(chan struct{}, cfg.MaxInFlight),
		records: newAttemptRecorder(b, recordTimeout, batchLinger),
		buckets: cfg.Buckets.withDefaults(),
		lanes:   map[string]*lane{},
		signers: map[string]*Signer{},
	}
}

// Run consumes delivery tasks and due retries until ctx ends, then waits for the attempts in flight.
func (w *Worker) Run(ctx context.Context) error {
	defer func() {
		w.mu.Lock()
		w.stopped = true
		w.mu.Unlock()
		w.inFlight.Wait()
	}()
	ackWait := taskAckWait(w.cfg.Timeout)
	deliveries, err := w.consumer(ctx, broker.KindDeliveries, "deliveries", ackWait)
	if err != nil {
		return err
	}
	retries, err := w.consumer(ctx, broker.KindRetries, "retries", ackWait, w.broker.Subjects.RetryDueAll(), w.broker.Subjects.RetryPromoteAll())
	if err != nil {
		return err
	}
	var ccs []jetstream.ConsumeContext
	for _, c := range []jetstream.Consumer{deliveries, retries} {
		// Short pulls: a pull the server leaves unserved once the window has been full (seen as 30 s stalls with
		// the default expiry) is replaced within seconds.
		cc, err := c.Consume(func(m jetstream.Msg) { w.dispatchMsg(ctx, m) }, jetstream.PullMaxMessages(w.cfg.MaxInFlight),
			jetstream.PullExpiry(2*time.Second),
			jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) { w.log.Debug("worker consumer", "err", err) }))
		if err != nil {
			return fmt.Errorf("consume: %w", err)
		}
		ccs = append(ccs, cc)
	}
	<-ctx.Done()
	// Tasks already pulled reach dispatch, which hands them back at once.
	drain(ccs...)
	return nil
}

// taskAckWait is the worker's consumers' ack wait for an attempt timeout: a task may wait in its lane behind
// two rounds of attempts before its own runs. It is also how long the tasks of an instance that died wait
// before another instance takes them.
func taskAckWait(timeout time.Duration) time.Duration { return 3*timeout + 10*time.Second }

// TaskWindow is how long the streams the engine writes must dedupe its message ids, for an attempt timeout.
// A task of an instance that died comes back after the ack wait, may queue behind two rounds of attempts in
// its lane, and then writes its outcome again under the same message ids: the window covers that with 30 s
// to spare, and is never under 2 minutes. After a restart the views have caught up before any task runs, so
// a task finds its recorded outcome there whatever the window.
func TaskWindow(timeout time.Duration) time.Duration {
	return max(2*time.Minute, taskAckWait(timeout)+laneQueue*timeout+30*time.Second)
}

// drain stops consuming without dropping what was already pulled: Drain hands it to the handler (which, while
// stopping, hands each message back at once), where Stop would leave it to wait out the ack wait.
func drain(ccs ...jetstream.ConsumeContext) {
	for _, cc := range ccs {
		cc.Drain()
	}
	for _, cc := range ccs {
		select {
		case <-cc.Closed():
		case <-time.After(5 * time.Second):
		}
	}
}

func (w *Worker) consumer(ctx context.Context, kind, name string, ackWait time.Duration, filters ...string) (jetstream.Consumer, error) {
	stream, err := w.broker.Stream(ctx, kind)
	if err != nil {
		return nil, err
	}
	c, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:        name,
		Description:    "hookstream workers: " + name,
		FilterSubjects: filters,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        ackWait,
		MaxAckPending:  4 * w.cfg.MaxInFlight,
		MaxDeliver:     -1,
	})
	if err != nil {
		return nil, fmt.Errorf("consumer %s: %w", name, err)
	}
	return c, nil
}

// A lane queues up to laneQueue tasks per slot, so a queued task waits at most two rounds of attempts (well
// within the ack wait). When it is full, a task of a slow lane is parked at once; otherwise the consumer waits
// up to laneWaitLimit for room (a burst to endpoints that keep up, even on a saturated machine: backpressure,
// nothing goes back to the server) and parks the task only if none came. A lane is slow when its attempts take
// slowFactor times the instance's average and at least slowFloor: slowness is relative, so a machine that is
// merely busy parks nothing.
const (
	laneQueue     = 2
	laneWaitLimit = 100 * time.Millisecond
	slowFactor    = 4
	slowFloor     = 20 * time.Millisecond
	maxParkDelay  = 5 * time.Minute
)

// lane queues the tasks of one webhook's endpoint and runs at most MaxPerEndpoint of them at once, so a slow
// endpoint holds its own lane and never the other endpoints' slots.
type lane struct {
	queue   chan *job
	running int
	waiting int // dispatchers waiting for room: the lane stays while they do
	parked  int // tasks parked by this instance and not yet back
	// latency is a moving average of the time an attempt holds a slot, in nanoseconds.
	latency int64
	created time.Time
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

// movingAverage folds sample into an exponential moving average (weight 1/8); zero means no sample yet.
func movingAverage(avg, sample int64) int64 {
	if avg == 0 {
		return sample
	}
	return avg + (sample-avg)/8
}

// job is one task in a lane with what settles it: the message it came in (a retry, a resend, an alert), or
// the routed event it is one of (a first try, handed over in-process by the router).
type job struct {
	t *task
	// msg is the task's own message; nil for a first try handed over in-process.
	msg jetstream.Msg
	// done settles the task: acked when retry is false, handed back to come again after delay otherwise.
	done func(retry bool, delay time.Duration)
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
func settleMsg(m jetstream.Msg, retry bool, delay time.Duration) {
	switch {
	case !retry:
		_ = m.Ack()
	case delay <= 0:
		_ = m.Nak()
	default:
		_ = m.NakWithDelay(delay)
	}
}

// dispatchMsg runs in a consumer's goroutine: it turns a task message into a job for its lane.
func (w *Worker) dispatchMsg(ctx context.Context, m jetstream.Msg) {
	if bucket, ok := w.promotedBucket(m.Subject()); ok {
		w.inFlight.Add(1)
		go func() {
			defer w.inFlight.Done()
			w.promoteMsg(ctx, m, bucket)
		}()
		return
	}
	t, err := parseTask(m.Headers(), m.Data())
	if err != nil {
		w.log.Warn("dropping a malformed delivery task", "subject", m.Subject(), "err", err)
		_ = m.Term()
		return
	}
	w.dispatch(ctx, &job{t: t, msg: m, done: func(retry bool, delay time.Duration) { settleMsg(m, retry, delay) }})
}

// dispatch queues the job on its endpoint's lane. When the lane is full it waits for room if the endpoint
// keeps up, and parks the task otherwise: a slow endpoint's backlog leaves the consumers' windows
// (MaxAckPending), so the other endpoints' tasks keep flowing.
func (w *Worker) dispatch(ctx context.Context, j *job) {
	key := j.t.tenant + "/" + j.t.webhook
	w.mu.Lock()
	if w.stopped {
		w.mu.Unlock()
		j.done(true, 0)
		return
	}
	l, ok := w.lanes[key]
	if !ok {
		l = &lane{queue: make(chan *job, laneQueue*w.cfg.MaxPerEndpoint), created: time.Now()}
		w.lanes[key] = l
	}
	if j.t.parked && l.parked > 0 {
		l.parked--
	}
	queued := false
	select {
	case l.queue <- j:
		queued = true
	default:
	}
	if !queued && !l.slow(w.latency) {
		l.waiting++
		w.mu.Unlock()
		timer := time.NewTimer(laneWaitLimit)
		select {
		case l.queue <- j:
			queued = true
		case <-timer.C:
		case <-ctx.Done():
		}
		timer.Stop()
		w.mu.Lock()
		l.waiting--
	}
	if !queued {
		l.parked++
		delay := min(max(l.drainTime(w.cfg.MaxPerEndpoint, l.parked), laneWaitLimit), maxParkDelay)
		w.mu.Unlock()
		w.park(ctx, j, delay)
		return
	}
	if l.running < w.cfg.MaxPerEndpoint {
		l.running++
		w.inFlight.Add(1)
		go w.runLane(ctx, key, l)
	}
	w.mu.Unlock()
}

// park takes a task of a lane that cannot keep up out of the consumers' windows: it is scheduled again,
// durably, in the retries stream for when the lane should have room, then settled. The schedule's subject is
// the attempt's, so cancelling a pending retry cancels its parked task too; its message id is the job's park
// id, so a task handed over twice is parked once.
func (w *Worker) park(ctx context.Context, j *job, delay time.Duration) {
	if ctx.Err() != nil {
		j.done(true, 0) // stopping: the task goes back at once
		return
	}
	t := *j.t
	t.parked = true
	if err := w.schedule(ctx, &t, w.now().Add(delay), j.parkID()); err != nil {
		w.log.Warn("park a delivery task", "webhook", t.webhook, "err", err)
		j.done(true, delay)
		return
	}
	w.metrics.Deliveries.WithLabelValues("parked").Inc()
	j.done(false, 0)
}

// runLane carries out a lane's tasks until its queue is empty. When the engine stops, queued tasks go back
// to JetStream at once so another instance (or the next start) takes them without waiting for AckWait.
func (w *Worker) runLane(ctx context.Context, key string, l *lane) {
	defer w.inFlight.Done()
	var took int64 // the previous attempt's time, recorded under the lock the next turn takes anyway
	for {
		w.mu.Lock()
		if took > 0 {
			l.latency = movingAverage(l.latency, took)
			w.latency = movingAverage(w.latency, took)
		}
		var j *job
		select {
		case j = <-l.queue:
		default:
			l.running--
			if l.running == 0 && len(l.queue) == 0 && l.waiting == 0 {
				delete(w.lanes, key)
			}
			w.mu.Unlock()
			return
		}
		w.mu.Unlock()
		if ctx.Err() != nil {
			j.done(true, 0)
			continue
		}
		select {
		case w.global <- struct{}{}:
		case <-ctx.Done():
			j.done(true, 0)
			continue
		}
		started := time.Now()
		w.handle(j)
		<-w.global
		took = int64(time.Since(started))
	}
}

// handle carries out the first phase of one task in its lane and hands the second phase (recording, retry,
// final failure, settling) to its own goroutine, so the endpoint's slot is free as soon as the endpoint has
// answered. Both run to completion even while the engine stops: an attempt that was sent is recorded.
func (w *Worker) handle(j *job) {
	ctx, cancel := context.WithTimeout(context.Background(), w.cfg.Timeout+30*time.Second)
	t := j.t
	if t.kind == kindAlert {
		w.sendAlert(ctx, t)
		cancel()
		j.done(false, 0)
		return
	}
	wh := w.webhooks.Current(t.tenant, t.webhook)
	prior := t.prior
	if !t.outcomeRead {
		prior = w.outcome(t)
	}
	if prior != nil {
		// The task comes back after its attempt was made and recorded (an instance died before settling it,
		// or a router routed the event again): carry on from the recorded outcome instead of sending again.
		w.inFlight.Add(1)
		go func() {
			defer w.inFlight.Done()
			defer cancel()
			_, err := w.conclude(ctx, t, wh, prior, true)
			w.finish(j, err)
		}()
		return
	}
	a, _, err := w.attempt(ctx, t, wh, false)
	if a == nil || err != nil {
		cancel()
		w.finish(j, err)
		return
	}
	w.inFlight.Add(1)
	go func() {
		defer w.inFlight.Done()
		defer cancel()
		_, err := w.conclude(ctx, t, wh, a, false)
		w.finish(j, err)
	}()
}

// outcome returns the recorded outcome of the task's attempt, or nil when it has none yet (or the view cannot
// say: the try is made, at least once).
func (w *Worker) outcome(t *task) *hookstream.Attempt {
	prior, _ := w.attempts.Outcome(t.tenant, t.attempt)
	return prior
}

// finish settles a task, or hands it back for another try when recording its outcome failed.
func (w *Worker) finish(j *job, err error) {
	if err != nil {
		w.log.Warn("delivery task failed; it will be redelivered", "webhook", j.t.webhook, "event", j.t.event, "err", err)
		j.done(true, time.Second)
		return
	}
	j.done(false, 0)
}

// result says what became of a task.
type result int

const (
	resultDone   result = iota // delivered, failed for good, or dropped
	resultHeld                 // the webhook is suspended: the task waits in the held stream
	resultFailed               // failed; a retry is scheduled or the final failure handled
)

// process carries out one try for webhook state wh (nil when it no longer exists), both phases in a row.
// fromHold is set when the task comes out of the held stream, where a still-suspended webhook leaves it.
func (w *Worker) process(ctx context.Context, t *task, wh *hookstream.Webhook, fromHold bool) (result, error) {
	if prior := w.outcome(t); prior != nil {
		if fromHold {
			// Held by a router that routed the event again after its try had run: that try's conclusion
			// stands (its task resumed it if need be); releasing it would conclude it twice.
			return resultDone, nil
		}
		return w.conclude(ctx, t, wh, prior, true)
	}
	a, res, err := w.attempt(ctx, t, wh, fromHold)
	if a == nil || err != nil {
		return res, err
	}
	return w.conclude(ctx, t, wh, a, false)
}

// attempt is the first phase of a try: the checks and the HTTP request. It returns the attempt, or nil with
// the result when no request was due.
func (w *Worker) attempt(ctx context.Context, t *task, wh *hookstream.Webhook, fromHold bool) (*hookstream.Attempt, result, error) {
	switch {
	case wh == nil || wh.Deleted, !wh.Enabled:
		w.metrics.Deliveries.WithLabelValues("skipped").Inc()
		return nil, resultDone, w.cancelPending(ctx, t)
	case wh.Suspended:
		if fromHold {
			return nil, resultHeld, nil
		}
		w.metrics.Deliveries.WithLabelValues("held").Inc()
		return nil, resultHeld, w.holds.Hold(ctx, t)
	}
	if t.try > 0 {
		done, err := w.attempts.Delivered(t.tenant, t.webhook, t.event)
		if err != nil {
			return nil, resultDone, err
		}
		if done {
			w.metrics.Deliveries.WithLabelValues("skipped").Inc()
			return nil, resultDone, w.cancelPending(ctx, t)
		}
	}
	started := w.now()
	code, body, sendErr := w.send(ctx, &wh.Endpoint, t.event, t.body)
	ended := w.now()
	latency := ended.Sub(started)
	w.metrics.Latency.Observe(latency.Seconds())
	a := &hookstream.Attempt{
		Locator: t.attempt, Tenant: t.tenant, Webhook: t.webhook, Event: t.event, EventSeq: t.eventSeq, Try: t.try,
		URL: wh.Endpoint.URL, StatusCode: code, ResponseBody: body, LatencyMs: float64(latency.Microseconds()) / 1000,
		Created: started.UTC(), Status: hookstream.AttemptSuccess,
	}
	if sendErr != nil {
		a.Error = sendErr.Error()
	}
	if !Succeeded(code) {
		a.Status = hookstream.AttemptFailed
		a.Trigger, _ = MatchTrigger(wh.FailureHandling.Triggers, code)
	}
	return a, resultDone, nil
}

// conclude is the second phase of a try, which needs no endpoint slot: it records the attempt (unless it was
// recorded before: a resumed task) and schedules the retry or handles the final failure. Resuming writes
// nothing twice: the other writes have message ids derived from the attempt, and should a resumed task record
// an attempt again (its first record not yet in this instance's view), the attempts view keeps the first.
func (w *Worker) conclude(ctx context.Context, t *task, wh *hookstream.Webhook, a *hookstream.Attempt, recorded bool) (result, error) {
	ended := a.Ended()
	if !recorded {
		if err := w.records.record(ctx, w.broker.Subjects.Attempts(t.tenant, t.webhook), a); err != nil {
			return resultDone, err
		}
	}
	if wh == nil || wh.Deleted {
		return resultDone, nil
	}
	if a.Status == hookstream.AttemptSuccess {
		w.metrics.Deliveries.WithLabelValues("success").Inc()
		if w.diverted.Exists(t.tenant, t.webhook, t.event) {
			if err := w.record(ctx, w.broker.Subjects.Diverted(t.tenant, t.webhook), &hookstream.DeliveryRecord{
				Type: hookstream.RecordDivertedResolved, Tenant: t.tenant, Webhook: t.webhook, Event: t.event, Time: ended,
			}, "resolved/"+t.attempt); err != nil {
				return resultDone, err
			}
		}
		return resultDone, nil
	}
	w.metrics.Deliveries.WithLabelValues("failed").Inc()
	if a.Trigger == "" {
		return resultFailed, nil
	}
	if rs := wh.FailureHandling.RetryStrategy; rs != nil && t.try < rs.Attempts {
		return resultFailed, w.scheduleRetry(ctx, t, rs, ended)
	}
	return resultFailed, w.finalFailure(ctx, t, wh, a, ended)
}

// send POSTs body to the endpoint, signed, and returns the status code (0 when no response came back) and the
// start of the response body.
func (w *Worker) send(ctx context.Context, ep *hookstream.Endpoint, msgID string, body []byte) (int, string, error) {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(body))
	if err != nil {
		return 0, "", fmt.Errorf("build request: %w", err)
	}
	for name, values := range ep.Headers {
		for _, v := range values {
			req.Header.Add(name, v)
		}
	}
	now := w.now()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", w.cfg.UserAgent)
	req.Header.Set("Webhook-Id", msgID)
	req.Header.Set("Webhook-Timestamp", strconv.FormatInt(now.Unix(), 10))
	if ep.HMACEnabled {
		sigs := make([]string, 0, 2)
		for _, secret := range ep.Secrets(now) {
			s, err := w.signer(secret)
			if err != nil {
				return 0, "", err
			}
			sigs = append(sigs, s.Sign(msgID, now, body))
		}
		req.Header.Set("Webhook-Signature", strings.Join(sigs, " "))
	}
	client := w.secure
	if !ep.SecureSSL {
		client = w.insecure
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", describeSendError(err, w.cfg.Timeout)
	}
	defer resp.Body.Close()
	head, _ := io.ReadAll(io.LimitReader(resp.Body, hookstream.MaxResponseBodyBytes))
	// Read a little more so the connection can be reused; give up on endpoints that answer with a flood.
	_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
	return resp.StatusCode, string(head), nil
}

func describeSendError(err error, timeout time.Duration) error {
	switch {
	case errors.Is(err, ErrPrivateDestination):
		return fmt.Errorf("refused: %w", err)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("no response within %s", timeout)
	}
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			return inner
		}
	}
	return err
}

func (w *Worker) signer(secret string) (*Signer, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if s, ok := w.signers[secret]; ok {
		return s, nil
	}
	s, err := NewSigner(secret)
	if err != nil {
		return nil, err
	}
	w.signers[secret] = s
	return s, nil
}

// record appends a delivery record to subject with a deterministic message id, so a redelivered task writes
// it once.
func (w *Worker) record(ctx context.Context, subject string, r *hookstream.DeliveryRecord, msgID string) error {
	_, err := w.broker.AppendJSON(ctx, subject, r, broker.AppendOptions{MsgID: msgID})
	if err != nil {
		return fmt.Errorf("record %s: %w", r.Type, err)
	}
	return nil
}

// cancelPending removes the PENDING record of a retry that will not run.
func (w *Worker) cancelPending(ctx context.Context, t *task) error {
	if t.try == 0 {
		return nil
	}
	return w.record(ctx, w.broker.Subjects.Attempts(t.tenant, t.webhook), &hookstream.DeliveryRecord{Type: hookstream.RecordAttemptCancelled, Tenant: t.tenant, Webhook: t.webhook,
		Event: t.event, Time: w.now().UTC(), Cancelled: t.attempt}, "cancel/"+t.attempt)
}

// CancelRetry removes a pending retry: its task leaves its bucket and its schedule is purged, so it never
// fires, and its PENDING record is cancelled. (A bucket being promoted at that very moment may still schedule
// it.)
func (w *Worker) CancelRetry(ctx context.Context, a *hookstream.Attempt) error {
	stream, err := w.broker.Stream(ctx, broker.KindRetries)
	if err != nil {
		return err
	}
	if err := w.unwait(ctx, stream, a); err != nil {
		return err
	}
	if err := stream.Purge(ctx, jetstream.WithPurgeSubject(w.broker.Subjects.RetrySchedule(a.Tenant, a.Webhook, a.Locator))); err != nil {
		return fmt.Errorf("purge retry schedule: %w", err)
	}
	return w.cancelPending(ctx, &task{tenant: a.Tenant, webhook: a.Webhook, event: a.Event, try: a.Try, attempt: a.Locator})
}

// scheduleRetry records the next try as PENDING and schedules it, durably, in the retries stream. The
// schedule's time carries nanoseconds: a whole-second time would fire up to a second early.
func (w *Worker) scheduleRetry(ctx context.Context, t *task, rs *hookstream.RetryStrategy, failedAt time.Time) error {
	due := failedAt.Add(RetryDelay(rs.Type, time.Duration(rs.Interval)*time.Second, t.try+1))
	next := *t
	next.try = t.try + 1
	next.attempt = hookstream.DerivedLocator(due, t.event, t.webhook, t.attempt)
	pending := &hookstream.Attempt{Locator: next.attempt, Tenant: t.tenant, Webhook: t.webhook, Event: t.event, EventSeq: t.eventSeq,
		Try: next.try, Status: hookstream.AttemptPending, Created: failedAt.UTC(), Due: &due}
	if wh := w.webhooks.Current(t.tenant, t.webhook); wh != nil {
		pending.URL = wh.Endpoint.URL
	}
	// The PENDING record goes alone, with a message id: a task resumed from its recorded outcome schedules its
	// retry again, and would otherwise write the same record twice.
	if err := w.record(ctx, w.broker.Subjects.Attempts(t.tenant, t.webhook), &hookstream.DeliveryRecord{Type: hookstream.RecordAttempt, Tenant: t.tenant, Webhook: t.webhook,
		Event: t.event, Time: failedAt.UTC(), Attempt: pending}, "pend/"+next.attempt); err != nil {
		return err
	}
	if err := w.schedule(ctx, &next, due, "sched/"+next.attempt); err != nil {
		return fmt.Errorf("schedule retry: %w", err)
	}
	w.metrics.Deliveries.WithLabelValues("retry_scheduled").Inc()
	return nil
}

// setSchedule makes msg a JetStream schedule that lands on target at at. The time carries nanoseconds: a
// whole-second time would fire up to a second early.
func setSchedule(msg *nats.Msg, at time.Time, target string) {
	msg.Header.Set("Nats-Schedule", "@at "+at.UTC().Format(time.RFC3339Nano))
	msg.Header.Set("Nats-Schedule-Target", target)
}

// schedule puts a task in the retries stream, durably, to come back through the retries consumer at due: in
// the bucket of its due time when due far ahead (see RetryBuckets), else in a schedule of its own.
func (w *Worker) schedule(ctx context.Context, t *task, due time.Time, msgID string) error {
	if due.Sub(w.now()) > w.buckets.After {
		return w.wait(ctx, t, due, msgID)
	}
	return w.scheduleAt(ctx, t, due, msgID)
}

// scheduleAt gives a task a schedule of its own, due at due. The schedule's subject is the attempt's: purging
// it (CancelRetry) cancels the task, whether a retry or parked.
func (w *Worker) scheduleAt(ctx context.Context, t *task, due time.Time, msgID string) error {
	msg := t.msg(w.broker.Subjects.RetrySchedule(t.tenant, t.webhook, t.attempt))
	setSchedule(msg, due, w.broker.Subjects.RetryDue(t.tenant, t.webhook))
	_, err := w.broker.JS.PublishMsg(ctx, msg, jetstream.WithMsgID(msgID))
	return err
}

// finalFailure diverts, suspends and alerts as the webhook's failure handling says. Each step is written with
// a message id derived from the attempt, so a crash between steps writes each exactly once.
func (w *Worker) finalFailure(ctx context.Context, t *task, wh *hookstream.Webhook, a *hookstream.Attempt, at time.Time) error {
	fh := wh.FailureHandling
	message := failureMessage(a)
	if fh.Divert {
		d := &hookstream.DivertedEvent{Tenant: t.tenant, Webhook: t.webhook, EventLocator: t.event, EventSeq: t.eventSeq,
			RequestLocator: a.Locator, FailureMessage: message, FailureTimestamp: at.UTC(), FailureTrigger: a.Trigger}
		if err := w.record(ctx, w.broker.Subjects.Diverted(t.tenant, t.webhook), &hookstream.DeliveryRecord{Type: hookstream.RecordDiverted, Tenant: t.tenant, Webhook: t.webhook,
			Event: t.event, Time: at.UTC(), Diverted: d}, "div/"+a.Locator); err != nil {
			return err
		}
		w.metrics.Deliveries.WithLabelValues("diverted").Inc()
	}
	if fh.Suspend {
		if _, err := w.suspender.Suspend(ctx, t.tenant, t.webhook, "final delivery failure of event "+t.event+": "+message); err != nil {
			return fmt.Errorf("suspend: %w", err)
		}
	}
	if fh.AlertEndpoint != nil {
		notice, err := json.Marshal(&hookstream.AlertNotice{Type: hookstream.AlertType, Tenant: t.tenant, Webhook: t.webhook,
			Event: t.event, Request: a.Locator, FailureTrigger: a.Trigger, FailureMessage: message, FailureTimestamp: at.UTC(),
			Diverted: fh.Divert, Suspended: fh.Suspend})
		if err != nil {
			return fmt.Errorf("encode alert: %w", err)
		}
		alert := &task{kind: kindAlert, tenant: t.tenant, webhook: t.webhook, event: t.event, eventSeq: t.eventSeq,
			attempt: hookstream.DerivedLocator(at, a.Locator, "alert"), body: notice}
		if _, err := w.broker.JS.PublishMsg(ctx, alert.msg(w.broker.Subjects.Delivery(t.tenant, t.webhook)), jetstream.WithMsgID("alert/"+a.Locator)); err != nil {
			return fmt.Errorf("queue alert: %w", err)
		}
	}
	return nil
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
func (w *Worker) sendAlert(ctx context.Context, t *task) {
	wh := w.webhooks.Current(t.tenant, t.webhook)
	if wh == nil || wh.FailureHandling.AlertEndpoint == nil || w.attempts.AlertSent(t.tenant, t.attempt) {
		w.metrics.Alerts.WithLabelValues("skipped").Inc()
		return
	}
	code, _, err := w.send(ctx, wh.FailureHandling.AlertEndpoint, t.attempt, t.body)
	if err != nil || !Succeeded(code) {
		w.metrics.Alerts.WithLabelValues("failed").Inc()
		w.log.Warn("failure alert not accepted", "webhook", t.webhook, "status", code, "err", err)
		return
	}
	w.metrics.Alerts.WithLabelValues("sent").Inc()
	// Recorded in the attempts stream, whose message ids outlive a restart (the deliveries work queue forgets
	// those of the tasks it has removed), so a repeated alert task is skipped.
	if err := w.record(ctx, w.broker.Subjects.Attempts(t.tenant, t.webhook), &hookstream.DeliveryRecord{Type: hookstream.RecordAlertSent,
		Tenant: t.tenant, Webhook: t.webhook, Event: t.event, Time: w.now().UTC(), Cancelled: t.attempt}, "alertsent/"+t.attempt); err != nil {
		w.log.Warn("record a sent alert", "webhook", t.webhook, "err", err)
	}
}

// Enqueue publishes a first try of an event to a webhook outside the router (a resend, an example), as the
// new attempt attempt. msgID dedupes it: a caller that derives msgID from what it resends makes a repeated
// request one task.
func (w *Worker) Enqueue(ctx context.Context, e *hookstream.Event, eventSeq uint64, webhook, attempt, msgID string) error {
	body, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	t := &task{kind: kindEvent, tenant: e.Tenant, webhook: webhook, event: e.Locator, eventSeq: eventSeq,
		attempt: attempt, body: body}
	msg := t.msg(w.broker.Subjects.Delivery(e.Tenant, webhook))
	if _, err := w.broker.JS.PublishMsg(ctx, msg, jetstream.WithMsgID(msgID)); err != nil {
		return fmt.Errorf("enqueue delivery: %w", err)
	}
	return nil
}
