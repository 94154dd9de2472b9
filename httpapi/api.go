// Package httpapi serves hookstream's HTTP faces over one model: the Socotra-style /event/{tenantLocator}
// API, the admin token API, and health, readiness and metrics. Routing is gorilla/mux; errors are mapped to
// status codes in one place per face.
package httpapi

import (
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/hookstream/hookstream"
	"github.com/hookstream/hookstream/commands"
	"github.com/hookstream/hookstream/projections"
	"github.com/hookstream/hookstream/tracing"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Config holds what the API serves from.
type Config struct {
	Commands *commands.Service
	Webhooks *projections.Webhooks
	Tokens   *projections.Tokens
	// Deliveries carries out event and delivery-record commands.
	Deliveries *commands.DeliveryCommands
	Events     *projections.Events
	Attempts   *projections.Attempts
	Diverted   *projections.Diverted
	// AdminTokenHash is the SHA-256 (hex) of the admin token.
	AdminTokenHash string
	// RateLimit is the requests per second allowed per token (0: unlimited).
	RateLimit float64
	// Failing names what keeps the engine from serving fully (the broker, a view that is not advancing, a
	// delivery component that is down); none when ready. /readyz reports it.
	Failing func() []string
	// Serving reports whether the views have caught up with the streams once (before that, no route that
	// reads them can answer) and whether NATS is connected now (without it, nothing can be written).
	Serving func() (views, broker bool)
	// Registry receives the HTTP metrics and is served at /metrics.
	Registry *prometheus.Registry
	Log      *slog.Logger
	Now      func() time.Time

	// Tracer exports a span per ingested event; nil: none.
	Tracer *tracing.Tracer
}

// API is the HTTP handler.
type API struct {
	cmd      *commands.Service
	webhooks *projections.Webhooks
	tokens   *projections.Tokens
	events   *projections.Events
	attempts *projections.Attempts
	diverted *projections.Diverted

	deliveries *commands.DeliveryCommands
	auth       *authenticator
	failing    func() []string
	serving    func() (views, broker bool)
	log        *slog.Logger
	metrics    *httpMetrics
	limiter    *rateLimiter // nil: unlimited
	tracer     *tracing.Tracer
	// router is kept so that tests can walk the registered routes.
	router  *mux.Router
	handler http.Handler
}

// New builds the API.
func New(cfg Config) *API {
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	a := &API{
		cmd:      cfg.Commands,
		webhooks: cfg.Webhooks,
		tokens:   cfg.Tokens,
		events:   cfg.Events,
		attempts: cfg.Attempts,
		diverted: cfg.Diverted,

		deliveries: cfg.Deliveries,
		auth:       &authenticator{adminHash: cfg.AdminTokenHash, tokens: cfg.Tokens, now: now},
		failing:    cfg.Failing,
		serving:    cfg.Serving,
		log:        cfg.Log,
		metrics:    newHTTPMetrics(cfg.Registry),
		tracer:     cfg.Tracer,
	}
	if cfg.RateLimit > 0 {
		a.limiter = newRateLimiter(cfg.RateLimit, now, maxRateBuckets)
	}
	// SkipClean: a path with "..", "//" or an encoded slash is answered as it is (a 4xx for a bad locator),
	// never redirected to a cleaned path that may name something else.
	r := mux.NewRouter().SkipClean(true)
	r.Use(nameRoute, a.available, a.rateLimit)
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.routeError(w, r, &hookstream.Error{Code: hookstream.CodeNotFound, Message: "no route for " + r.Method + " " + r.URL.Path})
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.routeError(w, r, &hookstream.Error{Code: "method_not_allowed", Message: r.Method + " is not allowed on " + r.URL.Path})
	})

	// gorilla/mux tries the routes in order, a regexp each: ingestion, the hottest route, goes first.
	const ev = "/event/{tenantLocator}/events"
	r.Handle(ev, a.tenant(a.publishEvent, hookstream.PermEventsWrite)).Methods(http.MethodPost)
	r.Handle(ev+"/batch", a.tenant(a.publishBatch, hookstream.PermEventsWrite)).Methods(http.MethodPost)

	r.Handle("/healthz", http.HandlerFunc(a.healthz)).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/readyz", http.HandlerFunc(a.readyz)).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/metrics", promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{})).Methods(http.MethodGet)
	r.Handle("/openapi.json", http.HandlerFunc(serveOpenAPI)).Methods(http.MethodGet)

	r.Handle("/admin/tokens", a.admin(a.createToken)).Methods(http.MethodPost)
	r.Handle("/admin/tokens", a.admin(a.listTokens)).Methods(http.MethodGet)
	r.Handle("/admin/tokens/{tokenLocator}", a.admin(a.revokeToken)).Methods(http.MethodDelete)

	// Full paths rather than a PathPrefix subrouter: gorilla/mux answers 404 instead of 405 for a method
	// mismatch inside a subrouter.
	const wh = "/event/{tenantLocator}/webhooks"
	r.Handle(wh, a.tenant(a.createWebhook, hookstream.PermWebhooksWrite)).Methods(http.MethodPost)
	r.Handle(wh+"/list", a.tenant(a.listWebhooks, hookstream.PermWebhooksList, hookstream.PermWebhooksRead)).Methods(http.MethodGet)
	r.Handle(wh+"/{webhookLocator}", a.tenant(a.getWebhook, hookstream.PermWebhooksRead)).Methods(http.MethodGet)
	r.Handle(wh+"/{webhookLocator}", a.tenant(a.updateWebhook, hookstream.PermWebhooksWrite)).Methods(http.MethodPatch)
	r.Handle(wh+"/{webhookLocator}", a.tenant(a.deleteWebhook, hookstream.PermWebhooksWrite)).Methods(http.MethodDelete)
	r.Handle(wh+"/{webhookLocator}/unsuspend", a.tenant(a.unsuspendWebhook, hookstream.PermWebhooksWrite)).Methods(http.MethodPatch)
	r.Handle(wh+"/{webhookLocator}/history", a.tenant(a.webhookHistory, hookstream.PermWebhooksRead)).Methods(http.MethodGet)

	r.Handle(wh+"/{webhookLocator}/diverted", a.tenant(a.listDiverted, hookstream.PermDivertedList, hookstream.PermDivertedRead)).Methods(http.MethodGet)
	r.Handle(wh+"/{webhookLocator}/diverted/{eventLocator}", a.tenant(a.getDiverted, hookstream.PermDivertedRead)).Methods(http.MethodGet)
	r.Handle(wh+"/{webhookLocator}/diverted/{eventLocator}", a.tenant(a.deleteDiverted, hookstream.PermDivertedDelete)).Methods(http.MethodDelete)
	r.Handle(wh+"/{webhookLocator}/diverted/{eventLocator}/resend", a.tenant(a.resendDiverted, hookstream.PermDivertedResend)).Methods(http.MethodPost)

	r.Handle(ev+"/list", a.tenant(a.listEvents, hookstream.PermEventsList, hookstream.PermEventsRead)).Methods(http.MethodGet)
	r.Handle(ev+"/{eventLocator}", a.tenant(a.getEvent, hookstream.PermEventsRead)).Methods(http.MethodGet)

	a.routeV1(r)
	a.routeConsole(r, cfg.Registry)

	a.router, a.handler = r, a.outer(r)
	return a
}

