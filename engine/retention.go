package engine

import (
	"context"
	"log/slog"
	"time"

	"github.com/hookstream/hookstream/broker"
	"github.com/hookstream/hookstream/config"
)

// trimmer is a view that can drop what its stream's retention removed.
type trimmer interface {
	TrimBelow(first uint64) (int, error)
}

// retentionInterval is how often the views follow the streams' retention: a tenth of the shortest retention,
// between 200 ms and a minute. Zero when nothing is retained by age or size.
func retentionInterval(cfg *config.Config) time.Duration {
	shortest := time.Duration(0)
	for _, d := range []time.Duration{cfg.RetainEvents, cfg.RetainAttempts} {
		if d > 0 && (shortest == 0 || d < shortest) {
			shortest = d
		}
	}
	if shortest == 0 {
		if cfg.RetainEventsBytes == 0 && cfg.RetainAttemptsBytes == 0 {
			return 0
		}
		shortest = 10 * time.Minute
	}
	return min(max(shortest/10, 200*time.Millisecond), time.Minute)
}

// followRetention keeps the events and attempts views in step with what JetStream's retention leaves in their
// streams: what aged out of a stream leaves its view, as a rebuild would not have it either.
func (e *Engine) followRetention(ctx context.Context, every time.Duration, v views, log *slog.Logger) error {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		for kind, view := range map[string]trimmer{broker.KindEvents: v.events, broker.KindAttempts: v.attempts} {
			s, err := e.broker.Stream(ctx, kind) // a STREAM.INFO request: its answer is current
			if err != nil {
				continue
			}
			if n, err := view.TrimBelow(s.CachedInfo().State.FirstSeq); err != nil {
				log.Warn("follow retention", "stream", kind, "err", err)
			} else if n > 0 {
				log.Debug("dropped expired entries from view", "stream", kind, "count", n)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
