// Package config builds one validated Config from command-line flags, environment variables and an optional
// JSON file. Flags beat the environment, the environment beats the file, and the file beats the defaults.
package config

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// EnvPrefix prefixes every environment variable: --nats-listen is HOOKSTREAM_NATS_LISTEN.
const EnvPrefix = "HOOKSTREAM_"

// Config is everything `hookstream serve` can be told.
type Config struct {
	HTTP                     string
	Data                     string
	NATS                     string
	NATSListen               string
	NATSCreds                string
	Replicas                 int
	AllowPrivateDestinations bool
	DeliveryTimeout          time.Duration
	AdminTokenFile           string
	LogFormat                string
	LogLevel                 string
	SubjectPrefix            string
	DuplicateWindow          time.Duration
	LeaseTTL                 time.Duration
	Sync                     string
	MaxInFlight              int
	MaxInFlightPerEndpoint   int
	RateLimit                float64
	Pprof                    string
	RetainEvents             time.Duration
	RetainAttempts           time.Duration
	RetainEventsBytes        int64
	RetainAttemptsBytes      int64
	// OTLPEndpoint is the OTLP/HTTP collector spans are exported to: a base URL (spans go to its /v1/traces)
	// or the full URL of its traces path. Empty: no spans are exported; deliveries carry trace context anyway.
	OTLPEndpoint string
	// GCPercent is the Go GC's target for the serve process; 0 leaves Go's own. GOGC, when set in the
	// environment, wins. The engine does not read it: the target is the process's, set by the command.
	GCPercent int
	// MemoryLimit is the Go runtime's soft memory limit for the serve process, in bytes; 0 sets none.
	// GOMEMLIMIT, when set in the environment, wins. Like GCPercent, the command sets it, not the engine.
	MemoryLimit int64
	// ViewsReleaseInterval is how often the views file's mapped pages are given back to the kernel (0: never).
	ViewsReleaseInterval time.Duration
	// RetryBuckets tunes which retries wait in buckets rather than in schedules of their own. It has no flag:
	// tests shorten it.
	RetryBuckets RetryBuckets
	// Sources says where each setting not left at its default came from, by flag name: "flag", its
	// environment variable, or the --config file's path. Parse fills it; nil when every setting is a default.
	Sources map[string]string
	// AdminToken comes only from the environment (HOOKSTREAM_ADMIN_TOKEN): a secret on a command line would
	// show in the process list.
	AdminToken string
}

// Default returns every setting's default: the defaults of serve's flags, and of the settings without a
// flag. Serve's flag set, the bench's in-process engine and the tests all start from it.
func Default() *Config {
	return &Config{
		HTTP:                   "127.0.0.1:8080",
		Data:                   "./data",
		NATSListen:             "127.0.0.1:4222",
		Replicas:               1,
		DeliveryTimeout:        15 * time.Second,
		LogFormat:              "text",
		LogLevel:               "info",
		SubjectPrefix:          "hookstream",
		DuplicateWindow:        2 * time.Minute,
		LeaseTTL:               30 * time.Second,
		Sync:                   "interval",
		MaxInFlight:            256,
		MaxInFlightPerEndpoint: 16,
		// The heap may grow half the live heap between collections, not all of it (Go's 100). Most of a busy
		// engine's live heap is the embedded server's block buffers, which hold no pointers: collecting more
		// often costs little marking, and the heap's peak follows the target (docs/performance.md, "The GC
		// target").
		GCPercent: 50,
		// No soft memory limit: most of a busy engine's live heap is the embedded server's block caches, which
		// no collection frees, so a limit near them makes the GC run without pause (docs/operations.md,
		// "Memory").
		MemoryLimit: 0,
		// The views file's pages that batches wrote and read back leave the resident set each second; the
		// kernel keeps them in its page cache, and a read maps them again at the cost of a minor fault.
		ViewsReleaseInterval: time.Second,
		// Tracing exports nothing unless told where to: spans cost nothing then.
		OTLPEndpoint: "",
		// Retries due over 10 minutes ahead wait in 1-minute buckets, each promoted 3 minutes before it begins.
		RetryBuckets: RetryBuckets{After: 10 * time.Minute, Span: time.Minute, Lead: 3 * time.Minute},
	}
}

