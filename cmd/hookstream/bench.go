package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/hookstream/hookstream/bench"
	"github.com/hookstream/hookstream/config"
)

// benchCommand parses `hookstream bench` flags and runs package bench: an in-process engine (or a running one)
// measured against raw HTTP POSTs to the same loopback receiver.
func benchCommand(args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("hookstream bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: hookstream bench [flags]

Measures deliveries/s, publish → receipt latency, server RSS and CPU, and, in the same run, raw HTTP POSTs
of the same bodies to the same loopback receiver at the same concurrency; prints a table (or --json).
Without --http it starts an engine in a temporary data folder in this process.

`)
		fs.PrintDefaults()
	}
	var o bench.Options
	serve := config.Default()
	fs.IntVar(&o.Webhooks, "webhooks", bench.DefaultWebhooks, "webhooks of the tenant, each on its own loopback endpoint (none with --ingest-http unless given)")
	fs.IntVar(&o.Events, "events", bench.DefaultEvents, "events published per phase")
	fs.IntVar(&o.Payload, "payload", bench.DefaultPayload, fmt.Sprintf("bytes of each event's data (at least %d)", bench.MinPayload))
	fs.Float64Var(&o.Rate, "rate", 0, "offer a steady R events/s instead of a burst (for latency)")
	fs.BoolVar(&o.IngestHTTP, "ingest-http", false, "ingest through POST /event/{tenant}/events instead of NATS, and compare with raw HTTP POSTs")
	fs.IntVar(&o.IngestBatch, "ingest-batch", 0, "with N above 1, ingest through POST /event/{tenant}/events/batch, N events per request (implies --ingest-http)")
	fs.IntVar(&o.IngestClients, "ingest-clients", bench.DefaultIngestClients, "concurrent HTTP clients for --ingest-http")
	fs.BoolVar(&o.Forwarder, "forwarder", false, "add a second baseline to each round: a bare forwarder (JetStream in, one POST per webhook out, nothing recorded)")
	fs.IntVar(&o.SlowEndpoints, "slow-endpoints", 0, "add a phase with K more endpoints answering after --slow-delay (isolation)")
	fs.DurationVar(&o.SlowDelay, "slow-delay", bench.DefaultSlowDelay, "how long the slow endpoints take to answer")
	fs.IntVar(&o.PendingRetries, "pending-retries", 0, "add a phase run with P retries pending, due in 24 h")
	fs.DurationVar(&o.PendingWait, "pending-wait", 0, "how long the phase with retries pending waits after the fill (default: the engine's longest duplicate window, at most 10m, so the server no longer holds the fill's message ids)")
	fs.IntVar(&o.Rounds, "rounds", 0, fmt.Sprintf("run the raw baseline and the main phase N times, alternately, and report the median ratio and the range (default %d for a burst, 1 with --rate)", bench.DefaultRounds))
	spawn := fs.Bool("spawn", false, "start `hookstream serve` (this binary, or --serve-binary) as a child process and measure it from outside: its own RSS (VmHWM) and CPU")
	serveBinary := fs.String("serve-binary", "", "with --spawn, the path of the hookstream binary whose serve is started instead of this one (an earlier build, for before and after figures in one sitting)")
	serveArgs := fs.String("serve-args", "", "more flags for the spawned serve, space-separated, e.g. \"--gc-percent 100\"")
	fs.StringVar(&o.HTTP, "http", "", "API URL of a running engine on this machine (default: start one in-process)")
	fs.StringVar(&o.NATS, "nats", "", "NATS URL of the running engine")
	fs.StringVar(&o.Token, "token", "", "token for the running engine: webhooks.write (events.write for --ingest-http) on one tenant, or the admin token with --tenant (default $HOOKSTREAM_ADMIN_TOKEN)")
	fs.StringVar(&o.Tenant, "tenant", "", "tenant UUID for the running engine (found from the token when it serves one)")
	fs.StringVar(&o.NATSCreds, "nats-creds", "", "NATS credentials file for --nats")
	fs.StringVar(&o.SubjectPrefix, "subject-prefix", serve.SubjectPrefix, "subject prefix the engine uses")
	fs.IntVar(&o.MaxInFlight, "max-in-flight", serve.MaxInFlight, "the engine's --max-in-flight (set in-process; say the running engine's)")
	fs.IntVar(&o.MaxInFlightPerEndpoint, "max-in-flight-per-endpoint", serve.MaxInFlightPerEndpoint, "the engine's --max-in-flight-per-endpoint (likewise)")
	fs.IntVar(&o.GCPercent, "gc-percent", serve.GCPercent, "the engine's --gc-percent, set in-process while the engine's phases run (the raw baseline keeps Go's own); GOGC, when set, wins")
	fs.StringVar(&o.Sync, "sync", serve.Sync, "the in-process engine's JetStream fsync policy: interval or always")
	fs.StringVar(&o.Pprof, "pprof", "", "serve the in-process engine's net/http/pprof on this loopback address")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the main phase (the last round's), or of the phase with --pending-retries, to this file (in-process)")
	fs.Uint64Var(&o.Seed, "seed", bench.DefaultSeed, "seed of the payloads and the in-process tenant")
	fs.DurationVar(&o.Timeout, "timeout", bench.DefaultTimeout, "how long to wait for one phase's deliveries")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	logLevel := fs.String("log-level", "warn", "the in-process engine's log level on stderr: debug, info, warn or error")
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	// Package bench reads a zero as "the default"; on the command line a zero is a mistake.
	var zero error
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "events", "payload", "ingest-clients", "rounds", "max-in-flight", "max-in-flight-per-endpoint", "seed", "timeout", "slow-delay":
		case "webhooks":
			if o.IngestHTTP {
				return
			}
		default:
			return
		}
		if zero == nil && (f.Value.String() == "0" || f.Value.String() == "0s") {
			zero = fmt.Errorf("--%s must not be 0", f.Name)
		}
	})
	if zero != nil {
		return zero
	}
	if o.IngestBatch > 1 {
		o.IngestHTTP = true
	}
	if *spawn {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("--spawn: %w", err)
		}
		if *serveBinary != "" {
			if exe, err = filepath.Abs(*serveBinary); err != nil {
				return fmt.Errorf("--serve-binary: %w", err)
			}
		}
		o.Spawn = exe
		o.ServeArgs = strings.Fields(*serveArgs)
	} else if *serveArgs != "" || *serveBinary != "" {
		return errors.New("--serve-args and --serve-binary need --spawn")
	}
	if o.IngestHTTP && !flagGiven(fs, "webhooks") {
		o.Webhooks = 0
	}
	if _, ok := config.GCTarget(o.GCPercent, getenv); !ok {
		o.GCPercent = 0
	}
	if o.HTTP != "" && o.Token == "" {
		o.Token = getenv("HOOKSTREAM_ADMIN_TOKEN")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	o.Log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer f.Close()
		o.CPUProfile = f
	}
	bar := bench.NewProgressBar(stderr)
	o.Progress = bar.Update

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	res, err := bench.Run(ctx, o)
	bar.Finish()
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	return res.WriteTable(stdout)
}
