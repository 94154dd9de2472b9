package decide

import (
	"hash/fnv"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// MaxRetryAfter caps the wait an endpoint may ask for with Retry-After.
const MaxRetryAfter = time.Hour

// HonoursRetryAfter reports whether an answer with this status code may set the next retry's time with
// Retry-After: 429 (too many requests) and 503 (unavailable); other codes' Retry-After is ignored.
func HonoursRetryAfter(statusCode int) bool {
	return statusCode == http.StatusTooManyRequests || statusCode == http.StatusServiceUnavailable
}

// ParseRetryAfter reads a Retry-After header value, delta-seconds or an HTTP-date, as a wait from now, the
// time the answer came. A date is rounded up to whole seconds so a retry never comes before it; a date in
// the past is no wait. ok is false for an empty or malformed value.
func ParseRetryAfter(value string, now time.Time) (wait time.Duration, ok bool) {
	value = strings.TrimSpace(value)
	if value == "" {
		return 0, false
	}
	if value[0] >= '0' && value[0] <= '9' {
		n, err := strconv.ParseUint(value, 10, 63)
		if err != nil {
			if ne, isNum := err.(*strconv.NumError); isNum && ne.Err == strconv.ErrRange {
				return MaxRetryAfter, true // far beyond the cap anyway
			}
			return 0, false
		}
		return time.Duration(min(n, uint64(MaxRetryAfter/time.Second))) * time.Second, true
	}
	at, err := http.ParseTime(value)
	if err != nil {
		return 0, false
	}
	d := at.Sub(now)
	if d <= 0 {
		return 0, true
	}
	return min((d + time.Second - 1).Truncate(time.Second), MaxRetryAfter), true
}

// PauseUntil returns until when new tries to the webhook wait after attempt a: the time its 429 or 503
// answer asked for with Retry-After, capped at MaxRetryAfter from the answer. ok is false when the answer
// asked for no wait.
func PauseUntil(a Attempt) (until time.Time, ok bool) {
	if !HonoursRetryAfter(a.StatusCode) || a.RetryAfter <= 0 {
		return time.Time{}, false
	}
	return a.Ended.Add(min(a.RetryAfter, MaxRetryAfter)), true
}

// Jittered multiplies delay by a factor in [1-jitter, 1+jitter] picked by u, a number in [0, 1): the
// randomization of an exponential backoff, with the random number given so that a decision can be made
// again with the same result. The result saturates at the largest Duration.
func Jittered(delay time.Duration, jitter, u float64) time.Duration {
	if jitter <= 0 || delay <= 0 {
		return delay
	}
	u = min(max(u, 0), 1)
	d := float64(delay) * (1 - jitter + 2*jitter*u)
	if d >= math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(d)
}

// Uniform derives a number in [0, 1) from seed: the same seed always gives the same number, different seeds
// spread evenly. Seeded with an attempt's locator, it makes that attempt's jitter reproducible.
func Uniform(seed string) float64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(seed))
	return float64(h.Sum64()>>11) / (1 << 53)
}
