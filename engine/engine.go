// Package engine assembles a running hookstream: the broker, the projections, the command service and the
// HTTP API, started in order and stopped in reverse. cmd/hookstream and the end-to-end tests both run it.
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
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookstream/hookstream"
	"github.com/hookstream/hookstream/broker"
	"github.com/hookstream/hookstream/commands"
	"github.com/hookstream/hookstream/config"
	"github.com/hookstream/hookstream/delivery"
	"github.com/hookstream/hookstream/httpapi"
	"github.com/hookstream/hookstream/projections"
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
	log      *slog.Logger
	broker   *broker.Broker
	store    *projections.Store
	listener net.Listener
	server   *http.Server
	served   chan error
	ready    atomic.Bool

	pprof *http.Server

	// stopDelivery ends the delivery core; delivered is closed once they have finished.
	stopDelivery context.CancelFunc
	delivered    chan struct{}

	adminToken     string
	adminTokenPath string
}

// Start brings the engine up: NATS, streams, views caught up, then HTTP. On error everything started so far
// is stopped again.
func Start(ctx context.Context, cfg *config.Config, log *slog.Logger) (_ *Engine, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg, log: log, served: make(chan error, 1)}
	defer func() {
		if err != nil {
			e.stop(context.Background())
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
	if e.broker, err = OpenBroker(ctx, cfg, log, false); err != nil {
		return nil, err
	}
	if e.store, err = projections.Open(filepath.Join(cfg.Data, ViewsFile), e.broker.JS, projections.Options{
		StreamName: e.broker.Subjects.StreamName,
	}, log.With("component", "projections")); err != nil {
		return nil, err
	}
	v := newViews(e.store, e.broker.Subjects)
	if err := e.store.Start(ctx, v.all()...); err != nil {
		return nil, err
	}
	if err := e.store.WaitCaughtUp(ctx); err != nil {
		return nil, err
	}
	policy := hookstream.Policy{AllowPrivateDestinations: cfg.AllowPrivateDestinations}
	cmd := commands.New(e.broker, e.store, v.webhooks, v.tokens, policy, time.Now)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newLagCollector(e.store, e.broker))
	core, err := e.startDelivery(ctx, cfg, v, cmd, reg)
	if err != nil {
		return nil, err
	}
	deliveries := commands.NewDeliveryCommands(e.broker, e.store, v.webhooks, v.events, v.diverted, v.attempts, core.Scheduler, core.Jobs, time.Now)
	api := httpapi.New(httpapi.Config{
		Commands:       cmd,
		Webhooks:       v.webhooks,
		Tokens:         v.tokens,
		Deliveries:     deliveries,
		Events:         v.events,
		Attempts:       v.attempts,
		Diverted:       v.diverted,
		AdminTokenHash: hookstream.HashToken(e.adminToken),
		RateLimit:      cfg.RateLimit,
		Ready:          e.readiness,
		Registry:       reg,
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
	go func() { e.served <- e.server.Serve(e.listener) }()
	if cfg.Pprof != "" {
		if err := e.startPprof(cfg.Pprof); err != nil {
			return nil, err
		}
	}
	e.ready.Store(true)
	log.Info("hookstream ready", "version", Version, "http", e.listener.Addr().String(), "nats", e.NATSURL(),
		"data", cfg.Data, "admin_token_file", e.adminTokenPath)
	return e, nil
}

// startDelivery runs the router, the dispatcher, holds, jobs and retention until Stop.
func (e *Engine) startDelivery(ctx context.Context, cfg *config.Config, v views, cmd *commands.Service, reg prometheus.Registerer) (*delivery.Core, error) {
	log := e.log.With("component", "delivery")
	core := delivery.New(delivery.Config{
		Timeout:        cfg.DeliveryTimeout,
		AllowPrivate:   cfg.AllowPrivateDestinations,
		MaxInFlight:    cfg.MaxInFlight,
		MaxPerEndpoint: cfg.MaxInFlightPerEndpoint,
		UserAgent:      "hookstream/" + Version,
		Buckets:        delivery.RetryBuckets(cfg.RetryBuckets),
	}, e.broker, e.store, delivery.Views{Webhooks: v.webhooks, Events: v.events, Attempts: v.attempts, Diverted: v.diverted},
		cmd, cmd, delivery.NewMetrics(reg), log)

	runCtx, cancel := context.WithCancel(context.Background())
	e.stopDelivery, e.delivered = cancel, make(chan struct{})
	var wg sync.WaitGroup
	runs := core.Runs()
	if every := retentionInterval(cfg); every > 0 {
		runs["retention"] = func(ctx context.Context) error { return e.followRetention(ctx, every, v, log) }
	}
	for name, run := range runs {
		wg.Go(func() {
			if err := run(runCtx); err != nil {
				log.Error("delivery component stopped", "component", name, "err", err)
			}
		})
	}
	go func() { wg.Wait(); close(e.delivered) }()
	return core, nil
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

// OpenBroker connects to NATS as cfg says. noListen keeps an embedded server off the network (for offline
// commands such as rebuild).
func OpenBroker(ctx context.Context, cfg *config.Config, log *slog.Logger, noListen bool) (*broker.Broker, error) {
	b, err := broker.Open(ctx, broker.Config{
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
			TaskWindow:   delivery.TaskWindow(cfg.DeliveryTimeout),
			RetainEvents: cfg.RetainEvents, RetainAttempts: cfg.RetainAttempts,
			RetainEventsBytes: cfg.RetainEventsBytes, RetainAttemptsBytes: cfg.RetainAttemptsBytes},
	}, log)
	if err != nil {
		return nil, fmt.Errorf("nats: %w", err)
	}
	return b, nil
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

// Done is closed with the HTTP server's error if it stops serving by itself.
func (e *Engine) Done() <-chan error { return e.served }

func (e *Engine) readiness() error {
	switch {
	case !e.ready.Load():
		return errors.New("starting or stopping")
	case !e.broker.Connected():
		return errors.New("nats not connected")
	}
	return nil
}

// Stop stops accepting requests, lets in-flight ones finish (until ctx ends), flushes the views and shuts
// NATS down.
func (e *Engine) Stop(ctx context.Context) error { return e.stop(ctx) }

func (e *Engine) stop(ctx context.Context) error {
	e.ready.Store(false)
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
	if e.stopDelivery != nil {
		e.stopDelivery()
		<-e.delivered
	}
	if e.store != nil {
		// Apply what the streams already hold, so a clean stop leaves views as current as the log.
		catchUp, cancel := context.WithTimeout(ctx, 3*time.Second)
		if err := e.store.WaitCaughtUp(catchUp); err != nil {
			e.log.Warn("views not fully caught up at stop; they catch up at the next start", "err", err)
		}
		cancel()
		if err := e.store.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if e.broker != nil {
		e.broker.Close()
	}
	return errors.Join(errs...)
}

// Run starts the engine and stops it when ctx ends.
func Run(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	e, err := Start(ctx, cfg, log)
	if err != nil {
		return err
	}
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-e.served:
		log.Error("http server stopped", "err", serveErr)
	}
	log.Info("stopping")
	stopCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := e.Stop(stopCtx); err != nil {
		return err
	}
	log.Info("stopped")
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return serveErr
	}
	return nil
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
