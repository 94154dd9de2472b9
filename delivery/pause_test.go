package delivery

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/hookstream/hookstream"
)

// dueParker records when each parked task is due.
type dueParker struct {
	mu  sync.Mutex
	due map[string]time.Time
}

func (p *dueParker) Schedule(_ context.Context, t *task, due time.Time, _ string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.due[t.attempt] = due
	return nil
}

// retryAfterTrier answers every try with 429 and Retry-After: 1, as an endpoint that asks for a pause.
type retryAfterTrier struct{ fakeTrier }

func (f *retryAfterTrier) begin(ctx context.Context, t *task, fromHold bool) (*concluding, result, error) {
	c, res, err := f.fakeTrier.begin(ctx, t, fromHold)
	one := 1
	c.a = &hookstream.Attempt{Locator: t.attempt, StatusCode: 429, Created: time.Now(), RetryAfter: &one}
	return c, res, err
}

func TestDispatcherPausesAWebhookThatAsksForIt(t *testing.T) {
	tries := &retryAfterTrier{fakeTrier{perWebhook: map[string]int{}, maxWh: map[string]int{}}}
	parker := &dueParker{due: map[string]time.Time{}}
	d := testDispatcher(tries, parker, 4, 1)
	ctx := t.Context()

	if _, err := d.Deliver(ctx, testTask("w", 0), false); err != nil {
		t.Fatal(err)
	}
	until := d.pausedUntil("t/w")
	if until.IsZero() {
		t.Fatal("the webhook is not paused after a 429 with Retry-After")
	}

	// A task nobody waits for is parked until the pause ends, without a try.
	acked := make(chan bool, 1)
	d.dispatch(ctx, &job{t: testTask("w", 1), done: func(retry bool, _ time.Duration) { acked <- !retry }})
	if ok := <-acked; !ok {
		t.Fatal("the paused task was handed back instead of parked")
	}
	parker.mu.Lock()
	due, parked := parker.due["w-a1"]
	parker.mu.Unlock()
	if !parked || due.Before(until) {
		t.Fatalf("parked %v until %v, want until %v or later", parked, due, until)
	}

	// Another webhook is not slowed.
	if _, err := d.Deliver(ctx, testTask("other", 2), false); err != nil {
		t.Fatal(err)
	}

	// A caller that waits is held back until the pause ends, then tried.
	if _, err := d.Deliver(ctx, testTask("w", 3), false); err != nil {
		t.Fatal(err)
	}
	if now := time.Now(); now.Before(until) {
		t.Errorf("a waiting caller's try ran at %v, before the pause's end %v", now, until)
	}
	tries.mu.Lock()
	defer tries.mu.Unlock()
	if tries.begun != 3 {
		t.Errorf("%d tries, want 3 (the parked task is not tried)", tries.begun)
	}
}
