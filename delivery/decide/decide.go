// Package decide says what follows a delivery attempt under a webhook's failure handling: nothing more, a
// retry at a given time, or the final failure's steps. It is pure: no I/O, no clock of its own.
package decide

import (
	"time"

	"github.com/hookstream/hookstream"
)

// Action is what follows an attempt.
type Action int

const (
	// Delivered: the endpoint accepted the event.
	Delivered Action = iota
	// Failed: the attempt failed with a failure that matches no trigger; it is recorded and nothing follows.
	Failed
	// Retry: the attempt failed with a matching failure and a retry is left; it is due at Decision.RetryAt.
	Retry
	// FinalFailure: the attempt failed with a matching failure and no retry is left; Decision.Divert,
	// Suspend and Alert say which steps follow.
	FinalFailure
)

// String names the action for logs and tests.
func (a Action) String() string {
	switch a {
	case Delivered:
		return "delivered"
	case Failed:
		return "failed"
	case Retry:
		return "retry"
	case FinalFailure:
		return "final failure"
	}
	return "unknown"
}

// Attempt is what the decision needs of an attempt.
type Attempt struct {
	// StatusCode is the endpoint's answer, 0 when none came back.
	StatusCode int
	// Try is 0 for the first try and k for the k-th retry.
	Try int
	// Ended is when the attempt's request ended: retries are counted from there.
	Ended time.Time
	// RetryAfter is the wait the answer asked for with Retry-After, 0 for none. It counts only on a 429 or
	// 503 answer.
	RetryAfter time.Duration
	// Random is a number in [0, 1) that picks the jitter factor; it is given, not drawn here, so that the
	// decision is reproducible.
	Random float64
}

// Decision is what follows an attempt.
type Decision struct {
	Action Action
	// Trigger is the entry of the webhook's triggers that the failure matched ("" when none did).
	Trigger string
	// RetryAt is when the retry is due (Retry only).
	RetryAt time.Time
	// Divert, Suspend and Alert are the final failure's steps (FinalFailure only).
	Divert, Suspend, Alert bool
}

// Next decides what follows attempt a under failure handling fh.
func Next(a Attempt, fh hookstream.FailureHandling) Decision {
	if Succeeded(a.StatusCode) {
		return Decision{Action: Delivered}
	}
	trigger, ok := MatchTrigger(fh.Triggers, a.StatusCode)
	if !ok {
		return Decision{Action: Failed}
	}
	if rs := fh.RetryStrategy; rs != nil {
		if due, ok := NextRetry(rs.Type, time.Duration(rs.Interval)*time.Second, rs.Attempts, a.Try, a.Ended); ok {
			due = a.Ended.Add(Jittered(due.Sub(a.Ended), rs.Jitter, a.Random))
			if until, ok := PauseUntil(a); ok && until.After(due) {
				due = until
			}
			return Decision{Action: Retry, Trigger: trigger, RetryAt: due}
		}
	}
	return Decision{Action: FinalFailure, Trigger: trigger, Divert: fh.Divert, Suspend: fh.Suspend,
		Alert: fh.AlertEndpoint != nil}
}