// EnvName returns the environment variable for a flag name.
func EnvName(flagName string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// ServeFlags registers serve's flags on fs, with Default's values as their defaults, into c. Settings without
// a flag keep c's values: start c from Default.
func ServeFlags(fs *flag.FlagSet, c *Config) {
	d := Default()
	fs.StringVar(&c.HTTP, "http", d.HTTP, "HTTP listen address for the API")
	fs.StringVar(&c.Data, "data", d.Data, "data folder: embedded JetStream store, views.db, generated admin token")
	fs.StringVar(&c.NATS, "nats", d.NATS, "external NATS server URL(s), comma-separated; empty runs an embedded server")
	fs.StringVar(&c.NATSListen, "nats-listen", d.NATSListen, "listen address of the embedded NATS server, for producers")
	fs.StringVar(&c.NATSCreds, "nats-creds", d.NATSCreds, "NATS credentials file for --nats")
	fs.IntVar(&c.Replicas, "replicas", d.Replicas, "stream replicas (1 for the embedded server; 3 on a 3-node cluster)")
	fs.BoolVar(&c.AllowPrivateDestinations, "allow-private-destinations", d.AllowPrivateDestinations, "allow endpoints on loopback, private and link-local addresses")
	fs.DurationVar(&c.DeliveryTimeout, "delivery-timeout", d.DeliveryTimeout, "how long one delivery attempt may take")
	fs.StringVar(&c.AdminTokenFile, "admin-token-file", d.AdminTokenFile, "file holding the admin token (else HOOKSTREAM_ADMIN_TOKEN, else one is generated in the data folder)")
	fs.StringVar(&c.LogFormat, "log-format", d.LogFormat, "log format: text or json")
	fs.StringVar(&c.LogLevel, "log-level", d.LogLevel, "log level: debug, info, warn or error")
	fs.StringVar(&c.SubjectPrefix, "subject-prefix", d.SubjectPrefix, "prefix of every NATS subject and stream name")
	fs.DurationVar(&c.DuplicateWindow, "duplicate-window", d.DuplicateWindow, "how long Nats-Msg-Id and Idempotency-Key dedupe an event")
	fs.DurationVar(&c.LeaseTTL, "lease-ttl", d.LeaseTTL, "how long a dead instance's FIFO deliveries and releases wait before another instance takes them")
	fs.IntVar(&c.MaxInFlight, "max-in-flight", d.MaxInFlight, "delivery attempts in flight at once on this instance")
	fs.IntVar(&c.MaxInFlightPerEndpoint, "max-in-flight-per-endpoint", d.MaxInFlightPerEndpoint, "delivery attempts in flight at once to one endpoint URL")
	fs.StringVar(&c.Pprof, "pprof", d.Pprof, "address to serve net/http/pprof on (e.g. 127.0.0.1:6060); empty: off")
	fs.Float64Var(&c.RateLimit, "rate-limit", d.RateLimit, "API requests per second allowed per token (0: unlimited); over it, 429 with Retry-After")
	fs.DurationVar(&c.RetainEvents, "retain-events", d.RetainEvents, "how long events are kept (0: forever), e.g. 720h; enforced by JetStream")
	fs.DurationVar(&c.RetainAttempts, "retain-attempts", d.RetainAttempts, "how long delivery records are kept (0: forever); enforced by JetStream")
	fs.Int64Var(&c.RetainEventsBytes, "retain-events-bytes", d.RetainEventsBytes, "size cap of the events stream in bytes (0: none); the oldest go first")
	fs.Int64Var(&c.RetainAttemptsBytes, "retain-attempts-bytes", d.RetainAttemptsBytes, "size cap of the attempts stream in bytes (0: none); the oldest go first")
	fs.StringVar(&c.Sync, "sync", d.Sync, "JetStream fsync policy of the embedded server: always or interval")
	fs.StringVar(&c.OTLPEndpoint, "otlp-endpoint", d.OTLPEndpoint, "OTLP/HTTP collector to export trace spans to, e.g. http://127.0.0.1:4318 (empty: none; else OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT)")
	fs.DurationVar(&c.ViewsReleaseInterval, "views-release-interval", d.ViewsReleaseInterval, "how often the views file's mapped pages are given back to the kernel, so they leave the process's RSS (0: never)")
	fs.Var(byteSize{&c.MemoryLimit}, "memory-limit", "soft memory limit of the Go runtime: a `size` such as 256MiB or 1GiB (0: none); GOMEMLIMIT, when set, wins")
	fs.IntVar(&c.GCPercent, "gc-percent", d.GCPercent, "Go GC target: how far (%) the heap may grow over the live heap between collections (0: Go's own, 100); GOGC, when set, wins")
}

// Parse parses args into c with fs (on which the flags are registered), then fills every flag not given on
// the command line from the environment, then from the --config file (JSON object keyed by flag name).
func Parse(fs *flag.FlagSet, c *Config, args []string, getenv func(string) string) error {
	configFile := fs.String("config", "", "JSON file of settings keyed by flag name, e.g. {\"http\": \"127.0.0.1:9090\"}")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &UsageError{Err: err}
	}
	if fs.NArg() > 0 {
		return &UsageError{Err: fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	explicit := map[string]bool{}
	fs.Visit(func(f *flag.Flag) {
		explicit[f.Name] = true
		c.setSource(f.Name, "flag")
	})
	if !explicit["config"] {
		*configFile = getenv(EnvName("config"))
	}
	fromFile := map[string]string{}
	if *configFile != "" {
		var err error
		if fromFile, err = readFile(*configFile); err != nil {
			return err
		}
	}
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if explicit[f.Name] || f.Name == "config" {
			return
		}
		source, value := "", ""
		if v := getenv(EnvName(f.Name)); v != "" {
			source, value = EnvName(f.Name), v
		} else if v, ok := fromFile[f.Name]; ok {
			source, value = *configFile, v
		} else {
			return
		}
		if err := fs.Set(f.Name, value); err != nil {
			errs = append(errs, fmt.Errorf("%s: %s: %w", source, f.Name, err))
		}
		c.setSource(f.Name, source)
	})
	for name := range fromFile {
		if fs.Lookup(name) == nil || name == "config" {
			errs = append(errs, fmt.Errorf("%s: unknown setting %q", *configFile, name))
		}
	}
	c.AdminToken = getenv(EnvPrefix + "ADMIN_TOKEN")
	c.otlpFromOTel(fs, getenv)
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return nil
}

