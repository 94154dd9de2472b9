// Package engine assembles a running hookstream: the broker, the projections, the command service, delivery
// and the HTTP API, run as one supervised group that restarts what fails and reports it on /readyz.
// cmd/hookstream and the end-to-end tests both run it.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hookstream/hookstream"
	"github.com/hookstream/hookstream/broker"
	"github.com/hookstream/hookstream/commands"
	"github.com/hookstream/hookstream/config"
	"github.com/hookstream/hookstream/delivery"
	"github.com/hookstream/hookstream/httpapi"
	"github.com/hookstream/hookstream/projections"
	"github.com/hookstream/hookstream/supervise"
	"github.com/hookstream/hookstream/tracing"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Version is the engine's version, sent as user-agent hookstream/<Version>.
const Version = "0.1.0"

// ViewsFile is the bbolt file under the data folder.
const ViewsFile = "views.db"

// Engine is a running hookstream.
type Engine struct {
	cfg      *config.Config
	opts     Options
	log      *slog.Logger
	broker   *broker.Broker
	store    *projections.Store
	views    views
	listener net.Listener
	server   *http.Server
	pprof    *http.Server
	tracer   *tracing.Tracer // nil: no spans exported

	// group supervises every long-lived part; stopGroup ends it and groupDone is closed once it has.
	group     *supervise.Group
	stopGroup context.CancelFunc
	groupDone chan struct{}
	// failed receives the group's permanent failure when it ends by itself.
	failed chan error

	streamsUp, viewsUp *latch // NATS streams ensured once; views caught up with them once
	stopping           atomic.Bool
	health             health

	adminToken     string
	adminTokenPath string
}

// Options tune how the engine rides out faults; the zero value takes the defaults. Tests shorten them.
type Options struct {
	// RestartMin and RestartMax bound the backoff between restarts of a failed component, reaching NATS
	// included (defaults 100 ms and 3 s).
	RestartMin, RestartMax time.Duration
	// Healthy is how long a restarted component must stay up to count as up again (default 1 s).
	Healthy time.Duration
	// CheckEvery is how often the components' consumers and the views' progress are checked (default 1 s).
	CheckEvery time.Duration
	// StallAfter is how long a view may lag its stream without applying anything before /readyz names it
	// (default 10 s).
	StallAfter time.Duration
}

func (o Options) withDefaults() Options {
	if o.CheckEvery <= 0 {
		o.CheckEvery = time.Second
	}
	if o.StallAfter <= 0 {
		o.StallAfter = 10 * time.Second
	}
	return o
}

// Start brings the engine up and returns it once it is ready. HTTP serves from the first moment (/healthz
// 200, /readyz 503 naming what is not up yet); NATS is tried again and again, with backoff, until it answers.
// It fails at once on what no retry can mend (bad configuration, a busy port, a views file another process
// holds), and with ctx's error when ctx ends first; on error everything started so far is stopped again.
func Start(ctx context.Context, cfg *config.Config, log *slog.Logger) (*Engine, error) {
	return StartWith(ctx, cfg, log, Options{})
}

