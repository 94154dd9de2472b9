package delivery

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookstream/hookstream"
	"github.com/hookstream/hookstream/broker"
	"github.com/hookstream/hookstream/projections"
)

// holdScanInterval is how often the held stream is checked for webhooks that were unsuspended.
const holdScanInterval = 200 * time.Millisecond

// Releaser ends a webhook's holding once its held events are all delivered.
type Releaser interface {
	Release(ctx context.Context, tenant, webhook string) error
}

// Holds keeps the events that arrive while a webhook is suspended, in arrival order, in the held stream, and
// releases them one at a time, in that order, once the webhook is no longer suspended. The webhook stays
// "holding" (a flag in its state, so every instance sees it) until the release is done, so new events are
// held behind the old ones rather than overtaking them. One instance at a time releases a webhook: it takes
// the webhook's lease in the leases bucket first.
type Holds struct {
	broker   *broker.Broker
	store    *projections.Store
	attempts *projections.Attempts
	webhooks *projections.Webhooks
	releaser Releaser
	deliver  deliverFunc
	held     <-chan struct{} // a task was held: scan now
	owner    string
	log      *slog.Logger
	// releases counts the releases running, each in a goroutine of its own: a FIFO webhook waiting for its
	// retry's due time holds up no other webhook.
	releases sync.WaitGroup

	mu sync.Mutex
	// releasing names the webhooks this instance is releasing now.
	releasing map[string]bool
	// finishAt is, per webhook whose holding is ending, the events stream's last sequence when the end was
	// first tried: holding ends once the router has routed up to there. A fixed point, because under steady
	// traffic the router's ack floor (events are acked once their deliveries are done) trails the stream's
	// moving end.
	finishAt map[string]uint64
}

// deliverFunc carries out one try through the dispatcher and returns what became of it.
type deliverFunc func(ctx context.Context, t *task, fromHold bool) (result, error)

func newHolds(b *broker.Broker, store *projections.Store, v Views, releaser Releaser, d *Dispatcher, s *Scheduler, log *slog.Logger) *Holds {
	host, _ := os.Hostname()
	return &Holds{broker: b, store: store, webhooks: v.Webhooks, attempts: v.Attempts, releaser: releaser, deliver: d.Deliver, held: s.Held(), log: log,
		owner: fmt.Sprintf("%s/%d/%d", host, os.Getpid(), time.Now().UnixNano()), releasing: map[string]bool{},
		finishAt: map[string]uint64{}}
}

