package delivery

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"
)

// rateSlack is how late a request may start after its reserved start. A start later than that is given up
// for a new one: late starts would bunch up with the next ones, and a one-second window could then hold more
// starts than the limit allows.
const rateSlack = 4 * time.Millisecond

// rateBatch is how far ahead, in starts, one reservation may reach: a burst reserves up to this share of a
// second's starts in one write, so a busy webhook costs a reservation per batch, not per delivery.
const rateBatch = 20 // a twentieth of a second

// slotReserver reserves request starts on a key shared by every instance (broker.Broker.ReserveSlots).
type slotReserver interface {
	ReserveSlots(ctx context.Context, key string, n int, interval time.Duration, notBefore time.Time) (time.Time, error)
}

// rateLimits spaces the request starts to each rate-limited webhook evenly, across every instance: each
// start is reserved in a key of the leases bucket that all instances share (compare-and-set), a few at a
// time, and a request waits for its reserved start. Starts are rateInterval apart, and a request never starts
// more than rateSlack after its own, so no one-second window holds more than the limit and a tenth.
type rateLimits struct {
	reserver slotReserver
	mu       sync.Mutex
	gates    map[string]*rateGate
}

// rateGate is one webhook's reserved starts on this instance.
type rateGate struct {
	mu    sync.Mutex // held while reserving, so one reservation at a time serves every waiting try
	rate  int
	slots []time.Time // reserved, ascending
	lead  time.Duration
}

func newRateLimits(r slotReserver) *rateLimits {
	return &rateLimits{reserver: r, gates: map[string]*rateGate{}}
}

// rateInterval is the spacing of starts for a limit of rate per second. A start may be up to rateSlack late,
// so a one-second window can catch the starts reserved over 1 s + rateSlack: floor((1s + slack)/interval) + 1
// of them. The spacing is 1/rate unless that could then exceed the limit and a tenth (low rates, where a
// tenth is less than one start); it then grows just enough.
func rateInterval(rate int) time.Duration {
	allowed := max(rate, int(math.Floor(1.1*float64(rate)+1e-9)))
	return max(time.Second/time.Duration(rate), (time.Second+rateSlack)/time.Duration(allowed)+1)
}

// gate returns the webhook's gate; next empties it of its reserved starts when the webhook's rate changed.
func (r *rateLimits) gate(key string) *rateGate {
	r.mu.Lock()
	defer r.mu.Unlock()
	g, ok := r.gates[key]
	if !ok {
		g = &rateGate{}
		r.gates[key] = g
	}
	return g
}

// forget drops the gate of a webhook with nothing left to send here.
func (r *rateLimits) forget(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.gates, key)
}

// next returns the next start reserved for this instance, reserving up to want more when none is left.
// Starts already past their slack are dropped unused.
func (r *rateLimits) next(ctx context.Context, key string, rate, want int) (time.Time, error) {
	g := r.gate(key)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.rate != rate {
		g.rate, g.slots = rate, nil
	}
	now := time.Now()
	for len(g.slots) > 0 && now.Sub(g.slots[0]) > rateSlack {
		g.slots = g.slots[1:]
	}
	if len(g.slots) == 0 {
		interval := rateInterval(rate)
		n := min(max(want, 1), max(rate/rateBatch, 1))
		asked := time.Now()
		first, err := r.reserver.ReserveSlots(ctx, "rate."+key, n, interval, asked.Add(g.lead+time.Millisecond))
		if err != nil {
			return time.Time{}, fmt.Errorf("reserve delivery starts: %w", err)
		}
		// The next reservation asks for starts at least a round trip ahead, so they are not late on arrival.
		g.lead = time.Duration(movingAverage(int64(g.lead), int64(time.Since(asked))))
		g.slots = make([]time.Time, n)
		for i := range g.slots {
			g.slots[i] = first.Add(time.Duration(i) * interval)
		}
	}
	s := g.slots[0]
	g.slots = g.slots[1:]
	return s, nil
}
