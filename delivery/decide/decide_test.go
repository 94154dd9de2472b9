package decide_test

import (
	"testing"
	"time"

	"github.com/hookstream/hookstream"
	"github.com/hookstream/hookstream/delivery/decide"
)

func TestNext(t *testing.T) {
	ended := time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC)
	linear3 := &hookstream.RetryStrategy{Type: hookstream.RetryLinear, Interval: 10, Attempts: 3}
	exp2 := &hookstream.RetryStrategy{Type: hookstream.RetryExponential, Interval: 5, Attempts: 2}
	alert := &hookstream.Endpoint{URL: "https://alerts.example/hook"}
	all := []string{"4xx", "5xx", "timeout"}
	cases := []struct {
		name string
		code int
		try  int
		fh   hookstream.FailureHandling
		want decide.Decision
	}{
		{name: "2xx is delivered", code: 204, fh: hookstream.FailureHandling{Triggers: all, RetryStrategy: linear3},
			want: decide.Decision{Action: decide.Delivered}},
		{name: "a failure no trigger matches is only failed", code: 404, fh: hookstream.FailureHandling{Triggers: []string{"5xx"}, RetryStrategy: linear3, Divert: true},
			want: decide.Decision{Action: decide.Failed}},
		{name: "timeout matches the timeout trigger", code: 0, fh: hookstream.FailureHandling{Triggers: []string{"timeout"}},
			want: decide.Decision{Action: decide.FinalFailure, Trigger: "timeout"}},
		{name: "3xx is a failure of class 3xx", code: 301, fh: hookstream.FailureHandling{Triggers: []string{"3xx"}},
			want: decide.Decision{Action: decide.FinalFailure, Trigger: "3xx"}},
		{name: "an exact code wins over its class", code: 503, fh: hookstream.FailureHandling{Triggers: []string{"5xx", "503"}},
			want: decide.Decision{Action: decide.FinalFailure, Trigger: "503"}},
		{name: "first linear retry after interval", code: 500, try: 0, fh: hookstream.FailureHandling{Triggers: all, RetryStrategy: linear3},
			want: decide.Decision{Action: decide.Retry, Trigger: "5xx", RetryAt: ended.Add(10 * time.Second)}},
		{name: "third linear retry after 3 intervals", code: 500, try: 2, fh: hookstream.FailureHandling{Triggers: all, RetryStrategy: linear3},
			want: decide.Decision{Action: decide.Retry, Trigger: "5xx", RetryAt: ended.Add(30 * time.Second)}},
		{name: "second exponential retry after 2 intervals", code: 0, try: 1, fh: hookstream.FailureHandling{Triggers: all, RetryStrategy: exp2},
			want: decide.Decision{Action: decide.Retry, Trigger: "timeout", RetryAt: ended.Add(10 * time.Second)}},
		{name: "no retry left: final failure with its steps", code: 500, try: 3,
			fh:   hookstream.FailureHandling{Triggers: all, RetryStrategy: linear3, Divert: true, Suspend: true, AlertEndpoint: alert},
			want: decide.Decision{Action: decide.FinalFailure, Trigger: "5xx", Divert: true, Suspend: true, Alert: true}},
		{name: "no retry strategy: the first failure is final", code: 429, fh: hookstream.FailureHandling{Triggers: all, Divert: true},
			want: decide.Decision{Action: decide.FinalFailure, Trigger: "4xx", Divert: true}},
		{name: "no triggers: nothing follows a failure", code: 500, fh: hookstream.FailureHandling{RetryStrategy: linear3, Suspend: true},
			want: decide.Decision{Action: decide.Failed}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := decide.Next(decide.Attempt{StatusCode: tc.code, Try: tc.try, Ended: ended}, tc.fh)
			if got != tc.want {
				t.Fatalf("Next(code %d, try %d) = %+v (%s), want %+v (%s)", tc.code, tc.try, got, got.Action, tc.want, tc.want.Action)
			}
		})
	}
}
