package projections

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/hookstream/hookstream"
	"github.com/hookstream/hookstream/tracing"
)

// The events view's own encoder must write exactly what json.Marshal writes, or a rebuild would change the
// view's bytes.
func TestEncodeStoredMatchesMarshal(t *testing.T) {
	at := time.Date(2026, 12, 3, 9, 30, 0, 123456789, time.UTC)
	trace := tracing.Derive("evt_x")
	datas := []string{
		`{"a":1}`, `{"a":"two words","b":[1,2,{"c":null}]}`, `{ "a": 1 }`, "{\"a\":\n1}", `{"a":"<b>&amp;"}`,
		`{"a":"\" quoted \\\" "}`, `{"a":"\u2028"}`, "{\"a\":\"\u2028\u2029\"}", `{"a":"é ü"}`, `{"a":"tab\tin"}`,
		`{"a":"\\"}`, `{"a":"x\\","b":" "}`, "{\"a\":\"\x7f\"}",
	}
	for _, d := range datas {
		for _, e := range []hookstream.Event{
			{Locator: "evt_1", Type: "a.b", Tenant: "t", Timestamp: at, RequestID: "req-1", Data: json.RawMessage(d), Trace: trace},
			{Locator: "evt_2", Type: "a.b", Tenant: "t", Timestamp: at, Data: json.RawMessage(d)},
			{Locator: "evt_<3>", Type: "a&b", Tenant: "t\"", Timestamp: at.In(time.FixedZone("x", 3600)), RequestID: "r\u00e9", Data: json.RawMessage(d),
				Trace: tracing.Context{State: "k=v,<x>"}},
			{Locator: "evt_4", Type: "a.b", Tenant: "t", Timestamp: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), Data: json.RawMessage(d)},
		} {
			s := storedEvent{Event: &e, Traceparent: e.Trace.Traceparent(), Tracestate: e.Trace.State}
			want, wantErr := json.Marshal(s)
			got, err := encodeStored(s)
			if _, plain := appendStored(nil, &s); !plain && e.Locator == "evt_1" && (d == datas[0] || d == datas[1]) {
				t.Errorf("data %q, event %s: not written by appendStored", d, e.Locator)
			}
			if (err != nil) != (wantErr != nil) || !bytes.Equal(got, want) {
				t.Errorf("data %q, event %s: got %s (%v), want %s (%v)", d, e.Locator, got, err, want, wantErr)
			}
		}
	}
}

// FuzzEncodeStored holds the events view's encoder to json.Marshal on any valid event data and any strings.
func FuzzEncodeStored(f *testing.F) {
	f.Add(`{"a":1}`, "a.b", "req-1", "k=v")
	f.Add(`{"a":"<\u2028>"}`, "a&b", "", "")
	f.Add("{\"a\" :\t[1, \"x\\\"\"]}", "t\"", "r\u00e9", "x,<y>")
	at := time.Date(2026, 12, 3, 9, 30, 0, 123456789, time.UTC)
	f.Fuzz(func(t *testing.T, data, eventType, requestID, state string) {
		if !json.Valid([]byte(data)) {
			return
		}
		e := hookstream.Event{Locator: "evt_1", Type: eventType, Tenant: "t", Timestamp: at, RequestID: requestID,
			Data: json.RawMessage(data), Trace: tracing.Context{State: state}}
		s := storedEvent{Event: &e, Traceparent: e.Trace.Traceparent(), Tracestate: e.Trace.State}
		want, wantErr := json.Marshal(s)
		got, err := encodeStored(s)
		if (err != nil) != (wantErr != nil) || !bytes.Equal(got, want) {
			t.Fatalf("got %s (%v), want %s (%v)", got, err, want, wantErr)
		}
	})
}