// The OpenTelemetry variables that name a collector: the traces URL as is, or a base URL.
const (
	envOTelTraces   = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	envOTelEndpoint = "OTEL_EXPORTER_OTLP_ENDPOINT"
)

// otlpFromOTel takes the collector from the standard OpenTelemetry variables when hookstream's own setting
// is not given: they are what collectors and platforms set for every process they trace.
func (c *Config) otlpFromOTel(fs *flag.FlagSet, getenv func(string) string) {
	if fs.Lookup("otlp-endpoint") == nil || c.OTLPEndpoint != "" {
		return
	}
	if v := getenv(envOTelTraces); v != "" {
		c.OTLPEndpoint = v
		c.setSource("otlp-endpoint", envOTelTraces)
	} else if v := getenv(envOTelEndpoint); v != "" {
		// The base URL's signal path is appended whatever its path, as the OpenTelemetry specification says.
		c.OTLPEndpoint = strings.TrimSuffix(v, "/") + "/v1/traces"
		c.setSource("otlp-endpoint", envOTelEndpoint)
	}
}

func (c *Config) setSource(name, source string) {
	if c.Sources == nil {
		c.Sources = map[string]string{}
	}
	c.Sources[name] = source
}

// UsageError is a command line that does not parse: an unknown flag, a flag's bad value, a stray argument.
// Settings from the environment or the --config file are not usage errors.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }

func (e *UsageError) Unwrap() error { return e.Err }

func readFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("config file %s: must be a JSON object: %w", path, err)
	}
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		switch v := v.(type) {
		case string:
			out[k] = v
		case bool:
			out[k] = strconv.FormatBool(v)
		case float64:
			// Written out in full: fmt would write a byte count such as 268435456 as 2.68435456e+08.
			out[k] = strconv.FormatFloat(v, 'f', -1, 64)
		default:
			return nil, fmt.Errorf("config file %s: %s must be a string, number or boolean", path, k)
		}
	}
	return out, nil
}

