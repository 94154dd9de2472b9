package delivery

import (
	"sync"
	"testing"
	"time"

	"github.com/hookstream/hookstream/broker"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// settledMsg records how a routed event was settled.
type settledMsg struct {
	mu      sync.Mutex
	settles []string
	delay   time.Duration
}

func (m *settledMsg) settle(how string, delay time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.settles = append(m.settles, how)
	m.delay = delay
	return nil
}

func (m *settledMsg) Ack() error                         { return m.settle("ack", 0) }
func (m *settledMsg) Nak() error                         { return m.settle("nak", 0) }
func (m *settledMsg) NakWithDelay(d time.Duration) error { return m.settle("nak", d) }
func (m *settledMsg) Term() error                        { return m.settle("term", 0) }
func (m *settledMsg) InProgress() error                  { return nil }
func (m *settledMsg) Subject() string                    { return "hookstream.events.t.x" }
func (m *settledMsg) Data() []byte                       { return nil }
func (m *settledMsg) Headers() nats.Header               { return nil }
func (m *settledMsg) Metadata() (*jetstream.MsgMetadata, error) {
	return &jetstream.MsgMetadata{}, nil
}

// taskEnd is how one of an event's tasks ended.
type taskEnd struct {
	retry bool
	delay time.Duration
}

func TestRouterSettlesAnEventWhenItsLastTaskIsDone(t *testing.T) {
	cases := []struct {
		name      string
		tasks     []taskEnd
		want      string
		wantDelay time.Duration
	}{
		{name: "every task done: acked once", tasks: []taskEnd{{}, {}, {}}, want: "ack"},
		{name: "one task to try again: handed back after the longest delay",
			tasks: []taskEnd{{}, {true, time.Second}, {true, 3 * time.Second}, {}},
			want:  "nak", wantDelay: 3 * time.Second},
		{name: "stopping: handed back at once", tasks: []taskEnd{{true, 0}, {}}, want: "nak"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := &Router{metrics: NewMetrics(prometheus.NewRegistry()), inFlight: map[broker.Msg]*routedEvent{}}
			m := &settledMsg{}
			r.inFlight[m] = &routedEvent{left: len(tc.tasks)}
			for i, task := range tc.tasks {
				if len(m.settles) != 0 {
					t.Fatalf("settled %v before task %d of %d was done", m.settles, i+1, len(tc.tasks))
				}
				r.taskDone(m, task.retry, task.delay)
			}
			if len(m.settles) != 1 || m.settles[0] != tc.want || m.delay != tc.wantDelay {
				t.Fatalf("settled %v after %s, want one %s after %s", m.settles, m.delay, tc.want, tc.wantDelay)
			}
			if len(r.inFlight) != 0 {
				t.Errorf("the settled event is still in flight")
			}
		})
	}
}