// routeError answers an unknown route or method in the shape of the face the path belongs to.
func (a *API) routeError(w http.ResponseWriter, r *http.Request, err *hookstream.Error) {
	if r.URL.Path == "/v1" || strings.HasPrefix(r.URL.Path, "/v1/") {
		writeV1Error(w, r, a.log, err)
		return
	}
	writeError(w, r, a.log, err)
}

// ServeHTTP implements http.Handler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.handler.ServeHTTP(w, r) }

// request is what a tenant-scoped handler gets: the principal and the validated tenant.
type request struct {
	*http.Request
	principal *hookstream.Principal
	tenant    string
}

// tenantHandler answers a request or returns the error to answer with.
type tenantHandler func(w http.ResponseWriter, r *request) error

// tenant wraps a handler of the Socotra face: 401 without a valid token, 400 for a tenant that is not a UUID,
// 403 when the token lacks every one of perms or the tenant.
func (a *API) tenant(h tenantHandler, perms ...hookstream.Permission) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := a.auth.authenticate(r)
		if err != nil {
			writeError(w, r, a.log, err)
			return
		}
		tenant := mux.Vars(r)["tenantLocator"]
		if err := hookstream.CheckTenant("tenantLocator", tenant); err != nil {
			writeError(w, r, a.log, err)
			return
		}
		if err := p.Authorize(tenant, perms...); err != nil {
			writeError(w, r, a.log, err)
			return
		}
		if err := h(w, &request{Request: r, principal: p, tenant: tenant}); err != nil {
			writeError(w, r, a.log, brokerError(err))
		}
	})
}

// admin wraps a handler that only the admin token may call.
func (a *API) admin(h tenantHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := a.auth.authenticate(r)
		if err != nil {
			writeError(w, r, a.log, err)
			return
		}
		if !p.Admin {
			writeError(w, r, a.log, hookstream.Forbidden("only the admin token may manage tokens"))
			return
		}
		if err := h(w, &request{Request: r, principal: p}); err != nil {
			writeError(w, r, a.log, brokerError(err))
		}
	})
}

func (a *API) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readiness is /readyz's answer.
type readiness struct {
	Ready   bool     `json:"ready"`
	Failing []string `json:"failing,omitempty"`
}

func (a *API) readyz(w http.ResponseWriter, _ *http.Request) {
	if failing := a.failing(); len(failing) > 0 {
		writeJSON(w, http.StatusServiceUnavailable, readiness{Failing: failing})
		return
	}
	writeJSON(w, http.StatusOK, readiness{Ready: true})
}
