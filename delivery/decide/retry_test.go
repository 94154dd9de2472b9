package decide_test

import (
	"math"
	"testing"
	"time"

	"github.com/hookstream/hookstream/delivery/decide"
)

func TestRetryDelay(t *testing.T) {
	const day = 86400 * time.Second
	tests := []struct {
		name     string
		strategy string
		interval time.Duration
		k        int
		want     time.Duration
	}{
		{"linear k=1", "linear", 10 * time.Second, 1, 10 * time.Second},
		{"linear k=2", "linear", 10 * time.Second, 2, 20 * time.Second},
		{"linear k=3", "linear", 10 * time.Second, 3, 30 * time.Second},
		{"linear k=10", "linear", 10 * time.Second, 10, 100 * time.Second},
		{"linear min interval", "linear", time.Second, 1, time.Second},
		{"linear max interval max k", "linear", day, 10, 10 * day},
		{"exponential k=1", "exponential", 10 * time.Second, 1, 10 * time.Second},
		{"exponential k=2", "exponential", 10 * time.Second, 2, 20 * time.Second},
		{"exponential k=3", "exponential", 10 * time.Second, 3, 40 * time.Second},
		{"exponential k=4", "exponential", 10 * time.Second, 4, 80 * time.Second},
		{"exponential k=10", "exponential", 10 * time.Second, 10, 5120 * time.Second},
		{"exponential max interval max k", "exponential", day, 10, 512 * day},
		{"exponential max interval max k in seconds", "exponential", day, 10, 44236800 * time.Second},
		{"exponential k=0", "exponential", time.Second, 0, 0},
		{"linear k=0", "linear", time.Second, 0, 0},
		{"negative k", "linear", time.Second, -1, 0},
		{"zero interval", "linear", 0, 3, 0},
		{"negative interval", "exponential", -time.Second, 3, 0},
		{"unknown strategy", "fibonacci", time.Second, 3, 0},
		{"empty strategy", "", time.Second, 1, 0},
		{"strategy is case sensitive", "Linear", time.Second, 1, 0},
		{"exponential saturates", "exponential", day, 64, math.MaxInt64},
		{"exponential saturates at shift limit", "exponential", time.Nanosecond, 64, math.MaxInt64},
		{"exponential largest shift", "exponential", time.Nanosecond, 63, 1 << 62},
		{"exponential saturates by multiplication", "exponential", day, 30, math.MaxInt64},
		{"exponential huge k", "exponential", time.Second, math.MaxInt, math.MaxInt64},
		{"linear saturates", "linear", day, math.MaxInt, math.MaxInt64},
		{"linear exact max", "linear", math.MaxInt64, 1, math.MaxInt64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := decide.RetryDelay(tt.strategy, tt.interval, tt.k); got != tt.want {
				t.Errorf("RetryDelay(%q, %v, %d) = %v, want %v", tt.strategy, tt.interval, tt.k, got, tt.want)
			}
		})
	}
}

// Every configurable combination must be exact and positive: an overflow
// would wrap negative and schedule the retry in the past.
func TestRetryDelayConfigurableRangeExact(t *testing.T) {
	for _, interval := range []time.Duration{time.Second, 59 * time.Second, time.Hour, 86400 * time.Second} {
		for k := 1; k <= 10; k++ {
			lin := decide.RetryDelay("linear", interval, k)
			if want := time.Duration(k) * interval; lin != want || lin <= 0 {
				t.Errorf("linear(%v, %d) = %v, want %v", interval, k, lin, want)
			}
			exp := decide.RetryDelay("exponential", interval, k)
			want := interval
			for range k - 1 {
				want *= 2
			}
			if exp != want || exp <= 0 {
				t.Errorf("exponential(%v, %d) = %v, want %v", interval, k, exp, want)
			}
		}
	}
}

func TestNextRetry(t *testing.T) {
	failedAt := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name        string
		strategy    string
		interval    time.Duration
		attempts    int
		retriesDone int
		want        time.Time
		wantOK      bool
	}{
		{"first retry linear", "linear", time.Minute, 3, 0, failedAt.Add(time.Minute), true},
		{"second retry linear", "linear", time.Minute, 3, 1, failedAt.Add(2 * time.Minute), true},
		{"last retry linear", "linear", time.Minute, 3, 2, failedAt.Add(3 * time.Minute), true},
		{"budget spent linear", "linear", time.Minute, 3, 3, time.Time{}, false},
		{"over budget", "linear", time.Minute, 3, 7, time.Time{}, false},
		{"first retry exponential", "exponential", time.Minute, 5, 0, failedAt.Add(time.Minute), true},
		{"third retry exponential", "exponential", time.Minute, 5, 2, failedAt.Add(4 * time.Minute), true},
		{"last retry exponential", "exponential", time.Minute, 5, 4, failedAt.Add(16 * time.Minute), true},
		{"budget spent exponential", "exponential", time.Minute, 5, 5, time.Time{}, false},
		{"max config last retry", "exponential", 86400 * time.Second, 10, 9, failedAt.Add(512 * 86400 * time.Second), true},
		{"single attempt", "linear", time.Second, 1, 0, failedAt.Add(time.Second), true},
		{"single attempt spent", "linear", time.Second, 1, 1, time.Time{}, false},
		{"zero attempts", "linear", time.Second, 0, 0, time.Time{}, false},
		{"negative retries done", "linear", time.Second, 3, -1, time.Time{}, false},
		{"unknown strategy", "constant", time.Second, 3, 0, time.Time{}, false},
		{"empty strategy", "", time.Second, 3, 0, time.Time{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := decide.NextRetry(tt.strategy, tt.interval, tt.attempts, tt.retriesDone, failedAt)
			if ok != tt.wantOK || !got.Equal(tt.want) {
				t.Errorf("NextRetry = %v, %v; want %v, %v", got, ok, tt.want, tt.wantOK)
			}
			if ok && !got.After(failedAt) {
				t.Errorf("due %v not after failure %v", got, failedAt)
			}
		})
	}
}

// Saturated delays must still land in the future rather than wrap around.
func TestNextRetrySaturatedStaysInFuture(t *testing.T) {
	failedAt := time.Now()
	due, ok := decide.NextRetry("exponential", 86400*time.Second, 100, 80, failedAt)
	if !ok || !due.After(failedAt) {
		t.Errorf("NextRetry = %v, %v; want a time after %v", due, ok, failedAt)
	}
}
