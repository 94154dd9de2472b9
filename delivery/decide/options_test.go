package decide_test

import (
	"math"
	"testing"
	"time"

	"github.com/hookstream/hookstream"
	"github.com/hookstream/hookstream/delivery/decide"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := []struct {
		value string
		want  time.Duration
		ok    bool
	}{
		{"", 0, false},
		{"  ", 0, false},
		{"0", 0, true},
		{"7", 7 * time.Second, true},
		{" 7 ", 7 * time.Second, true},
		{"3600", time.Hour, true},
		{"3601", time.Hour, true},
		{"99999999999999999999999", time.Hour, true},
		{"-5", 0, false},
		{"1.5", 0, false},
		{"7s", 0, false},
		{"soon", 0, false},
		{"Fri, 02 Jan 2026 03:04:15 GMT", 10 * time.Second, true},
		{"Friday, 02-Jan-26 03:04:15 GMT", 10 * time.Second, true},
		{"Fri Jan  2 03:04:15 2026", 10 * time.Second, true},
		{"Fri, 02 Jan 2026 05:04:05 GMT", time.Hour, true},
		{"Fri, 02 Jan 2026 03:00:00 GMT", 0, true},
		{"Fri, 32 Jan 2026 03:04:15 GMT", 0, false},
	}
	for _, c := range cases {
		t.Run(c.value, func(t *testing.T) {
			got, ok := decide.ParseRetryAfter(c.value, now)
			if got != c.want || ok != c.ok {
				t.Errorf("ParseRetryAfter(%q) = %v, %v; want %v, %v", c.value, got, ok, c.want, c.ok)
			}
		})
	}
	// A date between two seconds is rounded up: never retried before it.
	if got, _ := decide.ParseRetryAfter("Fri, 02 Jan 2026 03:04:15 GMT", now.Add(300*time.Millisecond)); got != 10*time.Second {
		t.Errorf("date rounded to %v, want 10s", got)
	}
}

func TestNextRetryAfter(t *testing.T) {
	ended := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	linear := func(attempts int) hookstream.FailureHandling {
		return hookstream.FailureHandling{Triggers: []string{"4xx", "5xx"},
			RetryStrategy: &hookstream.RetryStrategy{Type: hookstream.RetryLinear, Interval: 10, Attempts: attempts}}
	}
	cases := []struct {
		name       string
		code, try  int
		retryAfter time.Duration
		fh         hookstream.FailureHandling
		action     decide.Action
		at         time.Time
	}{
		{"429 later than the strategy moves the retry", 429, 0, 60 * time.Second, linear(3), decide.Retry, ended.Add(60 * time.Second)},
		{"503 later than the strategy moves the retry", 503, 0, 60 * time.Second, linear(3), decide.Retry, ended.Add(60 * time.Second)},
		{"sooner than the strategy changes nothing", 429, 1, 5 * time.Second, linear(3), decide.Retry, ended.Add(20 * time.Second)},
		{"capped at an hour", 429, 0, 5 * time.Hour, linear(3), decide.Retry, ended.Add(time.Hour)},
		{"other codes' Retry-After is ignored", 500, 0, 60 * time.Second, linear(3), decide.Retry, ended.Add(10 * time.Second)},
		{"404 with Retry-After is ignored", 404, 0, 60 * time.Second, linear(3), decide.Retry, ended.Add(10 * time.Second)},
		{"no retry left: never an extra one", 429, 3, 60 * time.Second, linear(3), decide.FinalFailure, time.Time{}},
		{"no strategy: no retry", 503, 0, 60 * time.Second, hookstream.FailureHandling{Triggers: []string{"5xx"}}, decide.FinalFailure, time.Time{}},
		{"no Retry-After: the strategy", 429, 0, 0, linear(3), decide.Retry, ended.Add(10 * time.Second)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := decide.Next(decide.Attempt{StatusCode: c.code, Try: c.try, Ended: ended, RetryAfter: c.retryAfter}, c.fh)
			if d.Action != c.action || !d.RetryAt.Equal(c.at) {
				t.Errorf("Next = %v at %v, want %v at %v", d.Action, d.RetryAt, c.action, c.at)
			}
		})
	}
}

