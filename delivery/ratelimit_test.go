package delivery

import (
	"context"
	"math"
	"sync"
	"testing"
	"time"
)

// TestRateIntervalKeepsEveryWindowWithinATenth places starts at their worst: each up to rateSlack late, the
// late ones bunched against the next on time, and counts the most any one-second window holds.
func TestRateIntervalKeepsEveryWindowWithinATenth(t *testing.T) {
	for _, rate := range []int{1, 2, 3, 5, 7, 9, 10, 11, 19, 20, 21, 50, 99, 100, 1000, 9999, 10000} {
		interval := rateInterval(rate)
		allowed := max(rate, int(math.Floor(1.1*float64(rate)+1e-9)))
		n := 3*rate + 3
		starts := make([]time.Duration, n)
		for i := range starts {
			starts[i] = time.Duration(i) * interval
			if i%2 == 0 {
				starts[i] += rateSlack // every other start as late as allowed
			}
		}
		most := 0
		for i := range starts {
			count := 0
			for j := i; j < n && starts[j] < starts[i]+time.Second; j++ {
				count++
			}
			most = max(most, count)
		}
		if most > allowed {
			t.Errorf("rate %d: a window holds %d starts, want at most %d (interval %s)", rate, most, allowed, interval)
		}
		// Spacing costs no more than the slack per start.
		if interval > time.Second/time.Duration(rate)+rateSlack {
			t.Errorf("rate %d: interval %s, want at most 1/rate + slack", rate, interval)
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
	seen := map[time.Time]bool{}
	for _, s := range starts {
		if seen[s] {
			t.Fatalf("start %s handed out twice", s)
		}
		seen[s] = true
	}
	if shared.calls > 200/(rate/rateBatch)+4 {
		t.Errorf("%d reservations for 200 starts, want batches of %d", shared.calls, rate/rateBatch)
	}
}
