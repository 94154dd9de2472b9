package supervise

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

func fast() Options {
	return Options{InitialInterval: time.Millisecond, MaxInterval: 20 * time.Millisecond, Healthy: 50 * time.Millisecond,
		CheckEvery: 5 * time.Millisecond}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestRestartsWithBackoff checks that a failing component is restarted, reported while down, and reported up
// again once a run lasts.
func TestRestartsWithBackoff(t *testing.T) {
	var runs atomic.Int32
	var starts []time.Time
	opts := fast()
	opts.InitialInterval, opts.MaxInterval = 10*time.Millisecond, time.Second
	g := New(opts, Component{Name: "flaky", Run: func(ctx context.Context) error {
		starts = append(starts, time.Now())
		if runs.Add(1) <= 5 {
			return errors.New("boom")
		}
		<-ctx.Done()
		return nil
	}}, Component{Name: "steady", Run: func(ctx context.Context) error { <-ctx.Done(); return nil }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	waitUntil(t, "the flaky component reported", func() bool { return slices.Equal(g.Failing(), []string{"flaky"}) || runs.Load() > 5 })
	waitUntil(t, "six runs", func() bool { return runs.Load() == 6 })
	waitUntil(t, "the flaky component up again", func() bool { return len(g.Failing()) == 0 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	// The fifth wait is at least half of 1.5⁴ times the first interval; the first at most 1.5 times it.
	first, last := starts[1].Sub(starts[0]), starts[5].Sub(starts[4])
	if last < 25*time.Millisecond || last < first {
		t.Errorf("waits did not grow: first %s, last %s", first, last)
	}
}

// TestPermanentEndsGroup checks that a permanent failure stops every component and is returned.
func TestPermanentEndsGroup(t *testing.T) {
	var stopped atomic.Bool
	bad := errors.New("permission denied")
	g := New(fast(),
		Component{Name: "broken", Run: func(context.Context) error { return Permanent(bad) }},
		Component{Name: "other", Run: func(ctx context.Context) error { <-ctx.Done(); stopped.Store(true); return nil }})
	err := g.Run(context.Background())
	if !errors.Is(err, bad) {
		t.Fatalf("Run: %v, want %v", err, bad)
	}
	if !stopped.Load() {
		t.Error("the other component was not stopped")
	}
	if !slices.Equal(g.Failing(), []string{"broken"}) {
		t.Errorf("failing %v", g.Failing())
	}
}

// TestStopEndsEverything checks that ending the context stops every component, also one waiting to restart.
func TestStopEndsEverything(t *testing.T) {
	opts := fast()
	opts.InitialInterval, opts.MaxInterval = time.Hour, time.Hour
	var running atomic.Int32
	g := New(opts,
		Component{Name: "a", Run: func(ctx context.Context) error { running.Add(1); <-ctx.Done(); return nil }},
		Component{Name: "b", Run: func(ctx context.Context) error { running.Add(1); <-ctx.Done(); return nil }},
		Component{Name: "waiting", Run: func(context.Context) error { return errors.New("down") }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	waitUntil(t, "components running", func() bool { return running.Load() == 2 && len(g.Failing()) == 1 })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after the context ended")
	}
}

// TestCheckRestartsStuckRun checks that a failing check cancels the run and restarts it.
func TestCheckRestartsStuckRun(t *testing.T) {
	var runs atomic.Int32
	var broken atomic.Bool
	broken.Store(true)
	g := New(fast(), Component{Name: "stuck",
		Run: func(ctx context.Context) error {
			if runs.Add(1) > 1 {
				broken.Store(false)
			}
			<-ctx.Done()
			return nil
		},
		Check: func(context.Context) error {
			if broken.Load() {
				return errors.New("consumer gone")
			}
			return nil
		}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	waitUntil(t, "a restart", func() bool { return runs.Load() >= 2 })
	waitUntil(t, "up again", func() bool { return len(g.Failing()) == 0 })
	cancel()
	<-done
}

// TestUpGatesRecovery checks that a run that lasts but does not report Up stays failing and keeps its
// backoff, and counts as up once it reports Up.
func TestUpGatesRecovery(t *testing.T) {
	var runs atomic.Int32
	var up atomic.Bool
	g := New(fast(), Component{Name: "slow",
		Run: func(ctx context.Context) error {
			if runs.Add(1) == 1 {
				return errors.New("first try fails")
			}
			<-ctx.Done()
			return nil
		},
		Up: up.Load})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	waitUntil(t, "the second run", func() bool { return runs.Load() == 2 })
	time.Sleep(3 * fast().Healthy) // lasting alone must not be enough
	if !slices.Equal(g.Failing(), []string{"slow"}) {
		t.Fatalf("failing %v while not up", g.Failing())
	}
	up.Store(true)
	waitUntil(t, "up", func() bool { return len(g.Failing()) == 0 })
	cancel()
	<-done
}
