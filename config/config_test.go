package config

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func parse(t *testing.T, args []string, env map[string]string) (*Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c := Default()
	ServeFlags(fs, c)
	err := Parse(fs, c, args, func(k string) string { return env[k] })
	return c, err
}

func TestPrecedenceFlagsBeatEnvBeatFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "hookstream.json")
	if err := os.WriteFile(file, []byte(`{"http":"127.0.0.1:1111","data":"/from/file","replicas":3,"allow-private-destinations":true,"delivery-timeout":"2s"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := parse(t, []string{"--config", file, "--http", "127.0.0.1:3333"},
		map[string]string{"HOOKSTREAM_HTTP": "127.0.0.1:2222", "HOOKSTREAM_DATA": "/from/env", "HOOKSTREAM_ADMIN_TOKEN": "secret-admin-token"})
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTP != "127.0.0.1:3333" {
		t.Errorf("http = %q, want the flag's value", c.HTTP)
	}
	if c.Data != "/from/env" {
		t.Errorf("data = %q, want the environment's value", c.Data)
	}
	if c.Replicas != 3 || !c.AllowPrivateDestinations || c.DeliveryTimeout != 2*time.Second {
		t.Errorf("file values not applied: %+v", c)
	}
	if c.NATSListen != "127.0.0.1:4222" {
		t.Errorf("nats-listen = %q, want the default", c.NATSListen)
	}
	if c.AdminToken != "secret-admin-token" {
		t.Errorf("admin token not read from the environment")
	}
	for name, want := range map[string]string{"http": "flag", "config": "flag", "data": "HOOKSTREAM_DATA", "replicas": file, "nats-listen": ""} {
		if got := c.Sources[name]; got != want {
			t.Errorf("source of %s = %q, want %q", name, got, want)
		}
	}
	if err := c.Validate(); err != nil {
		t.Errorf("validate: %v", err)
	}
}

// TestDefaultsComeFromDefault checks that serve with no flag, environment or file is Default.
func TestDefaultsComeFromDefault(t *testing.T) {
	c, err := parse(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Errorf("parsed defaults %+v differ from Default() %+v", c, Default())
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Default() does not validate: %v", err)
	}
	if a, b := Default(), Default(); a == b {
		t.Error("Default returns a shared Config; callers change theirs")
	}
}

func TestConfigFileFromEnvironment(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c.json")
	if err := os.WriteFile(file, []byte(`{"log-format":"json"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := parse(t, nil, map[string]string{"HOOKSTREAM_CONFIG": file})
	if err != nil {
		t.Fatal(err)
	}
	if c.LogFormat != "json" {
		t.Errorf("log-format = %q, want json from the file named by HOOKSTREAM_CONFIG", c.LogFormat)
	}
}

func TestBadInputs(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"unknown flag", []string{"--nope"}, nil, "nope"},
		{"bad env value", nil, map[string]string{"HOOKSTREAM_REPLICAS": "many"}, "HOOKSTREAM_REPLICAS"},
		{"unknown file key", []string{"--config", write("a.json", `{"htp":"x"}`)}, nil, `"htp"`},
		{"file not an object", []string{"--config", write("b.json", `[1]`)}, nil, "JSON object"},
		{"missing file", []string{"--config", filepath.Join(dir, "none.json")}, nil, "config file"},
		{"stray argument", []string{"extra"}, nil, "extra"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(t, tc.args, tc.env)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	c, err := parse(t, []string{"--replicas", "0", "--log-format", "xml", "--http", "nonsense", "--sync", "sometimes", "--gc-percent", "5",
		"--views-release-interval", "-1s"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = c.Validate()
	for _, want := range []string{"--replicas", "--log-format", "--http", "--sync", "--gc-percent", "--views-release-interval"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("validate error %v does not mention %s", err, want)
		}
	}
}

// TestGCPercent checks serve's GC target: 50 unless told otherwise, 0 for Go's own, nothing in between.
func TestGCPercent(t *testing.T) {
	for _, c := range []struct {
		args    []string
		env     map[string]string
		want    int
		invalid bool
	}{
		{want: Default().GCPercent},
		{args: []string{"--gc-percent", "100"}, want: 100},
		{env: map[string]string{"HOOKSTREAM_GC_PERCENT": "0"}, want: 0},
		{args: []string{"--gc-percent", "9"}, want: 9, invalid: true},
		{args: []string{"--gc-percent", "-1"}, want: -1, invalid: true},
	} {
		cfg, err := parse(t, c.args, c.env)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.GCPercent != c.want {
			t.Errorf("%v %v: gc percent %d, want %d", c.args, c.env, cfg.GCPercent, c.want)
		}
		if err := cfg.Validate(); (err != nil) != c.invalid {
			t.Errorf("%v %v: validate = %v, want invalid %v", c.args, c.env, err, c.invalid)
		}
	}
	if got, ok := GCTarget(50, func(string) string { return "" }); !ok || got != 50 {
		t.Errorf("GCTarget = %d, %v; want 50, true", got, ok)
	}
	if _, ok := GCTarget(50, func(k string) string { return map[string]string{"GOGC": "200"}[k] }); ok {
		t.Error("GCTarget overrides GOGC from the environment")
	}
	if _, ok := GCTarget(0, func(string) string { return "" }); ok {
		t.Error("GCTarget sets a target for --gc-percent 0")
	}
}

// TestMemoryLimit checks serve's soft memory limit: none unless told, sizes with units or in bytes (from a
// config file's number too), nothing too small to run, and GOMEMLIMIT winning.
func TestMemoryLimit(t *testing.T) {
	for _, c := range []struct {
		args    []string
		env     map[string]string
		want    int64
		invalid bool
	}{
		{want: 0},
		{args: []string{"--memory-limit", "1GiB"}, want: 1 << 30},
		{args: []string{"--memory-limit", "200000000"}, want: 200000000},
		{args: []string{"--memory-limit", "64 MiB"}, want: 64 << 20},
		{env: map[string]string{"HOOKSTREAM_MEMORY_LIMIT": "512MiB"}, want: 512 << 20},
		{args: []string{"--memory-limit", "16MiB"}, want: 16 << 20, invalid: true},
	} {
		cfg, err := parse(t, c.args, c.env)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.MemoryLimit != c.want {
			t.Errorf("%v %v: memory limit %d, want %d", c.args, c.env, cfg.MemoryLimit, c.want)
		}
		err = cfg.Validate()
		if (err != nil) != c.invalid {
			t.Errorf("%v %v: validate = %v, want invalid %v", c.args, c.env, err, c.invalid)
		}
		if c.invalid && !strings.Contains(err.Error(), "--memory-limit") {
			t.Errorf("error %q does not name --memory-limit", err)
		}
	}
	file := filepath.Join(t.TempDir(), "c.json")
	if err := os.WriteFile(file, []byte(`{"memory-limit": 268435456, "retain-events-bytes": 10000000000}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if cfg, err := parse(t, []string{"--config", file}, nil); err != nil || cfg.MemoryLimit != 268435456 || cfg.RetainEventsBytes != 10000000000 {
		t.Errorf("byte counts as JSON numbers in a config file: %v, %+v", err, cfg)
	}
	for _, bad := range []string{"lots", "-5MiB", "1.5GiB", "12XB", "99999999999TiB"} {
		if _, err := parse(t, []string{"--memory-limit", bad}, nil); err == nil || !strings.Contains(err.Error(), "memory-limit") {
			t.Errorf("--memory-limit %q: err = %v, want one naming the flag", bad, err)
		}
	}
	if got := FormatByteSize(88 << 20); got != "88MiB" {
		t.Errorf("88 MiB formats as %q", got)
	}
	if got, ok := MemoryLimitTarget(1<<30, func(string) string { return "" }); !ok || got != 1<<30 {
		t.Errorf("MemoryLimitTarget = %d, %v; want 1GiB, true", got, ok)
	}
	if _, ok := MemoryLimitTarget(1<<30, func(k string) string { return map[string]string{"GOMEMLIMIT": "1GiB"}[k] }); ok {
		t.Error("MemoryLimitTarget overrides GOMEMLIMIT from the environment")
	}
	if _, ok := MemoryLimitTarget(0, func(string) string { return "" }); ok {
		t.Error("MemoryLimitTarget sets a limit for --memory-limit 0")
	}
}

func TestOTLPEndpointSources(t *testing.T) {
	for _, c := range []struct {
		name   string
		args   []string
		env    map[string]string
		want   string
		source string
	}{
		{"off by default", nil, nil, "", ""},
		{"flag", []string{"--otlp-endpoint", "http://127.0.0.1:4318"}, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://other:4318"},
			"http://127.0.0.1:4318", "flag"},
		{"own variable", nil, map[string]string{"HOOKSTREAM_OTLP_ENDPOINT": "http://a:4318", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://b:4318"},
			"http://a:4318", "HOOKSTREAM_OTLP_ENDPOINT"},
		{"traces variable as is", nil, map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/custom",
			"OTEL_EXPORTER_OTLP_ENDPOINT": "http://b:4318"}, "http://c:4318/custom", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"},
		{"base variable gets the signal path", nil, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://b:4318/otlp/"},
			"http://b:4318/otlp/v1/traces", "OTEL_EXPORTER_OTLP_ENDPOINT"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := parse(t, c.args, c.env)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.OTLPEndpoint != c.want || cfg.Sources["otlp-endpoint"] != c.source {
				t.Fatalf("endpoint %q from %q, want %q from %q", cfg.OTLPEndpoint, cfg.Sources["otlp-endpoint"], c.want, c.source)
			}
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
		})
	}
	cfg, _ := parse(t, []string{"--otlp-endpoint", "collector:4318"}, nil)
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "--otlp-endpoint") {
		t.Fatalf("a URL without scheme: %v", err)
	}
}
