package delivery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// fakeTrier records how many tries run at once, overall and per webhook, and holds each try until released.
type fakeTrier struct {
	release chan struct{} // a try's begin returns when it receives; nil: at once
	res     result
	err     error

	mu                sync.Mutex
	running, maxAll   int
	perWebhook, maxWh map[string]int
	begun             int
}

func (f *fakeTrier) begin(ctx context.Context, t *task, _ bool) (*concluding, result, error) {
	f.mu.Lock()
	f.begun++
	f.running++
	f.maxAll = max(f.maxAll, f.running)
	f.perWebhook[t.webhook]++
	f.maxWh[t.webhook] = max(f.maxWh[t.webhook], f.perWebhook[t.webhook])
	f.mu.Unlock()
	if f.release != nil {
		<-f.release
	}
	f.mu.Lock()
	f.running--
	f.perWebhook[t.webhook]--
	f.mu.Unlock()
	return &concluding{t: t}, resultDone, nil
}

func (f *fakeTrier) conclude(context.Context, *concluding) (result, error) { return f.res, f.err }

type fakeParker struct {
	mu     sync.Mutex
	parked []string // attempt locators
}

func (p *fakeParker) Schedule(_ context.Context, t *task, _ time.Time, _ string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.parked = append(p.parked, t.attempt)
	return nil
}

func testDispatcher(tries trier, parker parker, maxInFlight, perEndpoint int) *Dispatcher {
	return &Dispatcher{
		cfg:   Config{Timeout: time.Second, MaxInFlight: maxInFlight, MaxPerEndpoint: perEndpoint},
		tries: tries, parker: parker, metrics: NewMetrics(prometheus.NewRegistry()),
		log:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		global: make(chan struct{}, maxInFlight), lanes: map[string]*lane{},
	}
}

func testTask(webhook string, n int) *task {
	return &task{kind: kindEvent, tenant: "t", webhook: webhook, event: fmt.Sprintf("e%d", n), attempt: fmt.Sprintf("%s-a%d", webhook, n)}
}

func TestDispatcherAppliesTheLimitsToEveryCaller(t *testing.T) {
	tries := &fakeTrier{release: make(chan struct{}), perWebhook: map[string]int{}, maxWh: map[string]int{}}
	parker := &fakeParker{}
	d := testDispatcher(tries, parker, 4, 2)
	ctx := t.Context()

	var wg sync.WaitGroup
	acked := make(chan bool, 30)
	for i := range 15 {
		wh := fmt.Sprintf("w%d", i%3)
		if i%2 == 0 { // a waiting caller, as holds and jobs are
			wg.Go(func() {
				_, err := d.Deliver(ctx, testTask(wh, i), false)
				acked <- err == nil
			})
			continue
		}
		// A task handed over by the router or a consumer, settled through done.
		wg.Go(func() {
			d.dispatch(ctx, &job{t: testTask(wh, i), done: func(retry bool, _ time.Duration) { acked <- !retry }})
		})
	}
	// Let every try through, one at a time, until all have run.
	deadline := time.After(10 * time.Second)
	for done := 0; done < 15; {
		select {
		case tries.release <- struct{}{}:
		case ok := <-acked:
			if !ok {
				t.Fatal("a task was handed back")
			}
			done++
		case <-deadline:
			t.Fatalf("tries did not all end: %d begun", tries.begun)
		}
	}
	wg.Wait()
	tries.mu.Lock()
	defer tries.mu.Unlock()
	if tries.maxAll > 4 {
		t.Errorf("%d tries ran at once, limit 4", tries.maxAll)
	}
	for wh, n := range tries.maxWh {
		if n > 2 {
			t.Errorf("%d tries to %s ran at once, limit 2 per endpoint", n, wh)
		}
	}
	if tries.begun+len(parker.parked) != 15 {
		t.Errorf("%d tries and %d parked for 15 tasks", tries.begun, len(parker.parked))
	}
}

func TestDispatcherParksTheExcessOfASlowLaneButNeverAWaitingCaller(t *testing.T) {
	tries := &fakeTrier{release: make(chan struct{}), perWebhook: map[string]int{}, maxWh: map[string]int{}}
	parker := &fakeParker{}
	d := testDispatcher(tries, parker, 8, 1)
	d.latency = int64(time.Millisecond)
	// A lane whose attempts take 2 s among 1 ms ones, its slot busy and its queue full.
	slow := &lane{queue: make(chan *job, laneQueue), latency: int64(2 * time.Second), created: time.Now(), running: 1}
	for i := range laneQueue {
		slow.queue <- &job{t: testTask("slow", 100+i), done: func(bool, time.Duration) {}}
	}
	d.lanes["t/slow"] = slow

	settled := make(chan bool, 1)
	d.dispatch(t.Context(), &job{t: testTask("slow", 1), done: func(retry bool, _ time.Duration) { settled <- !retry }})
	if ok := <-settled; !ok || len(parker.parked) != 1 || parker.parked[0] != "slow-a1" {
		t.Fatalf("the slow lane's excess: acked %v, parked %v; want acked and parked", ok, parker.parked)
	}

	// A waiting caller's task waits for room instead.
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	_, err := d.Deliver(ctx, testTask("slow", 2), true)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Deliver to a full lane: %v, want it to wait until its context ends", err)
	}
	if len(parker.parked) != 1 {
		t.Fatalf("a waiting caller's task was parked: %v", parker.parked)
	}
}

func TestDeliverReturnsWhatBecameOfTheTry(t *testing.T) {
	boom := errors.New("record failed")
	for _, tc := range []struct {
		res result
		err error
	}{{resultHeld, nil}, {resultFailed, nil}, {resultDone, boom}} {
		d := testDispatcher(&fakeTrier{res: tc.res, err: tc.err, perWebhook: map[string]int{}, maxWh: map[string]int{}}, &fakeParker{}, 2, 1)
		res, err := d.Deliver(t.Context(), testTask("w", 1), false)
		if !errors.Is(err, tc.err) || (tc.err == nil && res != tc.res) {
			t.Errorf("Deliver = %v, %v; want %v, %v", res, err, tc.res, tc.err)
		}
	}
}

func TestStoppedDispatcherHandsTasksBack(t *testing.T) {
	d := testDispatcher(&fakeTrier{perWebhook: map[string]int{}, maxWh: map[string]int{}}, &fakeParker{}, 2, 1)
	d.stopped = true
	var retry bool
	d.dispatch(t.Context(), &job{t: testTask("w", 1), done: func(r bool, _ time.Duration) { retry = r }})
	if !retry {
		t.Error("a task dispatched while stopping was not handed back")
	}
	if _, err := d.Deliver(t.Context(), testTask("w", 2), false); !errors.Is(err, errStopping) {
		t.Errorf("Deliver while stopping: %v, want errStopping", err)
	}
}
