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

	mu        sync.Mutex
	releasing map[string]bool
}

// NewHolds returns Holds; SetWorker must be called before Run.
func NewHolds(b *broker.Broker, webhooks *projections.Webhooks, log *slog.Logger) *Holds {
	return &Holds{broker: b, webhooks: webhooks, log: log, releasing: map[string]bool{}}
}

// SetWorker gives Holds the worker that carries out released tasks.
func (h *Holds) SetWorker(w *Worker) { h.worker = w }

// Holding reports whether a release is in progress for the webhook.
func (h *Holds) Holding(tenant, webhook string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.releasing[tenant+"/"+webhook]
}

func (h *Holds) setReleasing(tenant, webhook string, on bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if on {
		h.releasing[tenant+"/"+webhook] = true
	} else {
		delete(h.releasing, tenant+"/"+webhook)
	}
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
		}
	}
}

// scan releases the held events of every webhook that is no longer suspended.
func (h *Holds) scan(ctx context.Context, stream jetstream.Stream) error {
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter(h.broker.Subjects.HeldAll()))
	if err != nil {
		return fmt.Errorf("held stream info: %w", err)
	}
	prefix := h.broker.Subjects.Held("", "")
	prefix = prefix[:len(prefix)-1] // "<prefix>.held."
	for subject := range info.State.Subjects {
		tenant, webhook, ok := strings.Cut(strings.TrimPrefix(subject, prefix), ".")
		if !ok {
			continue
		}
		wh, err := h.webhooks.GetAny(tenant, webhook)
		if err != nil {
			return err
		}
		if wh != nil && !wh.Deleted && wh.Suspended {
			continue
		}
		if err := h.release(ctx, stream, tenant, webhook, subject); err != nil {
			return err
		}
	}
	return nil
}

// release delivers a webhook's held events in order, each to completion before the next, deleting each once
// done. It stops when the webhook is suspended again; what is left stays held.
func (h *Holds) release(ctx context.Context, stream jetstream.Stream, tenant, webhook, subject string) error {
	h.setReleasing(tenant, webhook, true)
	defer h.setReleasing(tenant, webhook, false)
	var next uint64 = 1
	for ctx.Err() == nil {
		raw, err := stream.GetMsg(ctx, next, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("next held event: %w", err)
		}
		t, err := parseTask(raw.Header, raw.Data)
		if err == nil {
			wh, err := h.webhooks.GetAny(tenant, webhook)
			if err != nil {
				return err
			}
			res, err := h.worker.process(ctx, t, wh, true)
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
