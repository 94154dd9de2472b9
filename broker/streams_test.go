package broker

import (
	"testing"
	"time"
)

// TestWindowsFollowWhoWrites checks that the users' duplicate window shapes only the streams written from
// outside, and the engine's own streams get the task window (within the attempts' age limit).
func TestWindowsFollowWhoWrites(t *testing.T) {
	s := Subjects{Prefix: DefaultPrefix}
	windows := func(o StreamOptions) map[string]time.Duration {
		got := map[string]time.Duration{}
		for _, cfg := range s.streamConfigs(o) {
			got[cfg.Name] = cfg.Duplicates
		}
		return got
	}
	got := windows(StreamOptions{DuplicateWindow: 24 * time.Hour, TaskWindow: 3 * time.Minute})
	for kind, want := range map[string]time.Duration{
		KindEvents: 24 * time.Hour, KindWebhooks: 24 * time.Hour, KindTokens: 24 * time.Hour,
		KindDeliveries: 3 * time.Minute, KindRetries: 3 * time.Minute, KindHeld: 3 * time.Minute,
		KindDiverted: 3 * time.Minute, KindJobs: 3 * time.Minute, KindAttempts: 3 * time.Minute,
	} {
		if got[s.StreamName(kind)] != want {
			t.Errorf("%s: window %s, want %s", kind, got[s.StreamName(kind)], want)
		}
	}
	if len(got) != 9 {
		t.Errorf("streams %v: a new stream needs its window checked here", got)
	}

	got = windows(StreamOptions{RetainAttempts: time.Minute})
	if got[s.StreamName(KindEvents)] != 2*time.Minute || got[s.StreamName(KindRetries)] != 2*time.Minute {
		t.Errorf("defaults: %v", got)
	}
	if w := got[s.StreamName(KindAttempts)]; w != time.Minute {
		t.Errorf("attempts kept 1 minute: window %s, want it within the age limit", w)
	}
}

// TestKindsNameEveryStream keeps Kinds in step with the streams EnsureStreams creates.
func TestKindsNameEveryStream(t *testing.T) {
	s := Subjects{Prefix: DefaultPrefix}
	configs := s.streamConfigs(StreamOptions{})
	kinds := Kinds()
	if len(kinds) != len(configs) {
		t.Fatalf("%d kinds for %d streams", len(kinds), len(configs))
	}
	for i, cfg := range configs {
		if cfg.Name != s.StreamName(kinds[i]) {
			t.Errorf("stream %d is %s, kind %s names %s", i, cfg.Name, kinds[i], s.StreamName(kinds[i]))
		}
	}
}