// Validate checks the settings together.
func (c *Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.HTTP); err != nil {
		errs = append(errs, fmt.Errorf("--http %q: %w", c.HTTP, err))
	}
	if c.NATS == "" {
		if _, _, err := net.SplitHostPort(c.NATSListen); err != nil {
			errs = append(errs, fmt.Errorf("--nats-listen %q: %w", c.NATSListen, err))
		}
	}
	if c.Data == "" {
		errs = append(errs, errors.New("--data must name a folder"))
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		errs = append(errs, fmt.Errorf("--replicas must be 1 to 5, got %d", c.Replicas))
	}
	if c.DeliveryTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--delivery-timeout must be positive, got %s", c.DeliveryTimeout))
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("--log-format must be text or json, got %q", c.LogFormat))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("--log-level must be debug, info, warn or error, got %q", c.LogLevel))
	}
	if c.Sync != "always" && c.Sync != "interval" {
		errs = append(errs, fmt.Errorf("--sync must be always or interval, got %q", c.Sync))
	}
	if c.SubjectPrefix == "" || strings.ContainsAny(c.SubjectPrefix, " .*>\t") {
		errs = append(errs, fmt.Errorf("--subject-prefix must be one subject token, got %q", c.SubjectPrefix))
	}
	if c.MaxInFlight < 1 || c.MaxInFlightPerEndpoint < 1 || c.MaxInFlightPerEndpoint > c.MaxInFlight {
		errs = append(errs, fmt.Errorf("--max-in-flight (%d) and --max-in-flight-per-endpoint (%d) must be at least 1, per endpoint at most the total",
			c.MaxInFlight, c.MaxInFlightPerEndpoint))
	}
	if c.RateLimit < 0 {
		errs = append(errs, fmt.Errorf("--rate-limit must not be negative, got %g", c.RateLimit))
	}
	for name, d := range map[string]time.Duration{"--retain-events": c.RetainEvents, "--retain-attempts": c.RetainAttempts} {
		if d < 0 || (d > 0 && d < c.DuplicateWindow) {
			errs = append(errs, fmt.Errorf("%s must be 0 (forever) or at least the duplicate window %s, got %s", name, c.DuplicateWindow, d))
		}
	}
	if c.RetainEventsBytes < 0 || c.RetainAttemptsBytes < 0 {
		errs = append(errs, errors.New("--retain-events-bytes and --retain-attempts-bytes must not be negative"))
	}
	if c.OTLPEndpoint != "" {
		if u, err := url.Parse(c.OTLPEndpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, errors.New("--otlp-endpoint must be an http or https URL"))
		}
	}
	if err := CheckGCPercent(c.GCPercent); err != nil {
		errs = append(errs, err)
	}
	if err := CheckMemoryLimit(c.MemoryLimit); err != nil {
		errs = append(errs, err)
	}
	if c.LeaseTTL < time.Second {
		errs = append(errs, fmt.Errorf("--lease-ttl must be at least 1s, got %s", c.LeaseTTL))
	}
	if c.ViewsReleaseInterval < 0 {
		errs = append(errs, fmt.Errorf("--views-release-interval must not be negative, got %s", c.ViewsReleaseInterval))
	}
	if c.DuplicateWindow <= 0 {
		errs = append(errs, fmt.Errorf("--duplicate-window must be positive, got %s", c.DuplicateWindow))
	}
	if b := c.RetryBuckets; b.After <= 0 || b.Span <= 0 || b.Lead <= 0 || b.Span >= b.After {
		errs = append(errs, fmt.Errorf("retry buckets must have positive After, Span and Lead with Span below After, got %+v", b))
	}
	return errors.Join(errs...)
}

// CheckGCPercent refuses a --gc-percent that is neither 0 (Go's own) nor at least 10.
func CheckGCPercent(percent int) error {
	if percent != 0 && percent < 10 {
		return fmt.Errorf("--gc-percent must be 0 (Go's own) or at least 10, got %d", percent)
	}
	return nil
}

// GCTarget returns the GC target a process given --gc-percent should set (runtime/debug.SetGCPercent), or
// false to leave Go's own: when percent is 0, or when GOGC, Go's own setting, is in the environment.
func GCTarget(percent int, getenv func(string) string) (int, bool) {
	if percent == 0 || getenv("GOGC") != "" {
		return 0, false
	}
	return percent, true
}

// minMemoryLimit is the least soft limit accepted: below it the GC would run without pause on an idle engine.
const minMemoryLimit = 32 << 20

// CheckMemoryLimit refuses a --memory-limit that is neither 0 (none) nor at least 32MiB.
func CheckMemoryLimit(limit int64) error {
	if limit != 0 && limit < minMemoryLimit {
		return fmt.Errorf("--memory-limit must be 0 (none) or at least %s, got %s", FormatByteSize(minMemoryLimit), FormatByteSize(limit))
	}
	return nil
}

// MemoryLimitTarget returns the soft memory limit a process given --memory-limit should set
// (runtime/debug.SetMemoryLimit), or false to leave Go's own: when limit is 0, or when GOMEMLIMIT is in the
// environment.
func MemoryLimitTarget(limit int64, getenv func(string) string) (int64, bool) {
	if limit == 0 || getenv("GOMEMLIMIT") != "" {
		return 0, false
	}
	return limit, true
}

// RetryBuckets mirrors delivery.RetryBuckets: tasks due further ahead than After wait in buckets spanning Span
// of due times, each promoted Lead before it begins.
type RetryBuckets struct {
	After, Span, Lead time.Duration
}