// StartWith is Start with fault-handling options.
func StartWith(ctx context.Context, cfg *config.Config, log *slog.Logger, opts Options) (_ *Engine, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg, opts: opts.withDefaults(), log: log, failed: make(chan error, 1),
		streamsUp: newLatch(), viewsUp: newLatch()}
	defer func() {
		if err != nil {
			stopCtx, cancel := context.WithTimeout(context.Background(), StopTimeout(cfg))
			defer cancel()
			_ = e.stop(stopCtx)
		}
	}()
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return nil, fmt.Errorf("data folder: %w", err)
	}
	if err := e.loadAdminToken(); err != nil {
		return nil, err
	}
	// Bind HTTP first: a busy port is the most common start-up failure and should not cost a NATS start.
	if e.listener, err = net.Listen("tcp", cfg.HTTP); err != nil {
		return nil, fmt.Errorf("http listen address %s is not available: %w", cfg.HTTP, err)
	}
	if e.broker, err = broker.Dial(ctx, brokerConfig(cfg, false), log); err != nil {
		return nil, fmt.Errorf("nats: %w", err)
	}
	if e.store, err = projections.Open(filepath.Join(cfg.Data, ViewsFile), e.broker.JS, projections.Options{
		StreamName: e.broker.Subjects.StreamName, ReleaseInterval: cfg.ViewsReleaseInterval,
	}, log.With("component", "projections")); err != nil {
		return nil, err
	}
	e.views = newViews(e.store, e.broker.Subjects)
	if e.tracer, err = newTracer(ctx, cfg, log); err != nil {
		return nil, err
	}
	policy := hookstream.Policy{AllowPrivateDestinations: cfg.AllowPrivateDestinations}
	cmd := commands.New(e.broker, e.store, e.views.webhooks, e.views.tokens, policy, time.Now)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newLagCollector(e.store, e.broker))
	d := e.newDelivery(cmd, delivery.NewMetrics(reg))
	// Enqueue and Submit only append to the streams: the first core's scheduler and jobs serve the API
	// whichever core is running.
	first := d()
	deliveries := commands.NewDeliveryCommands(e.broker, e.store, e.views.webhooks, e.views.events, e.views.diverted,
		e.views.attempts, first.Scheduler, first.Jobs, time.Now)
	api := httpapi.New(httpapi.Config{
		Commands:       cmd,
		Webhooks:       e.views.webhooks,
		Tokens:         e.views.tokens,
		Deliveries:     deliveries,
		Events:         e.views.events,
		Attempts:       e.views.attempts,
		Diverted:       e.views.diverted,
		AdminTokenHash: hookstream.HashToken(e.adminToken),
		RateLimit:      cfg.RateLimit,
		Failing:        e.Failing,
		Serving:        func() (bool, bool) { return e.viewsUp.done(), e.broker.Connected() },
		Registry:       reg,
		Tracer:         e.tracer,
		Log:            log.With("component", "http"),
	})
	e.server = &http.Server{
		Handler:           api,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.With("component", "http").Handler(), slog.LevelWarn),
	}
	components := []supervise.Component{
		{Name: "http", Run: e.serveHTTP},
		{Name: "nats", Run: e.ensureStreams, Check: e.checkConnected,
			Up: func() bool { return e.health.ensured.Load() && e.broker.Connected() }},
		{Name: "views", Run: e.runViews, Up: e.viewsUp.done},
		{Name: "delivery", Run: e.runDelivery(first, d), Check: e.checkDelivery},
	}
	if every := retentionInterval(cfg); every > 0 {
		components = append(components, supervise.Component{Name: "retention", Run: func(ctx context.Context) error {
			if !e.viewsUp.wait(ctx) {
				return nil
			}
			return e.followRetention(ctx, every, e.views, log.With("component", "retention"))
		}})
	}
	e.group = supervise.New(supervise.Options{InitialInterval: e.opts.RestartMin, MaxInterval: e.opts.RestartMax,
		Healthy: e.opts.Healthy, CheckEvery: e.opts.CheckEvery, Log: log}, components...)
	groupCtx, stopGroup := context.WithCancel(context.Background())
	e.stopGroup, e.groupDone = stopGroup, make(chan struct{})
	go func() {
		defer close(e.groupDone)
		if err := e.group.Run(groupCtx); err != nil {
			e.failed <- err
		}
	}()
	if cfg.Pprof != "" {
		if err := e.startPprof(cfg.Pprof); err != nil {
			return nil, err
		}
	}
	if err := e.waitReady(ctx); err != nil {
		return nil, err
	}
	log.Info("hookstream ready", "version", Version, "http", e.listener.Addr().String(), "nats", broker.RedactURLs(e.NATSURL()),
		"data", cfg.Data, "admin_token_file", e.adminTokenPath)
	return e, nil
}