// Run releases held events until ctx ends, then waits for the releases running.
func (h *Holds) Run(ctx context.Context) error {
	tick := time.NewTicker(holdScanInterval)
	defer tick.Stop()
	defer h.releases.Wait()
	for {
		if err := h.scan(ctx); err != nil && ctx.Err() == nil {
			h.log.Warn("release held events", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-h.held:
		}
	}
}

func (h *Holds) parse(subject string) (tenant, webhook string, ok bool) {
	prefix := h.broker.Subjects.Held("", "")
	prefix = prefix[:len(prefix)-1] // "<prefix>.held."
	rest, ok := strings.CutPrefix(subject, prefix)
	if !ok {
		return "", "", false
	}
	return strings.Cut(rest, ".")
}

// scan releases the held events of every webhook that is no longer suspended, and ends the holding of
// webhooks that have nothing held.
func (h *Holds) scan(ctx context.Context) error {
	subjects, err := h.broker.SubjectCounts(ctx, broker.KindHeld, h.broker.Subjects.HeldAll())
	if err != nil {
		return err
	}
	for subject := range subjects {
		tenant, webhook, ok := h.parse(subject)
		if !ok {
			continue
		}
		if wh := h.webhooks.Current(tenant, webhook); wh != nil && wh.Suspended {
			continue
		}
		h.startRelease(ctx, tenant, webhook, subject)
	}
	for _, wh := range h.webhooks.HoldingWebhooks() {
		key := wh.Tenant + "/" + wh.Locator
		if wh.Suspended {
			h.mu.Lock()
			delete(h.finishAt, key) // suspended again: its end is tried afresh later
			h.mu.Unlock()
			continue
		}
		if _, held := subjects[h.broker.Subjects.Held(wh.Tenant, wh.Locator)]; held {
			continue
		}
		h.mu.Lock()
		releasing := h.releasing[key]
		h.mu.Unlock()
		if releasing {
			continue // the release ends the holding itself
		}
		if err := h.withLease(ctx, wh.Tenant, wh.Locator, func(ctx context.Context) error {
			return h.finish(ctx, wh.Tenant, wh.Locator)
		}); err != nil {
			return err
		}
	}
	return nil
}

// startRelease starts releasing a webhook's held events in a goroutine of its own, unless this instance
// releases them already.
func (h *Holds) startRelease(ctx context.Context, tenant, webhook, subject string) {
	key := tenant + "/" + webhook
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.releasing[key] {
		return
	}
	h.releasing[key] = true
	h.releases.Add(1)
	go func() {
		defer h.releases.Done()
		defer func() {
			h.mu.Lock()
			delete(h.releasing, key)
			h.mu.Unlock()
		}()
		err := h.withLease(ctx, tenant, webhook, func(ctx context.Context) error {
			return h.release(ctx, tenant, webhook, subject)
		})
		if err != nil && ctx.Err() == nil {
			h.log.Warn("release held events", "webhook", webhook, "err", err)
		}
	}()
}

// withLease runs f while holding the webhook's lease; when another instance holds it, f does not run. The
// lease is renewed in the background for as long as f runs, however long one try waits for its lane; should a
// renewal fail (another instance may take the lease), f's context ends and the release stops between events.
func (h *Holds) withLease(ctx context.Context, tenant, webhook string, f func(ctx context.Context) error) error {
	lease, ok, err := h.broker.TakeLease(ctx, "release."+tenant+"."+webhook, h.owner)
	if err != nil || !ok {
		return err // when not ok, another instance is releasing this webhook
	}
	// Renewed at a third of the bucket's own TTL: instances started with different --lease-ttl share it.
	ttl, err := h.broker.LeaseTTL(ctx)
	if err != nil {
		_ = lease.Release(context.WithoutCancel(ctx))
		return err
	}
	leased, lost := context.WithCancel(ctx)
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		tick := time.NewTicker(max(ttl/3, 100*time.Millisecond))
		defer tick.Stop()
		for {
			select {
			case <-leased.Done():
				return
			case <-tick.C:
			}
			if err := lease.Renew(leased, h.owner); err != nil {
				h.log.Warn("lost the lease on a release; it stops", "webhook", webhook, "err", err)
				lost()
				return
			}
		}
	}()
	defer func() {
		lost()
		<-renewed
		if err := lease.Release(context.WithoutCancel(ctx)); err != nil {
			h.log.Debug("drop lease", "err", err)
		}
	}()
	return f(leased)
}

// maxReleaseBatch bounds the held events read at once for one webhook.
const maxReleaseBatch = 1000

// Bounds of a release's wait for the router, when every event it holds is newer than what the router has
// routed up to: it polls with a growing pause, then leaves the rest to the next scan.
const (
	routedPollFirst = 2 * time.Millisecond
	routedPollLast  = 100 * time.Millisecond
)

// release delivers a webhook's held events in event order, deleting each once done, then ends the webhook's
// holding. For a FIFO webhook, each event's delivery runs to its end (retries included) before the next
// begins; otherwise each event's first try does, and retries follow on their own. Only events the router has
// routed up to are released: an older event the router has yet to route (redelivered after a crash, say)
// must be held and sent first. It stops when the webhook is suspended again; what is left stays held.
func (h *Holds) release(ctx context.Context, tenant, webhook, subject string) error {
	// A release may carry on from another instance's (it died, or lost the lease): the attempts it recorded
	// must be in this instance's view first, or a recorded try would be sent again.
	last, err := h.broker.LastSeq(ctx, broker.KindAttempts)
	if err == nil {
		err = h.store.WaitFor(ctx, projections.AttemptsView, last)
	}
	if err != nil {
		return fmt.Errorf("catch up with the recorded attempts: %w", err)
	}
	poll := routedPollFirst
	queue := &heldQueue{subject: subject}
	for ctx.Err() == nil {
		floor, err := routedUpTo(ctx, h.broker)
		if err != nil {
			return err
		}
		if err := h.readHeld(ctx, queue); err != nil {
			return err
		}
		if len(queue.items) == 0 {
			return h.finish(ctx, tenant, webhook)
		}
		removed := h.startRemovals(ctx)
		due, stop, err := h.releaseBatch(ctx, tenant, webhook, queue, floor, removed)
		// The batch's removals end before the next read, which would find them again otherwise.
		if err := errors.Join(err, removed.wait()); err != nil || stop {
			return err
		}
		if due > 0 {
			poll = routedPollFirst
			continue
		}
		if poll > routedPollLast {
			return nil // the router is behind: the next scan tries again
		}
		if !pause(ctx, poll) {
			return nil
		}
		poll *= 2
	}
	return nil
}

