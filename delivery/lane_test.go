package delivery

import (
	"testing"
	"time"
)

func TestLaneSlownessIsRelative(t *testing.T) {
	ms := int64(time.Millisecond)
	cases := []struct {
		name    string
		lane    int64 // the lane's average attempt time
		average int64 // the instance's
		slow    bool
	}{
		{"a 2 s endpoint among 2 ms ones", 2000 * ms, 2 * ms, true},
		{"a 150 ms endpoint among 2 ms ones", 150 * ms, 2 * ms, true},
		{"every endpoint slowed by a saturated machine", 60 * ms, 50 * ms, false},
		{"fast, though 4x the average", 8 * ms, 2 * ms, false},
		{"the only lane, slow", 2000 * ms, 2000 * ms, false},
	}
	for _, c := range cases {
		l := &lane{latency: c.lane, created: time.Now()}
		if got := l.slow(c.average); got != c.slow {
			t.Errorf("%s: slow = %v, want %v", c.name, got, c.slow)
		}
	}
	// Before any attempt has completed, the lane's age stands in for its latency.
	young := &lane{created: time.Now()}
	old := &lane{created: time.Now().Add(-time.Second)}
	if young.slow(2*ms) || !old.slow(2*ms) {
		t.Errorf("unknown latency: young slow %v, second-old slow %v", young.slow(2*ms), old.slow(2*ms))
	}
}

func TestDrainTimeAndMovingAverage(t *testing.T) {
	// 16 running and 8 parked ahead on 16 slots of 100 ms: one and a half rounds.
	l := &lane{queue: make(chan *job, 32), running: 16, latency: int64(100 * time.Millisecond), created: time.Now()}
	if got := l.drainTime(16, 8); got != 150*time.Millisecond {
		t.Errorf("drain time %s, want 150ms", got)
	}
	if got := movingAverage(0, 80); got != 80 {
		t.Errorf("first sample: %d", got)
	}
	if got := movingAverage(80, 160); got != 90 {
		t.Errorf("moving average of 80 and 160: %d, want 90 (weight 1/8)", got)
	}
}

func TestTaskWindowCoversARedelivery(t *testing.T) {
	for _, tc := range []struct{ timeout, want time.Duration }{
		{2 * time.Second, 2 * time.Minute},    // short timeouts keep the 2-minute floor
		{15 * time.Second, 2 * time.Minute},   // serve's default: ack wait 55 s + two rounds 30 s + 30 s = 115 s
		{30 * time.Second, 190 * time.Second}, // ack wait 100 s + two rounds 60 s + 30 s
	} {
		if got := TaskWindow(tc.timeout); got != tc.want {
			t.Errorf("timeout %s: window %s, want %s", tc.timeout, got, tc.want)
		}
		if redelivered := taskAckWait(tc.timeout) + laneQueue*tc.timeout; TaskWindow(tc.timeout) <= redelivered {
			t.Errorf("timeout %s: window %s does not cover a redelivered task's %s", tc.timeout, TaskWindow(tc.timeout), redelivered)
		}
	}
}