// StopTimeout is how long a stop may take: in-flight deliveries get their timeout, the rest a few seconds.
func StopTimeout(cfg *config.Config) time.Duration { return 9*time.Second + cfg.DeliveryTimeout }

// waitReady waits until nothing is failing, ctx ends, or the group fails for good.
func (e *Engine) waitReady(ctx context.Context) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	logged := time.Now()
	for {
		failing := e.Failing()
		if len(failing) == 0 {
			return nil
		}
		if time.Since(logged) > 5*time.Second {
			e.log.Info("waiting to become ready", "failing", failing)
			logged = time.Now()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready (failing: %s): %w", strings.Join(failing, ", "), ctx.Err())
		case err := <-e.failed:
			e.failed <- err
			return err
		case <-tick.C:
		}
	}
}

// serveHTTP serves the API until the group stops. The listener cannot be served twice: a server that stops
// by itself is a permanent failure.
func (e *Engine) serveHTTP(ctx context.Context) error {
	served := make(chan error, 1)
	go func() { served <- e.server.Serve(e.listener) }()
	select {
	case err := <-served:
		if errors.Is(err, http.ErrServerClosed) {
			<-ctx.Done() // shut down by stop, which then ends the group
			return nil
		}
		return supervise.Permanent(fmt.Errorf("http server: %w", err))
	case <-ctx.Done():
		// Stop shuts the server down first, letting in-flight requests finish; this only covers a group
		// that ends without it.
		_ = e.server.Close()
		return nil
	}
}

// ensureStreams creates or updates the streams, the first thing NATS must answer, then holds. Its check
// restarts it when the connection is lost, so the streams are ensured again once NATS is back.
func (e *Engine) ensureStreams(ctx context.Context) error {
	e.health.ensured.Store(false)
	if err := e.broker.EnsureStreams(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		var permanent *broker.PermanentError
		if errors.As(err, &permanent) {
			return supervise.Permanent(err)
		}
		return fmt.Errorf("reach nats at %s: %w", e.NATSURL(), err)
	}
	e.streamsUp.open()
	e.health.ensured.Store(true)
	<-ctx.Done()
	return nil
}

func (e *Engine) checkConnected(context.Context) error {
	if !e.broker.Connected() {
		return errors.New("not connected to nats")
	}
	return nil
}

// runViews starts feeding the views once the streams are there, waits for them to catch up the first time,
// then watches that each keeps up with its stream.
func (e *Engine) runViews(ctx context.Context) error {
	if !e.streamsUp.wait(ctx) {
		return nil
	}
	if !e.health.viewsStarted {
		if err := e.store.Start(ctx, e.views.all()...); err != nil {
			var errno syscall.Errno
			if errors.As(err, &errno) {
				// The views file cannot be written (permissions, a read-only or full disk): no retry mends it.
				return supervise.Permanent(err)
			}
			return err
		}
		e.health.viewsStarted = true
	}
	if !e.viewsUp.done() {
		if err := e.store.WaitCaughtUp(ctx); err != nil {
			return err
		}
		e.viewsUp.open()
	}
	e.watchViews(ctx)
	return nil
}