func TestPauseUntil(t *testing.T) {
	ended := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := []struct {
		code int
		wait time.Duration
		ok   bool
		want time.Time
	}{
		{429, 30 * time.Second, true, ended.Add(30 * time.Second)},
		{503, 2 * time.Hour, true, ended.Add(time.Hour)},
		{500, 30 * time.Second, false, time.Time{}},
		{429, 0, false, time.Time{}},
	}
	for _, c := range cases {
		got, ok := decide.PauseUntil(decide.Attempt{StatusCode: c.code, Ended: ended, RetryAfter: c.wait})
		if ok != c.ok || !got.Equal(c.want) {
			t.Errorf("PauseUntil(%d, %v) = %v, %v; want %v, %v", c.code, c.wait, got, ok, c.want, c.ok)
		}
	}
}

func TestNextJitter(t *testing.T) {
	ended := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	fh := func(jitter float64) hookstream.FailureHandling {
		return hookstream.FailureHandling{Triggers: []string{"5xx"},
			RetryStrategy: &hookstream.RetryStrategy{Type: hookstream.RetryExponential, Interval: 10, Attempts: 5, Jitter: jitter}}
	}
	cases := []struct {
		name       string
		jitter, u  float64
		try        int
		code       int
		retryAfter time.Duration
		want       time.Duration
	}{
		{"no jitter", 0, 0.9, 0, 500, 0, 10 * time.Second},
		{"lowest factor", 0.5, 0, 0, 500, 0, 5 * time.Second},
		{"middle factor", 0.5, 0.5, 0, 500, 0, 10 * time.Second},
		{"three quarters up the range", 0.5, 0.75, 0, 500, 0, 12500 * time.Millisecond},
		{"a fifth of jitter on the third retry", 0.2, 0.25, 2, 500, 0, 36 * time.Second},
		{"Retry-After later than the jittered time wins", 0.5, 0, 0, 503, 8 * time.Second, 8 * time.Second},
		{"the jittered time later than Retry-After wins", 0.5, 0.9, 0, 503, 8 * time.Second, 14 * time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := decide.Next(decide.Attempt{StatusCode: c.code, Try: c.try, Ended: ended, Random: c.u, RetryAfter: c.retryAfter}, fh(c.jitter))
			if d.Action != decide.Retry {
				t.Fatalf("action %v, want retry", d.Action)
			}
			if got := d.RetryAt.Sub(ended); got != c.want {
				t.Errorf("delay %v, want %v", got, c.want)
			}
		})
	}
}

func TestJitteredBounds(t *testing.T) {
	for _, u := range []float64{0, 0.1, 0.5, 0.9, 0.9999999, -1, 2} {
		for _, j := range []float64{0, 0.1, 0.5} {
			d := decide.Jittered(time.Minute, j, u)
			lo, hi := time.Duration(float64(time.Minute)*(1-j)), time.Duration(float64(time.Minute)*(1+j))
			if d < lo || d > hi {
				t.Errorf("Jittered(1m, %v, %v) = %v, outside [%v, %v]", j, u, d, lo, hi)
			}
		}
	}
	if got := decide.Jittered(math.MaxInt64, 0.5, 0.99); got != math.MaxInt64 {
		t.Errorf("no saturation: %v", got)
	}
}

func TestUniform(t *testing.T) {
	seen := map[float64]bool{}
	for _, s := range []string{"a", "b", "01J00000000000000000000001", "01J00000000000000000000002"} {
		u := decide.Uniform(s)
		if u < 0 || u >= 1 {
			t.Errorf("Uniform(%q) = %v, outside [0, 1)", s, u)
		}
		if u != decide.Uniform(s) {
			t.Errorf("Uniform(%q) is not reproducible", s)
		}
		seen[u] = true
	}
	if len(seen) != 4 {
		t.Errorf("seeds collide: %v", seen)
	}
}
