package engine

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// latch is a one-way switch that goroutines can wait on.
type latch struct {
	ch   chan struct{}
	once sync.Once
}

func newLatch() *latch { return &latch{ch: make(chan struct{})} }

func (l *latch) open() { l.once.Do(func() { close(l.ch) }) }

func (l *latch) done() bool {
	select {
	case <-l.ch:
		return true
	default:
		return false
	}
}

// wait waits for the latch to open; false when ctx ends first.
func (l *latch) wait(ctx context.Context) bool {
	select {
	case <-l.ch:
		return true
	case <-ctx.Done():
		return false
	}
}

// health is what the components found out about themselves, for readiness.
type health struct {
	// viewsStarted is touched only by the views component, whose runs follow one another.
	viewsStarted bool
	// ensured is set while the nats component's run has ensured the streams.
	ensured atomic.Bool

	mu      sync.Mutex
	part    string    // the delivery component that failed last
	running time.Time // when the running delivery set started; zero while none runs
	stalled []string  // views that lag their stream without advancing
}

func (h *health) setPart(part string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.part = part
}

// deliveryPart names the delivery component that failed last.
func (h *health) deliveryPart() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.part == "" {
		return "delivery"
	}
	return h.part
}

func (h *health) setRunning(at time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.running = at
}

// runningFor is how long the delivery set has been running; 0 while none runs.
func (h *health) runningFor() time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.running.IsZero() {
		return 0
	}
	return time.Since(h.running)
}

func (h *health) setStalled(names []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stalled = names
}

func (h *health) stalledViews() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.stalled
}

// watchViews checks every CheckEvery that each view keeps up with its stream, until ctx ends. A view that
// lags while its stream holds messages, and has neither applied anything nor been caught up for StallAfter,
// is stalled. Views feed from ordered consumers, which recreate themselves when lost, so a stall is reported
// rather than acted on.
func (e *Engine) watchViews(ctx context.Context) {
	type progress struct {
		applied uint64
		since   time.Time // when the view last advanced or was caught up
	}
	seen := map[string]progress{}
	tick := time.NewTicker(e.opts.CheckEvery)
	defer tick.Stop()
	defer e.health.setStalled(nil)
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if !e.broker.Connected() {
			continue // "nats" is failing already, and a stream's state cannot be asked for
		}
		applied := e.store.Applied()
		var stalled []string
		for _, v := range e.views.all() {
			name := v.Name()
			p, ok := seen[name]
			if !ok || applied[name] != p.applied {
				p = progress{applied: applied[name], since: time.Now()}
			}
			infoCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
			s, err := e.broker.Stream(infoCtx, v.Stream()) // a STREAM.INFO request: its answer is current
			cancel()
			if err != nil {
				seen[name] = p
				continue
			}
			state := s.CachedInfo().State
			switch {
			case state.Msgs == 0 || p.applied >= state.LastSeq:
				p.since = time.Now()
			case time.Since(p.since) >= e.opts.StallAfter:
				stalled = append(stalled, name)
			}
			seen[name] = p
		}
		e.health.setStalled(stalled)
	}
}