// Failing names what keeps the engine from being ready: "nats" while NATS is out of reach or the streams
// are not ensured yet, "views" until the views have caught up once, a delivery component ("router",
// "dispatcher", "holds", "jobs") or "retention" that is down, "view:<name>" for a view that lags its stream
// without advancing, and "stopping". Empty when ready.
func (e *Engine) Failing() []string {
	var out []string
	add := func(name string) {
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	if e.stopping.Load() {
		add("stopping")
	}
	if !e.broker.Connected() || !e.streamsUp.done() {
		add("nats")
	}
	if !e.viewsUp.done() {
		add("views")
	}
	for _, name := range e.group.Failing() {
		if name == "delivery" {
			name = e.health.deliveryPart()
		}
		add(name)
	}
	for _, name := range e.health.stalledViews() {
		add("view:" + name)
	}
	return out
}

// startPprof serves net/http/pprof on its own listener, apart from the API, for users chasing bottlenecks.
func (e *Engine) startPprof(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("pprof listen address %s is not available: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	e.pprof = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = e.pprof.Serve(l) }()
	e.log.Info("pprof listening", "addr", l.Addr().String())
	return nil
}

// OpenBroker connects to NATS as cfg says and ensures the streams, failing at once when NATS is out of
// reach. noListen keeps an embedded server off the network (for offline commands such as rebuild).
func OpenBroker(ctx context.Context, cfg *config.Config, log *slog.Logger, noListen bool) (*broker.Broker, error) {
	b, err := broker.Open(ctx, brokerConfig(cfg, noListen), log)
	if err != nil {
		return nil, fmt.Errorf("nats: %w", err)
	}
	return b, nil
}

func brokerConfig(cfg *config.Config, noListen bool) broker.Config {
	return broker.Config{
		URL:       cfg.NATS,
		CredsFile: cfg.NATSCreds,
		Prefix:    cfg.SubjectPrefix,
		Embedded: broker.EmbeddedConfig{
			DataDir:    cfg.Data,
			Listen:     cfg.NATSListen,
			NoListen:   noListen,
			SyncAlways: cfg.Sync == "always",
		},
		Streams: broker.StreamOptions{Replicas: cfg.Replicas, DuplicateWindow: cfg.DuplicateWindow,
			TaskWindow: delivery.TaskWindow(cfg.DeliveryTimeout), LeaseTTL: cfg.LeaseTTL,
			RetainEvents: cfg.RetainEvents, RetainAttempts: cfg.RetainAttempts,
			RetainEventsBytes: cfg.RetainEventsBytes, RetainAttemptsBytes: cfg.RetainAttemptsBytes},
	}
}

// HTTPAddr is the address the API listens on.
func (e *Engine) HTTPAddr() string { return e.listener.Addr().String() }

// NATSURL is where producers reach NATS: the embedded server's URL, or the external one.
func (e *Engine) NATSURL() string {
	if u := e.broker.ClientURL(); u != "" {
		return u
	}
	return e.cfg.NATS
}

// AdminToken is the admin token in force.
func (e *Engine) AdminToken() string { return e.adminToken }

// Done receives the error that ended the engine by itself: a failure no restart can heal.
func (e *Engine) Done() <-chan error { return e.failed }

// Stop stops accepting requests, lets in-flight ones finish, stops delivery, flushes the views and shuts
// NATS down, each step within what is left of ctx.
func (e *Engine) Stop(ctx context.Context) error { return e.stop(ctx) }

func (e *Engine) stop(ctx context.Context) error {
	e.stopping.Store(true)
	var errs []error
	if e.server != nil {
		if err := e.server.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("http shutdown: %w", err))
		}
	} else if e.listener != nil {
		_ = e.listener.Close()
	}
	if e.pprof != nil {
		_ = e.pprof.Close()
	}
	if e.stopGroup != nil {
		e.stopGroup()
		e.awaitGroup(ctx)
	}
	if e.store != nil {
		if e.viewsUp.done() && e.broker.Connected() {
			// Apply what the streams already hold, so a clean stop leaves views as current as the log.
			catchUp, cancel := context.WithTimeout(ctx, 3*time.Second)
			if err := e.store.WaitCaughtUp(catchUp); err != nil {
				e.log.Warn("views not fully caught up at stop; they catch up at the next start", "err", err)
			}
			cancel()
		}
		if err := e.store.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if e.broker != nil {
		e.broker.Stop(ctx)
	}
	// Last, so the spans of the final attempts go too; bounded, so a collector out of reach cannot hold the
	// stop up.
	flush, cancel := context.WithTimeout(ctx, tracerFlushTimeout)
	defer cancel()
	if err := e.tracer.Shutdown(flush); err != nil {
		e.log.Warn("spans not exported at stop", "err", err)
	}
	return errors.Join(errs...)
}

// tracerFlushTimeout bounds the export of the spans still buffered at stop.
const tracerFlushTimeout = 2 * time.Second

// newTracer returns the tracer exporting to the configured collector, or nil when none is.
func newTracer(ctx context.Context, cfg *config.Config, log *slog.Logger) (*tracing.Tracer, error) {
	u, err := tracing.TracesURL(cfg.OTLPEndpoint)
	if err != nil || u == "" {
		return nil, err
	}
	t, err := tracing.New(ctx, tracing.Config{URL: u, Service: "hookstream", Version: Version})
	if err != nil {
		return nil, err
	}
	log.Info("exporting trace spans over OTLP/HTTP", "url", broker.RedactURLs(u))
	return t, nil
}

// awaitGroup waits for the group's components to return, until ctx ends. While NATS is away, nothing they
// wait for as they stop (a consumer's drain, an ack) can complete: the connection is closed under them, which
// ends those waits at once.
func (e *Engine) awaitGroup(ctx context.Context) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if e.broker != nil && !e.broker.Connected() {
			e.broker.Conn.Close()
		}
		select {
		case <-e.groupDone:
			return
		case <-ctx.Done():
			e.log.Warn("components did not stop in time; closing the views and NATS under them")
			return
		case <-tick.C:
		}
	}
}

