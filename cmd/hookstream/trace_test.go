package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// The trace a producer gives hookstream publish is kept with the event, and replay shows it.
func TestPublishKeepsTheTraceReplayShowsIt(t *testing.T) {
	e := startReplayEngine(t)
	const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	var out, errOut bytes.Buffer
	if code := run([]string{"publish", "--nats", e.NATSURL(), "--tenant", tenant, "--type", "policy.issue", "--data", `{}`,
		"--traceparent", traceparent, "--tracestate", "rojo=1"}, &out, &errOut, noEnv); code != 0 {
		t.Fatalf("publish: exit %d: %s", code, errOut.String())
	}
	out.Reset()
	if code := run([]string{"replay", "--nats", e.NATSURL(), "--stream", "events"}, &out, &errOut, noEnv); code != 0 {
		t.Fatalf("replay: exit %d: %s", code, errOut.String())
	}
	var line struct {
		Traceparent string `json:"traceparent"`
		Tracestate  string `json:"tracestate"`
	}
	if err := json.Unmarshal(out.Bytes(), &line); err != nil {
		t.Fatalf("%s: %v", out.String(), err)
	}
	if line.Traceparent != traceparent || line.Tracestate != "rojo=1" {
		t.Fatalf("replay shows %q %q", line.Traceparent, line.Tracestate)
	}

	errOut.Reset()
	if code := run([]string{"publish", "--nats", e.NATSURL(), "--tenant", tenant, "--type", "policy.issue", "--data", `{}`,
		"--traceparent", "nope"}, &out, &errOut, noEnv); code == 0 || !strings.Contains(errOut.String(), "--traceparent") {
		t.Fatalf("an invalid --traceparent: exit %d, %q", code, errOut.String())
	}
}
