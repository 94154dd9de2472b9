package httpapi

import (
	"net/http"
	"time"

	"github.com/gorilla/mux"
	"github.com/hookstream/hookstream"
	"github.com/hookstream/hookstream/console"
	"github.com/prometheus/client_golang/prometheus"
)

// routeConsole adds the web console's assets and the routes it reads beyond the rest of the API: a
// webhook's attempts and statistics, a tenant's statistics, who a token is, and the engine's health.
func (a *API) routeConsole(r *mux.Router, metrics prometheus.Gatherer) {
	const wh = "/event/{tenantLocator}/webhooks/{webhookLocator}"
	r.Handle(wh+"/attempts", a.tenant(a.webhookAttempts, hookstream.PermEventsList, hookstream.PermEventsRead)).Methods(http.MethodGet)
	r.Handle(wh+"/stats", a.tenant(a.webhookStats, hookstream.PermEventsList, hookstream.PermEventsRead)).Methods(http.MethodGet)
	r.Handle("/event/{tenantLocator}/stats", a.tenant(a.tenantStats, hookstream.PermEventsList, hookstream.PermEventsRead)).Methods(http.MethodGet)
	r.Handle("/whoami", http.HandlerFunc(a.whoami)).Methods(http.MethodGet)
	r.Handle("/admin/health", a.admin(a.health(metrics))).Methods(http.MethodGet)

	r.Handle("/console", http.RedirectHandler("/console/", http.StatusMovedPermanently)).Methods(http.MethodGet, http.MethodHead)
	r.PathPrefix("/console/").Handler(http.StripPrefix("/console", console.Handler())).Methods(http.MethodGet, http.MethodHead)
}

// whoamiResponse describes the token a request carries.
type whoamiResponse struct {
	Locator     string     `json:"locator"`
	Admin       bool       `json:"admin"`
	Tenants     []string   `json:"tenants"`
	Permissions []string   `json:"permissions"`
	ExpiresAt   *time.Time `json:"expiresAt,omitempty"`
}

// whoami tells a client what its token may do, so that it offers only those actions.
func (a *API) whoami(w http.ResponseWriter, r *http.Request) {
	p, err := a.auth.authenticate(r)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	resp := whoamiResponse{Locator: p.Locator, Admin: p.Admin, Tenants: p.Tenants, Permissions: p.Permissions}
	if p.Admin {
		resp.Permissions = []string{hookstream.PermAll}
	} else if t, err := a.tokens.Get(p.Locator); err == nil && t != nil {
		resp.ExpiresAt = t.ExpiresAt
	}
	if resp.Tenants == nil {
		resp.Tenants = []string{}
	}
	if resp.Permissions == nil {
		resp.Permissions = []string{}
	}
	writeJSON(w, http.StatusOK, resp)
}

// healthResponse is the engine's state as the admin sees it: readiness, each view's lag behind its stream and
// each delivery consumer's backlog.
type healthResponse struct {
	Ready bool `json:"ready"`
	// Failing names what is down, as /readyz does.
	Failing   []string                      `json:"failing,omitempty"`
	Views     map[string]float64            `json:"views"`
	Consumers map[string]map[string]float64 `json:"consumers"`
	Streams   map[string]float64            `json:"streams"`
}

func (a *API) health(metrics prometheus.Gatherer) tenantHandler {
	return func(w http.ResponseWriter, _ *request) error {
		resp := healthResponse{Ready: true, Views: map[string]float64{}, Consumers: map[string]map[string]float64{}, Streams: map[string]float64{}}
		if failing := a.failing(); len(failing) > 0 {
			resp.Ready, resp.Failing = false, failing
		}
		families, err := metrics.Gather()
		if err != nil {
			// Some collector failed: what was gathered is still worth showing.
			a.log.Warn("gather metrics for health", "err", err)
		}
		for _, f := range families {
			for _, m := range f.GetMetric() {
				if len(m.GetLabel()) != 1 || m.GetGauge() == nil {
					continue
				}
				label, v := m.GetLabel()[0].GetValue(), m.GetGauge().GetValue()
				switch f.GetName() {
				case "hookstream_projection_lag_messages":
					resp.Views[label] = v
				case "hookstream_stream_last_sequence":
					resp.Streams[label] = v
				case "hookstream_consumer_pending_messages", "hookstream_consumer_ack_pending_messages":
					if resp.Consumers[label] == nil {
						resp.Consumers[label] = map[string]float64{}
					}
					key := "pending"
					if f.GetName() == "hookstream_consumer_ack_pending_messages" {
						key = "ackPending"
					}
					resp.Consumers[label][key] = v
				}
			}
		}
		writeJSON(w, http.StatusOK, resp)
		return nil
	}
}