// releaseBatch delivers, in event order, up to maxReleaseBatch of the queue's events that the router has
// routed up to, and hands each to removed once done. It returns how many it released, and whether the release
// must stop (the webhook suspended again, a removal failed, the engine stopping, the lease lost).
func (h *Holds) releaseBatch(ctx context.Context, tenant, webhook string, queue *heldQueue, floor uint64, removed *removals) (int, bool, error) {
	due := 0
	for due < maxReleaseBatch && len(queue.items) > 0 {
		ht := queue.items[0]
		if !ht.bad && ht.eventSeq > floor {
			break // in event order: everything after it is newer still
		}
		queue.items = queue.items[1:]
		if ht.task != nil {
			queue.cached--
		}
		if !ht.bad {
			t, err := h.taskOf(ctx, ht)
			if err != nil {
				return due, true, err
			}
			// A try that has begun runs to its end even if the release stops; the release stops between
			// events (or, for a FIFO webhook, between tries).
			var res result
			if wh := h.webhooks.Current(tenant, webhook); t.ordered || wh != nil && wh.FIFO() {
				res, err = h.deliverInOrder(ctx, t)
			} else {
				res, err = h.deliver(ctx, t, true)
			}
			if err != nil {
				if ctx.Err() != nil {
					return due, true, nil // stopping, or the lease was lost: the event stays held
				}
				return due, true, err
			}
			if res == resultHeld {
				return due, true, nil
			}
		}
		removed.add(ht.seq)
		due++
		if ctx.Err() != nil || removed.failing() {
			return due, true, nil // stopping, the lease lost, or a removal failed: what is left stays held
		}
	}
	return due, false, nil
}

// removeTimeout bounds the removal of one released event, which outlives a release that stops: the event's
// delivery is done.
const removeTimeout = 10 * time.Second

// removals deletes released events from the held stream in the background, in order, while the next event is
// sent: the next request need not wait for a delete's round trip. An event whose removal fails stays held,
// and is found done (its outcome recorded) when it comes again.
type removals struct {
	seqs   chan uint64
	done   chan error
	failed atomic.Bool
}

func (h *Holds) startRemovals(ctx context.Context) *removals {
	r := &removals{seqs: make(chan uint64, maxReleaseBatch), done: make(chan error, 1)}
	go func() {
		var failed error
		for seq := range r.seqs {
			if failed != nil {
				continue
			}
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), removeTimeout)
			if err := h.broker.DeleteMsg(ctx, broker.KindHeld, seq); err != nil {
				failed = fmt.Errorf("delete released event: %w", err)
				r.failed.Store(true)
			}
			cancel()
		}
		r.done <- failed
	}()
	return r
}

// add removes the held event at seq; never more than maxReleaseBatch per removals.
func (r *removals) add(seq uint64) { r.seqs <- seq }

// failing reports whether a removal failed: the release stops rather than leave more done events held,
// each of which would be concluded again when read next.
func (r *removals) failing() bool { return r.failed.Load() }

// wait returns once every removal is done, with the first failure.
func (r *removals) wait() error {
	close(r.seqs)
	return <-r.done
}

// deliverInOrder delivers a FIFO webhook's event to its end: its tries, each when due, until it is delivered
// or finally fails. A try recorded before (a release resumed after an instance died) is carried on from, not
// sent again. It returns what became of the last try; resultHeld when the webhook was suspended meanwhile.
func (h *Holds) deliverInOrder(ctx context.Context, t *task) (result, error) {
	if latest, err := h.latestTry(t); err != nil {
		return resultDone, err
	} else if latest != nil {
		t = latest
		if !pause(ctx, time.Until(t.due)) {
			return resultDone, fmt.Errorf("wait for the retry of event %s: %w", t.event, ctx.Err())
		}
	}
	for {
		t.ordered = true
		res, err := h.deliver(ctx, t, true)
		if err != nil || t.next == nil {
			return res, err
		}
		t = t.next
		if !pause(ctx, time.Until(t.due)) {
			return res, fmt.Errorf("wait for the retry of event %s: %w", t.event, ctx.Err())
		}
	}
}

