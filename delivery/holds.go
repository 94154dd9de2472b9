package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/hookstream/hookstream/broker"
	"github.com/hookstream/hookstream/projections"
	"github.com/nats-io/nats.go/jetstream"
)

// holdScanInterval is how often the held stream is checked for webhooks that were unsuspended.
const holdScanInterval = 200 * time.Millisecond

// Holds keeps the events that arrive while a webhook is suspended, in arrival order, in the held stream, and
// releases them one at a time, in that order, once the webhook is no longer suspended. While a release runs,
// new events for that webhook are held too, so they cannot overtake the old ones.
type Holds struct {
	broker   *broker.Broker
	webhooks *projections.Webhooks
	worker   *Worker
	log      *slog.Logger

	wake chan struct{}

	mu sync.Mutex
	// pending marks webhooks that have events in the held stream (or on their way there): new events for
	// them are held too, so none overtakes an older one.
	pending map[string]*holdState
}

type holdState struct {
	publishing int // holds being appended right now
}

// NewHolds returns Holds; SetWorker must be called before Run.
func NewHolds(b *broker.Broker, webhooks *projections.Webhooks, log *slog.Logger) *Holds {
	return &Holds{broker: b, webhooks: webhooks, log: log, pending: map[string]*holdState{}, wake: make(chan struct{}, 1)}
}

// Load marks every webhook that has held events, so the router keeps holding for them after a restart. Call it
// before the router starts.
func (h *Holds) Load(ctx context.Context) error {
	stream, err := h.broker.Stream(ctx, broker.KindHeld)
	if err != nil {
		return err
	}
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter(h.broker.Subjects.HeldAll()))
	if err != nil {
		return fmt.Errorf("held stream info: %w", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for subject := range info.State.Subjects {
		if tenant, webhook, ok := h.parse(subject); ok {
			h.pending[tenant+"/"+webhook] = &holdState{}
		}
	}
	return nil
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

// SetWorker gives Holds the worker that carries out released tasks.
func (h *Holds) SetWorker(w *Worker) { h.worker = w }

// Holding reports whether the webhook has held events not yet released: its new events must be held too.
func (h *Holds) Holding(tenant, webhook string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.pending[tenant+"/"+webhook] != nil
}

// Hold appends a task to the webhook's held events. While it runs, the webhook counts as holding, and a
// release cannot conclude that nothing is left.
func (h *Holds) Hold(ctx context.Context, t *task) error {
	k := t.tenant + "/" + t.webhook
	h.mu.Lock()
	st := h.pending[k]
	if st == nil {
		st = &holdState{}
		h.pending[k] = st
	}
	st.publishing++
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		st.publishing--
		h.mu.Unlock()
		select {
		case h.wake <- struct{}{}:
		default:
		}
	}()
	_, err := h.broker.JS.PublishMsg(ctx, t.msg(h.broker.Subjects.Held(t.tenant, t.webhook)), jetstream.WithMsgID("hold/"+t.attempt))
	if err != nil {
		return fmt.Errorf("hold task: %w", err)
	}
	return nil
}

// finish ends a webhook's holding once its held subject is empty and no hold is being appended.
func (h *Holds) finish(ctx context.Context, stream jetstream.Stream, tenant, webhook, subject string, after uint64) (bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	st := h.pending[tenant+"/"+webhook]
	if st != nil && st.publishing > 0 {
		return false, nil
	}
	// Checked under the lock, so no hold can slip in between the check and the end of holding.
	_, err := stream.GetMsg(ctx, after, jetstream.WithGetMsgSubject(subject))
	if err == nil {
		return false, nil
	}
	if !errors.Is(err, jetstream.ErrMsgNotFound) {
		return false, fmt.Errorf("check held events: %w", err)
	}
	delete(h.pending, tenant+"/"+webhook)
	return true, nil
}

// Run releases held events until ctx ends.
func (h *Holds) Run(ctx context.Context) error {
	stream, err := h.broker.Stream(ctx, broker.KindHeld)
	if err != nil {
		return err
	}
	tick := time.NewTicker(holdScanInterval)
	defer tick.Stop()
	for {
		if err := h.scan(ctx, stream); err != nil && ctx.Err() == nil {
			h.log.Warn("release held events", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-h.wake:
		}
	}
}

// scan releases the held events of every webhook that is no longer suspended.
func (h *Holds) scan(ctx context.Context, stream jetstream.Stream) error {
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter(h.broker.Subjects.HeldAll()))
	if err != nil {
		return fmt.Errorf("held stream info: %w", err)
	}
	for subject := range info.State.Subjects {
		tenant, webhook, ok := h.parse(subject)
		if !ok {
			continue
		}
		if wh := h.webhooks.Current(tenant, webhook); wh != nil && wh.Suspended {
			continue
		}
		if err := h.release(ctx, stream, tenant, webhook, subject); err != nil {
			return err
		}
	}
	// A webhook marked as holding whose held subject is empty (a hold that failed to append) must not keep
	// holding forever.
	h.mu.Lock()
	var idle []string
	for k := range h.pending {
		tenant, webhook, _ := strings.Cut(k, "/")
		if _, ok := info.State.Subjects[h.broker.Subjects.Held(tenant, webhook)]; !ok {
			idle = append(idle, k)
		}
	}
	h.mu.Unlock()
	for _, k := range idle {
		tenant, webhook, _ := strings.Cut(k, "/")
		if _, err := h.finish(ctx, stream, tenant, webhook, h.broker.Subjects.Held(tenant, webhook), 1); err != nil {
			return err
		}
	}
	return nil
}

// release delivers a webhook's held events in order, each to completion before the next, deleting each once
// done. It stops when the webhook is suspended again; what is left stays held.
func (h *Holds) release(ctx context.Context, stream jetstream.Stream, tenant, webhook, subject string) error {
	var next uint64 = 1
	for ctx.Err() == nil {
		raw, err := stream.GetMsg(ctx, next, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			done, err := h.finish(ctx, stream, tenant, webhook, subject, next)
			if done || err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("next held event: %w", err)
		}
		t, err := parseTask(raw.Header, raw.Data)
		if err == nil {
			// The try runs to its end even if the engine is stopping; the release stops between events.
			tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.worker.cfg.Timeout+30*time.Second)
			res, err := h.worker.process(tctx, t, h.webhooks.Current(tenant, webhook), true)
			cancel()
			if err != nil {
				return err
			}
			if res == resultHeld {
				return nil
			}
		} else {
			h.log.Warn("dropping a malformed held task", "subject", subject, "err", err)
		}
		if err := stream.DeleteMsg(ctx, raw.Sequence); err != nil {
			return fmt.Errorf("delete released event: %w", err)
		}
		next = raw.Sequence + 1
	}
	return nil
}
