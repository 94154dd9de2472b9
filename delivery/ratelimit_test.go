package delivery

import (
	"context"
	"math"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestRateIntervalKeepsEveryWindowWithinATenth places starts at their worst for a window: the first as late
// as allowed, the rest on time, and counts what one second from the first holds. It also holds the spacing
// to the limit: from ten per second up, starts come exactly 1/rate apart.
func TestRateIntervalKeepsEveryWindowWithinATenth(t *testing.T) {
	for _, rate := range []int{1, 2, 3, 5, 7, 9, 10, 11, 19, 20, 21, 50, 99, 100, 250, 1000, 9999, 10000} {
		interval := rateInterval(rate)
		allowed := max(rate, int(math.Floor(1.1*float64(rate)+1e-9)))
		first := rateSlack // the window opens with a late start
		count := 1
		for k := 1; time.Duration(k)*interval < first+time.Second; k++ {
			count++
		}
		if count > allowed {
			t.Errorf("rate %d: a window holds %d starts, want at most %d (interval %s)", rate, count, allowed, interval)
		}
		if rate >= 10 && interval != time.Second/time.Duration(rate) {
			t.Errorf("rate %d: interval %s, want 1/rate: %s", rate, interval, time.Second/time.Duration(rate))
		}
		if got := float64(time.Second) / float64(interval); got < 0.95*float64(rate) {
			t.Errorf("rate %d: %.2f starts per second", rate, got)
		}
	}
}

// sharedSlots is an in-memory stand-in for the broker's shared rate keys.
type sharedSlots struct {
	mu    sync.Mutex
	next  map[string]time.Time
	calls int
}

func (s *sharedSlots) ReserveSlots(_ context.Context, key string, n int, interval time.Duration, notBefore time.Time) (time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	first := s.next[key]
	if first.Before(notBefore) {
		first = notBefore
	}
	s.next[key] = first.Add(time.Duration(n) * interval)
	return first, nil
}

// TestRateLimitsShareOneKeyAcrossInstances takes starts through two instances' limits on one shared key:
// the starts handed out never come closer than the interval, and a backlog reserves them in batches.
func TestRateLimitsShareOneKeyAcrossInstances(t *testing.T) {
	shared := &sharedSlots{next: map[string]time.Time{}}
	a, b := newRateLimits(shared), newRateLimits(shared)
	const rate = 400
	var starts []time.Time
	for i := range 200 {
		limits := a
		if i%3 == 0 {
			limits = b
		}
		s, err := limits.next(t.Context(), "t/w", rate, 50)
		if err != nil {
			t.Fatal(err)
		}
		starts = append(starts, s)
	}
	slices.SortFunc(starts, func(x, y time.Time) int { return x.Compare(y) })
	for i := 1; i < len(starts); i++ {
		if gap := starts[i].Sub(starts[i-1]); gap < rateInterval(rate) {
			t.Fatalf("starts %d and %d are %s apart, want at least %s", i-1, i, gap, rateInterval(rate))
		}
	}
	if shared.calls > 200/(rate/rateBatch)+4 {
		t.Errorf("%d reservations for 200 starts, want batches of %d", shared.calls, rate/rateBatch)
	}
}