// latestTry returns the event's latest try to the webhook on record, as a task to carry on from, or nil
// when only its first try (or none) is: a release that resumes another's carries on where it stopped, even
// when the retry strategy has changed since (the next try's locator is derived from its due time).
func (h *Holds) latestTry(t *task) (*task, error) {
	all, err := h.attempts.ForEvent(t.tenant, t.event)
	if err != nil {
		return nil, fmt.Errorf("read the attempts of event %s: %w", t.event, err)
	}
	var latest *hookstream.Attempt
	for _, a := range all {
		if a.Webhook == t.webhook && a.Try > t.try && (latest == nil || a.Try > latest.Try) {
			latest = a
		}
	}
	if latest == nil {
		return nil, nil
	}
	next := *t
	next.try, next.attempt, next.outcomeRead, next.prior, next.next = latest.Try, latest.Locator, false, nil, nil
	if latest.Due != nil {
		next.due = *latest.Due
	}
	return &next, nil
}

// pause waits for d, or until ctx ends (false).
func pause(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// maxCachedHeld bounds the held tasks a release keeps in memory with their bodies; it keeps only the order
// of the others, and reads each again when its turn comes.
const maxCachedHeld = 2 * maxReleaseBatch

// heldQueue is a webhook's held events as one release knows them, in event order. It is read incrementally,
// from where the last read ended, so an event held late (behind newer ones, as after a router's crash) still
// takes its place, however many were held before it.
type heldQueue struct {
	subject string
	next    uint64 // the held stream sequence the next read starts from
	items   []heldTask
	cached  int // items read with their task
}

// heldTask is a held message: its sequence in the held stream, its event's sequence, and its task when kept
// in memory; bad marks a malformed one, to be dropped.
type heldTask struct {
	seq, eventSeq uint64
	task          *task
	bad           bool
}

// readHeld adds to the queue what was held since its last read, and puts it in event order.
func (h *Holds) readHeld(ctx context.Context, q *heldQueue) error {
	added := false
	err := h.broker.EachOnSubjectFrom(ctx, broker.KindHeld, q.subject, q.next, func(raw broker.RawMsg) bool {
		q.next = raw.Seq + 1
		added = true
		t, err := parseTask(raw.Header, raw.Data)
		if err != nil {
			h.log.Warn("dropping a malformed held task", "subject", q.subject, "err", err)
			q.items = append(q.items, heldTask{seq: raw.Seq, bad: true})
			return true
		}
		ht := heldTask{seq: raw.Seq, eventSeq: t.eventSeq}
		if q.cached < maxCachedHeld {
			ht.task = t
			q.cached++
		}
		q.items = append(q.items, ht)
		return true
	})
	if err != nil {
		return fmt.Errorf("read held events: %w", err)
	}
	if added {
		slices.SortStableFunc(q.items, func(a, b heldTask) int {
			return cmp.Compare(a.eventSeq, b.eventSeq) // a malformed one (0) goes first, to be dropped
		})
	}
	return nil
}

// taskOf returns the held event's task, read again from the stream if the queue did not keep it.
func (h *Holds) taskOf(ctx context.Context, ht heldTask) (*task, error) {
	if ht.task != nil {
		return ht.task, nil
	}
	raw, err := h.broker.GetMsg(ctx, broker.KindHeld, ht.seq)
	if err != nil {
		return nil, err
	}
	return parseTask(raw.Header, raw.Data)
}

// finish ends the webhook's holding once the router has routed every event ingested before the end was first
// tried: an event that arrived while the webhook was suspended but is not routed yet would otherwise overtake
// the held ones. An event held by a router that still saw the webhook holding may land just after: the next
// scan releases it.
func (h *Holds) finish(ctx context.Context, tenant, webhook string) error {
	key := tenant + "/" + webhook
	if wh := h.webhooks.Current(tenant, webhook); wh == nil || !wh.Holding {
		h.forgetFinish(key)
		return nil
	}
	h.mu.Lock()
	target, ok := h.finishAt[key]
	h.mu.Unlock()
	if !ok {
		last, err := h.broker.LastSeq(ctx, broker.KindEvents)
		if err != nil {
			return err
		}
		target = last
		h.mu.Lock()
		h.finishAt[key] = target
		h.mu.Unlock()
	}
	floor, err := routedUpTo(ctx, h.broker)
	if err != nil || floor < target {
		return err // the router has events to route still: the next scan tries again
	}
	if err := h.releaser.Release(ctx, tenant, webhook); err != nil {
		return fmt.Errorf("end holding: %w", err)
	}
	h.forgetFinish(key)
	return nil
}

func (h *Holds) forgetFinish(key string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.finishAt, key)
}
