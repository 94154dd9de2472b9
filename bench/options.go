// Package bench measures a hookstream engine end to end, as `hookstream bench` reports it: how many deliveries
// per second it sustains, how long an event waits between its publication and its receipt, how much memory
// and CPU the server uses meanwhile, and, in the same run, the raw HTTP baseline those figures are judged
// against: plain POSTs of the same bodies to the same loopback receiver at the same concurrency.
//
// Run starts an engine in a temporary data folder in-process (or targets a running one), a receiver on
// 127.0.0.1 (one listener per endpoint, answering 200 at once, or after a delay for the slow endpoints of an
// isolation phase), creates a tenant's webhooks through the HTTP API, publishes events over NATS (or ingests
// them through POST /event/{tenant}/events), and waits until every (event, webhook) pair has been received.
// The payloads are fixed for a seed and carry their sequence number and publication time, so the receiver
// counts each delivery once and measures its latency without any clock but the local one.
//
// A run has up to four measured stages, each in its own range of event sequence numbers:
//
//   - the baselines: raw POSTs of the delivery bodies (and, with IngestHTTP, of the ingestion bodies);
//   - the main phase: Events events, burst or at Rate per second, to Webhooks fast webhooks;
//   - with PendingRetries, the main phase again once that many retries are pending far in the future;
//   - with SlowEndpoints, the main phase again with that many extra endpoints answering after SlowDelay: the
//     fast endpoints' deliveries/s against the main phase's is the isolation ratio.
//
// Nothing here reaches beyond loopback: the receiver listens on 127.0.0.1, and a running engine is only
// accepted on a loopback address (it must reach the receiver).
package bench

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/hookstream/hookstream/config"
)

// Defaults of Options (and of `hookstream bench`).
const (
	DefaultWebhooks      = 5
	DefaultEvents        = 20000
	DefaultPayload       = 512
	DefaultIngestClients = 64
	DefaultSlowDelay     = 2 * time.Second
	DefaultTimeout       = 5 * time.Minute
	DefaultSeed          = 1
	// DefaultRounds is the rounds of a burst: a median of three, since a single round's baseline, run in a
	// fresh process, flatters the engine. With --rate the default is one round: a steady rate's ratio is
	// bounded by the offered rate, so there is nothing to rank.
	DefaultRounds = 3
)

// maxIngestBatch is the batch ingest route's bound on events per request.
const maxIngestBatch = 1000

// EventType is the type of every measured event; the webhooks subscribe to it alone.
const EventType = "bench.event"

// failEventType is the type of the events that fill the retries stream (PendingRetries).
const failEventType = "bench.fail"

// Options say what to measure and against which engine.
type Options struct {
	// Spawn, when set, is a hookstream binary whose `serve` the bench starts as a child process in a temporary
	// folder and measures from outside (its own RSS and CPU); ServeArgs are more serve flags for it.
	Spawn     string
	ServeArgs []string
	// HTTP, NATS and Token target a running engine (all loopback); empty HTTP (and Spawn) starts one
	// in-process.
	HTTP  string
	NATS  string
	Token string
	// Tenant is the tenant whose webhooks are created. With a running engine it is required for the admin
	// token (or a token of several tenants) and found out otherwise; in-process it is derived from Seed.
	Tenant string
	// NATSCreds is a credentials file for NATS; SubjectPrefix the engine's subject prefix.
	NATSCreds     string
	SubjectPrefix string

	// Webhooks is the number of fast webhooks; Events the events published per phase; Payload the size of each
	// event's data in bytes.
	Webhooks int
	Events   int
	Payload  int
	// Rate, when positive, offers a steady Rate events/s instead of a burst.
	Rate float64
	// IngestHTTP ingests the events through POST /event/{tenant}/events from IngestClients concurrent clients
	// instead of NATS, and measures the ingestion rate against raw HTTP POSTs.
	IngestHTTP    bool
	IngestClients int
	// IngestBatch, when above 1, ingests through POST /event/{tenant}/events/batch, that many events per
	// request (implies IngestHTTP); the baseline stays one raw POST per event, so the ratio says how many
	// events the batch route takes in per raw POST.
	IngestBatch int
	// Forwarder adds a second baseline to each round of a burst: the bare forwarder (JetStream in, one POST
	// per webhook out, nothing recorded), run in this process against the engine's server.
	Forwarder bool
	// SlowEndpoints adds a phase with that many extra endpoints answering after SlowDelay.
	SlowEndpoints int
	SlowDelay     time.Duration
	// PendingRetries adds a phase run once that many retries are scheduled far in the future.
	PendingRetries int
	// PendingWait is how long that phase waits after the fill: 0 waits for the engine's longest duplicate
	// window (at most 10 minutes). The server keeps the message id of every write of the last window in
	// memory (three per retry for the fill), which retries that piled up over hours
	// would not carry; waiting it out measures what the pending retries cost, not what their fill left.
	PendingWait time.Duration
	// Rounds runs the raw baselines and the main phase that many times, alternately: on a shared machine the
	// baseline alone can swing widely within the hour, and a single pair may catch the two in different
	// states. The result's figures are the round with the median ratio's. Zero means DefaultRounds for a
	// burst, one with Rate.
	Rounds int

	// MaxInFlight and MaxInFlightPerEndpoint configure the in-process engine, and say what a running engine
	// was started with: the baseline's concurrency is MaxInFlightPerEndpoint × Webhooks, capped by
	// MaxInFlight.
	MaxInFlight            int
	MaxInFlightPerEndpoint int
	// GCPercent is the in-process engine's GC target, as serve's --gc-percent: set in this process while the
	// engine's phases run, not while the raw baseline runs, which keeps Go's own. 0 leaves Go's own
	// throughout (the zero value is not the default here: the command's flag says serve's, config.Default's).
	GCPercent int
	// Sync is the in-process engine's JetStream fsync policy ("interval" or "always"); Pprof, when set, is
	// where it serves net/http/pprof.
	Sync  string
	Pprof string
	// CPUProfile, when set, receives a CPU profile (runtime/pprof) of the main phase (the last round's), or
	// of the phase with retries pending when there is one: that phase is the one a profile explains.
	// In-process only. The bench's own goroutines carry the label bench=receiver, bench=publisher or
	// bench=progress.
	CPUProfile io.Writer

	// Seed fixes the payloads (and the in-process tenant).
	Seed uint64
	// Timeout bounds the wait for one phase's deliveries.
	Timeout time.Duration
	// Progress, when set, is called about ten times a second while a stage runs.
	Progress func(Progress)
	// Log receives the in-process engine's log; nil discards it.
	Log *slog.Logger
}