// Run starts the engine and stops it when ctx ends. An engine stopped while still starting (ctx ended)
// is a clean stop; a failure no restart can heal is returned.
func Run(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	e, err := Start(ctx, cfg, log)
	if err != nil {
		if ctx.Err() != nil {
			log.Info("stopped before becoming ready", "err", err)
			return nil
		}
		return err
	}
	var failed error
	select {
	case <-ctx.Done():
	case failed = <-e.failed:
		log.Error("engine failed", "err", failed)
	}
	log.Info("stopping")
	stopCtx, cancel := context.WithTimeout(context.Background(), StopTimeout(cfg))
	defer cancel()
	if err := e.Stop(stopCtx); err != nil {
		return errors.Join(failed, err)
	}
	log.Info("stopped")
	return failed
}

// loadAdminToken takes the admin token from the environment, else from --admin-token-file, else from the data
// folder, generating it there on first start. The token itself is never logged; only where it is kept.
func (e *Engine) loadAdminToken() error {
	switch {
	case e.cfg.AdminToken != "":
		e.adminToken = e.cfg.AdminToken
	case e.cfg.AdminTokenFile != "":
		data, err := os.ReadFile(e.cfg.AdminTokenFile)
		if err != nil {
			return fmt.Errorf("admin token file: %w", err)
		}
		e.adminToken, e.adminTokenPath = strings.TrimSpace(string(data)), e.cfg.AdminTokenFile
	default:
		path := filepath.Join(e.cfg.Data, "admin-token")
		e.adminTokenPath = path
		data, err := os.ReadFile(path)
		switch {
		case err == nil:
			e.adminToken = strings.TrimSpace(string(data))
		case errors.Is(err, os.ErrNotExist):
			e.adminToken = hookstream.NewAdminToken()
			if err := os.WriteFile(path, []byte(e.adminToken+"\n"), 0o600); err != nil {
				return fmt.Errorf("store generated admin token: %w", err)
			}
			e.log.Warn("generated an admin token on first start; read it from the file", "path", path)
		default:
			return fmt.Errorf("admin token file: %w", err)
		}
	}
	if err := hookstream.CheckAdminToken(e.adminToken); err != nil {
		return err
	}
	if hookstream.WeakAdminToken(e.adminToken) {
		e.log.Warn("the admin token is shorter than 16 characters: fine on a laptop, guessable anywhere else")
	}
	return nil
}
