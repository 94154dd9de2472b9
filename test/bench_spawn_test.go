package test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// TestBenchSpawnsServe runs `hookstream bench --spawn`: the bench starts serve as a child process, measures
// it from outside (its own VmHWM), and stops it.
func TestBenchSpawnsServe(t *testing.T) {
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "bench", "--spawn", "--webhooks", "2", "--events", "200", "--payload", "100", "--rounds", "1",
		"--max-in-flight", "16", "--max-in-flight-per-endpoint", "4", "--serve-args", "--views-release-interval 100ms", "--json").Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("bench --spawn: %v\n%s", err, tail(stderr, 4000))
	}
	var res struct {
		Engine     string  `json:"engine"`
		Deliveries int64   `json:"deliveries"`
		Ratio      float64 `json:"ratio"`
		Server     struct {
			PeakRSSBytes int64  `json:"peakRssBytes"`
			Source       string `json:"source"`
		} `json:"server"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if !strings.HasPrefix(res.Engine, "spawned: ") || res.Deliveries != 400 || res.Ratio <= 0 || res.Server.PeakRSSBytes <= 0 ||
		!strings.Contains(res.Server.Source, "VmHWM") {
		t.Fatalf("result %+v", res)
	}
}
