// Package supervise runs a group of long-lived components side by side. A component whose run fails, returns
// early or fails its health check is restarted with exponential backoff; the group reports which components
// are down, and ends when its context ends or a component fails in a way no restart can heal.
package supervise

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// Permanent marks err as one no restart can heal (bad configuration, permission denied, a corrupt file): the
// group stops and Run returns it.
func Permanent(err error) error { return backoff.Permanent(err) }

// Component is one long-lived part of the group.
type Component struct {
	// Name names the component in logs and in Failing.
	Name string
	// Run runs until ctx ends. An error, or a return before ctx ends, restarts it after a backoff; an error
	// marked Permanent ends the group.
	Run func(ctx context.Context) error
	// Check, when set, is called every Options.CheckEvery while Run runs. An error means the run is stuck:
	// it is cancelled and restarted like a failed one.
	Check func(ctx context.Context) error
	// Up, when set, reports whether the run has come up (a connection made, a catch-up done): a run counts
	// as up only once it has lasted Options.Healthy and Up reports true. Without it, lasting is enough.
	Up func() bool
}

// Options tune a Group. Zero values take the defaults.
type Options struct {
	// InitialInterval is the first restart's wait (default 100 ms); each further one is half as long again,
	// up to MaxInterval (default 3 s), each randomized by ±50 %.
	InitialInterval, MaxInterval time.Duration
	// Healthy is how long a restarted run must last to count as up again and reset its backoff (default 1 s).
	Healthy time.Duration
	// CheckEvery is how often checks run (default 1 s).
	CheckEvery time.Duration
	// Log receives a line per failure and restart.
	Log *slog.Logger
}

// Group supervises components.
type Group struct {
	opts       Options
	components []Component

	mu      sync.Mutex
	failing map[string]error
}

// New returns a group of components.
func New(opts Options, components ...Component) *Group {
	if opts.InitialInterval <= 0 {
		opts.InitialInterval = 100 * time.Millisecond
	}
	if opts.MaxInterval <= 0 {
		opts.MaxInterval = 3 * time.Second
	}
	if opts.Healthy <= 0 {
		opts.Healthy = time.Second
	}
	if opts.CheckEvery <= 0 {
		opts.CheckEvery = time.Second
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &Group{opts: opts, components: components, failing: map[string]error{}}
}

// Run runs every component until ctx ends or one fails permanently, then waits for all of them to return.
// It returns the permanent failure, or nil.
func (g *Group) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for _, c := range g.components {
		wg.Go(func() {
			if err := g.supervise(ctx, c); err != nil {
				cancel(err)
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// Failing names the components that are down: failed and not yet up again for Options.Healthy.
func (g *Group) Failing() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	names := make([]string, 0, len(g.failing))
	for name := range g.failing {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

func (g *Group) setFailing(name string, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err == nil {
		delete(g.failing, name)
	} else {
		g.failing[name] = err
	}
}

// supervise runs c again and again until ctx ends; it returns c's permanent failure.
func (g *Group) supervise(ctx context.Context, c Component) error {
	b := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(g.opts.InitialInterval),
		backoff.WithMaxInterval(g.opts.MaxInterval),
		backoff.WithMaxElapsedTime(0),
	)
	log := g.opts.Log.With("component", c.Name)
	for restarts := 0; ; restarts++ {
		err := g.runOnce(ctx, c, b)
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			err = errors.New("returned before being stopped")
		}
		var permanent *backoff.PermanentError
		if errors.As(err, &permanent) {
			g.setFailing(c.Name, err)
			log.Error("component failed permanently; stopping", "err", permanent.Err)
			return fmt.Errorf("%s: %w", c.Name, permanent.Err)
		}
		g.setFailing(c.Name, err)
		wait := b.NextBackOff()
		log.Warn("component failed; restarting", "err", err, "retry_in", wait, "restarts", restarts+1)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// runOnce runs c until it returns or its check fails. A run that stays up for Options.Healthy (and reports
// Up) clears the component's failure and resets its backoff.
func (g *Group) runOnce(ctx context.Context, c Component, b backoff.BackOff) error {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Run(runCtx) }()
	healthy := time.NewTimer(g.opts.Healthy)
	defer healthy.Stop()
	var checks <-chan time.Time
	if c.Check != nil {
		tick := time.NewTicker(g.opts.CheckEvery)
		defer tick.Stop()
		checks = tick.C
	}
	for {
		select {
		case err := <-done:
			return err
		case <-healthy.C:
			if c.Up != nil && !c.Up() {
				healthy.Reset(g.opts.CheckEvery)
				continue
			}
			g.setFailing(c.Name, nil)
			b.Reset()
		case <-checks:
			if err := c.Check(runCtx); err != nil && runCtx.Err() == nil {
				cancel()
				<-done
				return fmt.Errorf("check: %w", err)
			}
		}
	}
}