// Progress is where a stage stands.
type Progress struct {
	Stage   string
	Done    int64
	Total   int64
	Elapsed time.Duration
}

// withDefaults fills the zero fields; the engine's settings with serve's defaults (config.Default).
func (o Options) withDefaults() Options {
	serve := config.Default()
	if o.IngestBatch > 1 {
		o.IngestHTTP = true
	}
	if o.Webhooks == 0 && !o.IngestHTTP {
		o.Webhooks = DefaultWebhooks
	}
	if o.Events == 0 {
		o.Events = DefaultEvents
	}
	if o.Rounds == 0 {
		o.Rounds = DefaultRounds
		if o.Rate > 0 {
			o.Rounds = 1
		}
	}
	if o.Payload == 0 {
		o.Payload = DefaultPayload
	}
	if o.IngestClients == 0 {
		o.IngestClients = DefaultIngestClients
	}
	if o.SlowDelay == 0 {
		o.SlowDelay = DefaultSlowDelay
	}
	if o.MaxInFlight == 0 {
		o.MaxInFlight = serve.MaxInFlight
	}
	if o.MaxInFlightPerEndpoint == 0 {
		o.MaxInFlightPerEndpoint = serve.MaxInFlightPerEndpoint
	}
	if o.Sync == "" {
		o.Sync = serve.Sync
	}
	if o.SubjectPrefix == "" {
		o.SubjectPrefix = serve.SubjectPrefix
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Seed == 0 {
		o.Seed = DefaultSeed
	}
	return o
}

// InProcess reports whether the options start an engine rather than target a running one.
func (o *Options) InProcess() bool { return o.HTTP == "" && o.Spawn == "" }

// validate checks options that withDefaults has filled.
func (o *Options) validate() error {
	var errs []error
	if o.Webhooks < 0 || o.Webhooks > 10000 {
		errs = append(errs, fmt.Errorf("--webhooks must be 0 to 10000, got %d", o.Webhooks))
	}
	if o.Webhooks == 0 && !o.IngestHTTP {
		errs = append(errs, errors.New("--webhooks must be at least 1 (0 only with --ingest-http)"))
	}
	if o.Events < 1 || o.Events > 10_000_000 {
		errs = append(errs, fmt.Errorf("--events must be 1 to 10000000, got %d", o.Events))
	}
	if o.Payload < MinPayload || o.Payload > 1<<20 {
		errs = append(errs, fmt.Errorf("--payload must be %d to %d bytes, got %d", MinPayload, 1<<20, o.Payload))
	}
	if o.Rate < 0 {
		errs = append(errs, fmt.Errorf("--rate must not be negative, got %g", o.Rate))
	}
	if o.IngestClients < 1 || o.IngestClients > 4096 {
		errs = append(errs, fmt.Errorf("--ingest-clients must be 1 to 4096, got %d", o.IngestClients))
	}
	if o.IngestBatch < 0 || o.IngestBatch > maxIngestBatch {
		errs = append(errs, fmt.Errorf("--ingest-batch must be 0 to %d, got %d", maxIngestBatch, o.IngestBatch))
	}
	if o.Forwarder && (o.Webhooks == 0 || o.IngestHTTP || o.Rate > 0) {
		errs = append(errs, errors.New("--forwarder compares a burst of deliveries over NATS: it needs webhooks, and neither --ingest-http nor --rate"))
	}
	if o.SlowEndpoints < 0 || o.SlowEndpoints > 1000 {
		errs = append(errs, fmt.Errorf("--slow-endpoints must be 0 to 1000, got %d", o.SlowEndpoints))
	}
	if o.SlowDelay < 0 {
		errs = append(errs, fmt.Errorf("--slow-delay must not be negative, got %s", o.SlowDelay))
	}
	if o.SlowEndpoints > 0 && o.Webhooks == 0 {
		errs = append(errs, errors.New("--slow-endpoints needs fast webhooks to compare (--webhooks ≥ 1)"))
	}
	if o.Rounds < 1 || o.Rounds > 100 {
		errs = append(errs, fmt.Errorf("--rounds must be 1 to 100, got %d", o.Rounds))
	}
	if o.PendingRetries < 0 {
		errs = append(errs, fmt.Errorf("--pending-retries must not be negative, got %d", o.PendingRetries))
	}
	if o.PendingWait < 0 {
		errs = append(errs, fmt.Errorf("--pending-wait must not be negative, got %s", o.PendingWait))
	}
	if o.PendingRetries > 0 && o.Webhooks == 0 {
		errs = append(errs, errors.New("--pending-retries needs fast webhooks to compare (--webhooks ≥ 1)"))
	}
	if o.MaxInFlight < 1 || o.MaxInFlightPerEndpoint < 1 || o.MaxInFlightPerEndpoint > o.MaxInFlight {
		errs = append(errs, fmt.Errorf("--max-in-flight (%d) and --max-in-flight-per-endpoint (%d) must be at least 1, per endpoint at most the total",
			o.MaxInFlight, o.MaxInFlightPerEndpoint))
	}
	if o.Sync != "interval" && o.Sync != "always" {
		errs = append(errs, fmt.Errorf("--sync must be interval or always, got %q", o.Sync))
	}
	if err := config.CheckGCPercent(o.GCPercent); err != nil {
		errs = append(errs, err)
	}
	if o.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("--timeout must be positive, got %s", o.Timeout))
	}
	if o.Spawn != "" {
		if o.HTTP != "" || o.NATS != "" || o.Token != "" {
			errs = append(errs, errors.New("--spawn starts its own engine: --http, --nats and --token target a running one"))
		}
		if o.CPUProfile != nil {
			errs = append(errs, errors.New("--cpuprofile profiles the in-process engine; profile a spawned one through --pprof"))
		}
		if o.Pprof != "" {
			if err := loopbackHostPort("--pprof", o.Pprof); err != nil {
				errs = append(errs, err)
			}
		}
	} else if o.InProcess() {
		if o.NATS != "" || o.Token != "" {
			errs = append(errs, errors.New("--nats and --token target a running engine: give --http too"))
		}
		if o.Pprof != "" {
			if err := loopbackHostPort("--pprof", o.Pprof); err != nil {
				errs = append(errs, err)
			}
		}
	} else {
		if err := loopbackURL("--http", o.HTTP, "http", "https"); err != nil {
			errs = append(errs, err)
		}
		if o.Token == "" {
			errs = append(errs, errors.New("--token is required with --http (webhooks.write, and events.write for --ingest-http)"))
		}
		if o.NATS == "" && !o.IngestHTTP {
			errs = append(errs, errors.New("--nats is required with --http (events are published over NATS unless --ingest-http)"))
		}
		if o.NATS != "" {
			for u := range strings.SplitSeq(o.NATS, ",") {
				if err := loopbackURL("--nats", u, "nats", "tls"); err != nil {
					errs = append(errs, err)
				}
			}
		}
		if o.CPUProfile != nil {
			errs = append(errs, errors.New("--cpuprofile profiles the in-process engine; for a running engine, start it with --pprof"))
		}
		if o.Pprof != "" {
			errs = append(errs, errors.New("--pprof configures the in-process engine; give it to the running engine's serve"))
		}
	}
	return errors.Join(errs...)
}

// loopbackURL checks that raw is a URL of one of schemes on a loopback host: the receiver listens on
// 127.0.0.1, so only an engine on this machine can reach it, and the bench never sends anything elsewhere.
func loopbackURL(flag, raw string, schemes ...string) error {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" {
		return fmt.Errorf("%s %q: must be a URL such as %s://127.0.0.1:…", flag, raw, schemes[0])
	}
	ok := false
	for _, s := range schemes {
		ok = ok || u.Scheme == s
	}
	if !ok {
		return fmt.Errorf("%s %q: scheme must be %s", flag, raw, strings.Join(schemes, " or "))
	}
	if !isLoopbackHost(u.Hostname()) {
		return fmt.Errorf("%s %q: the engine must run on this machine, on a loopback address (the receiver listens on 127.0.0.1)", flag, raw)
	}
	return nil
}

func loopbackHostPort(flag, addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%s %q: %w", flag, addr, err)
	}
	if !isLoopbackHost(host) {
		return fmt.Errorf("%s %q: must be a loopback address", flag, addr)
	}
	return nil
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
