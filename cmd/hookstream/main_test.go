package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookstream/hookstream/config"
	"github.com/hookstream/hookstream/engine"
	"github.com/hookstream/hookstream/httpapi"
)

const tenant = "6f1c5f3e-0d7e-4c55-9a36-2a3f1b2c9d10"

// testConfig returns serve's defaults on free loopback ports in a temp folder, with a short delivery timeout
// and few deliveries in flight.
func testConfig(t *testing.T) *config.Config {
	c := config.Default()
	c.HTTP, c.NATSListen, c.Data = "127.0.0.1:0", "127.0.0.1:0", t.TempDir()
	c.DeliveryTimeout, c.DuplicateWindow, c.LogLevel = time.Second, time.Minute, "warn"
	c.MaxInFlight, c.MaxInFlightPerEndpoint = 8, 2
	c.AdminToken = "adm_cli_test_token_0123"
	return c
}

func startEngine(t *testing.T) *engine.Engine {
	t.Helper()
	cfg := testConfig(t)
	e, err := engine.Start(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Stop(context.Background()) })
	return e
}

func TestPublishPrintsTheEventResponse(t *testing.T) {
	e := startEngine(t)
	file := filepath.Join(t.TempDir(), "data.json")
	if err := os.WriteFile(file, []byte(`{"policy":"P-9"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, data := range []string{`{"policy":"P-9"}`, "@" + file} {
		var out, errOut bytes.Buffer
		code := run([]string{"publish", "--nats", e.NATSURL(), "--tenant", tenant, "--type", "policy.issue", "--data", data,
			"--request-id", "cli-1"}, &out, &errOut, func(string) string { return "" })
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut.String())
		}
		var ev map[string]any
		if err := json.Unmarshal(out.Bytes(), &ev); err != nil {
			t.Fatalf("output %q: %v", out.String(), err)
		}
		if ev["type"] != "policy.issue" || ev["tenantLocator"] != tenant || ev["requestId"] != "cli-1" ||
			len(ev["locator"].(string)) != 26 || ev["data"].(map[string]any)["policy"] != "P-9" {
			t.Fatalf("EventResponse %s", out.String())
		}
	}
}

func TestPublishRefusesBadInput(t *testing.T) {
	e := startEngine(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--tenant", "nope", "--type", "a.b", "--data", "{}"}, "tenantLocator"},
		{[]string{"--tenant", strings.ToUpper(tenant), "--type", "a.b", "--data", "{}"}, "lowercase"},
		{[]string{"--tenant", tenant, "--type", "a..b", "--data", "{}"}, "type"},
		{[]string{"--tenant", tenant, "--type", "a.b", "--data", "[1]"}, "data"},
		{[]string{"--tenant", tenant, "--type", "a.b", "--data", "@/does/not/exist"}, "--data"},
		{[]string{"--type", "a.b", "--data", "{}"}, "--tenant"},
		{[]string{"--tenant", tenant, "--type", "a.b", "--data", `{"x":"` + strings.Repeat("x", 1<<20) + `"}`}, "1 MiB"},
	} {
		var out, errOut bytes.Buffer
		code := run(append([]string{"publish", "--nats", e.NATSURL()}, tc.args...), &out, &errOut, func(string) string { return "" })
		if code == 0 || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want an error naming %q", tc.args, code, errOut.String(), tc.want)
		}
	}
}

func TestUnknownCommandAndVersion(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"frobnicate"}, &out, &errOut, os.Getenv); code != 2 || !strings.Contains(errOut.String(), "unknown command") {
		t.Fatalf("exit %d, %q", code, errOut.String())
	}
	out.Reset()
	if code := run([]string{"version"}, &out, &errOut, os.Getenv); code != 0 || !strings.Contains(out.String(), engine.Version) {
		t.Fatalf("version: exit %d, %q", code, out.String())
	}
}

func TestOpenAPICommand(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"openapi"}, &out, &errOut, os.Getenv); code != 0 || !bytes.Equal(out.Bytes(), httpapi.OpenAPI()) {
		t.Fatalf("openapi: exit %d, %d bytes, stderr %q", code, out.Len(), errOut.String())
	}
	if !strings.Contains(usage, "hookstream openapi") {
		t.Fatal("the usage does not list openapi")
	}
	if code := run([]string{"openapi", "extra"}, &out, &errOut, os.Getenv); code != 2 {
		t.Fatalf("openapi extra: exit %d, want 2", code)
	}
}
