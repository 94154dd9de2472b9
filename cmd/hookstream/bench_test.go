package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestBenchPrintsJSON(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run([]string{"bench", "--events", "300", "--webhooks", "2", "--json"}, &out, &errOut, func(string) string { return "" })
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var res struct {
		Deliveries          int64   `json:"deliveries"`
		DeliveriesPerSecond float64 `json:"deliveriesPerSecond"`
		Ratio               float64 `json:"ratio"`
		Latency             *struct {
			P50, P90, P99, Max float64
		} `json:"latencyMs"`
		Baseline *struct {
			Requests    int64   `json:"requests"`
			Concurrency int     `json:"concurrency"`
			PerSecond   float64 `json:"perSecond"`
		} `json:"baseline"`
		Server *struct {
			PeakRSSBytes int64   `json:"peakRssBytes"`
			CPUSeconds   float64 `json:"cpuSeconds"`
		} `json:"server"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("output %q: %v", out.String(), err)
	}
	if res.Deliveries != 600 || res.DeliveriesPerSecond <= 0 {
		t.Errorf("deliveries %d at %.0f/s, want 600", res.Deliveries, res.DeliveriesPerSecond)
	}
	if res.Ratio <= 0 || res.Baseline == nil || res.Baseline.Requests != 600 || res.Baseline.Concurrency != 32 || res.Baseline.PerSecond <= 0 {
		t.Errorf("ratio %g, baseline %+v", res.Ratio, res.Baseline)
	}
	if l := res.Latency; l == nil || l.P50 <= 0 || l.P50 > l.P90 || l.P90 > l.P99 || l.P99 > l.Max {
		t.Errorf("latency %+v", l)
	}
	if s := res.Server; s == nil || s.PeakRSSBytes <= 0 || s.CPUSeconds <= 0 {
		t.Errorf("server %+v", s)
	}
	// Not a terminal: no progress bar.
	if strings.Contains(errOut.String(), "\r") || strings.Contains(errOut.String(), "deliveries") {
		t.Errorf("stderr: %q", errOut.String())
	}
}

func TestBenchTable(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run([]string{"bench", "--events", "100", "--webhooks", "1", "--payload", "64"}, &out, &errOut, func(string) string { return "" })
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	for _, want := range []string{"deliveries/s", "raw HTTP", "ratio", "latency p50 / p90 / p99 / max", "server peak RSS", "100 events × 64 B"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}

func TestBenchRefusesBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--no-such-flag"},
		{"--events", "x"},
		{"--events", "0"},
		{"--timeout", "0s"},
		{"--rounds", "0"},
		{"--payload", "10"},
		{"--webhooks", "0"},
		{"--max-in-flight", "4", "--max-in-flight-per-endpoint", "8"},
		{"--http", "http://203.0.113.7:8080", "--nats", "nats://127.0.0.1:4222", "--token", "t"},
		{"--http", "http://127.0.0.1:8080"},
		{"--nats", "nats://127.0.0.1:4222"},
		{"stray"},
	} {
		var out, errOut bytes.Buffer
		code := run(append([]string{"bench"}, args...), &out, &errOut, func(string) string { return "" })
		if code == 0 {
			t.Errorf("%v: exit 0", args)
		}
		if out.Len() != 0 || errOut.Len() == 0 {
			t.Errorf("%v: stdout %q, stderr %q", args, out.String(), errOut.String())
		}
	}
}
