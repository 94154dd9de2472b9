package decide

import (
	"math"
	"time"
)

// Retry strategy types accepted by RetryDelay and NextRetry.
const (
	// StrategyLinear waits interval × k before retry k.
	StrategyLinear = "linear"
	// StrategyExponential waits interval × 2^(k-1) before retry k, backing
	// off quickly from an endpoint that stays down.
	StrategyExponential = "exponential"
)

// RetryDelay returns how long to wait, after the previous attempt failed,
// before retry k (k starts at 1). An unknown strategy, k < 1 or a
// non-positive interval yields 0 so that bad input can't schedule work in the
// past or wrap around; results that would overflow saturate at the largest
// Duration instead (only reachable far outside the configurable 1..10
// attempts and 1..86400 s interval).
func RetryDelay(strategyType string, interval time.Duration, k int) time.Duration {
	if k < 1 || interval <= 0 {
		return 0
	}
	switch strategyType {
	case StrategyLinear:
		return saturatingMul(interval, int64(k))
	case StrategyExponential:
		if k-1 >= 63 {
			return math.MaxInt64
		}
		return saturatingMul(interval, int64(1)<<(k-1))
	default:
		return 0
	}
}

// saturatingMul returns d × n for positive d and n, clamped to the largest
// Duration.
func saturatingMul(d time.Duration, n int64) time.Duration {
	if int64(d) > math.MaxInt64/n {
		return math.MaxInt64
	}
	return d * time.Duration(n)
}

// NextRetry returns when the next retry is due, given that retriesDone
// retries (not counting the first try) have already failed and the latest
// attempt failed at failedAt. ok is false when the retry budget is spent, and
// also for an unknown strategy or a negative retriesDone: scheduling an
// immediate retry on bad input could hammer the endpoint.
func NextRetry(strategyType string, interval time.Duration, attempts int, retriesDone int, failedAt time.Time) (due time.Time, ok bool) {
	if retriesDone < 0 || retriesDone >= attempts {
		return time.Time{}, false
	}
	if strategyType != StrategyLinear && strategyType != StrategyExponential {
		return time.Time{}, false
	}
	return failedAt.Add(RetryDelay(strategyType, interval, retriesDone+1)), true
}
