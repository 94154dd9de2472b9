package httpapi

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/gorilla/mux"
	"github.com/hookstream/hookstream"
	"github.com/hookstream/hookstream/projections"
)

// webhookResponse is Socotra's WebhookResponse.
type webhookResponse struct {
	Locator         string                  `json:"locator"`
	Name            string                  `json:"name"`
	Enabled         bool                    `json:"enabled"`
	Endpoint        webhookEndpointResponse `json:"endpoint"`
	FailureHandling failureHandlingResponse `json:"failureHandling"`
	Suspended       bool                    `json:"suspended"`
	SuspendedAt     *time.Time              `json:"suspendedAt"`
	EventTypes      []string                `json:"eventTypes"`
	// Filter is the payload filter as given, null when there is none.
	Filter json.RawMessage `json:"filter"`
	// Ordering is "none" or "fifo".
	Ordering string `json:"ordering"`
}

// webhookEndpointResponse is a webhook's own endpoint, which (unlike an alert endpoint) may be rate limited.
type webhookEndpointResponse struct {
	endpointResponse
	// RateLimit is in deliveries per second, null when there is none.
	RateLimit *int `json:"rateLimit"`
}

type endpointResponse struct {
	URL         string              `json:"url"`
	HMACEnabled bool                `json:"hmacEnabled"`
	Secret      string              `json:"secret"`
	SecureSSL   bool                `json:"secureSsl"`
	Tag         string              `json:"tag"`
	Headers     map[string][]string `json:"headers"`
}

type failureHandlingResponse struct {
	AlertEndpoint *endpointResponse         `json:"alertEndpoint"`
	Divert        bool                      `json:"divert"`
	RetryStrategy *hookstream.RetryStrategy `json:"retryStrategy"`
	Suspend       bool                      `json:"suspend"`
	Triggers      []string                  `json:"triggers"`
}

type webhookListResponse struct {
	ListCompleted bool              `json:"listCompleted"`
	Items         []webhookResponse `json:"items"`
}

// MaskSecret shows a secret's form and last four characters only.
func MaskSecret(s string) string {
	if len(s) <= 10 {
		return "whsec_…"
	}
	return "whsec_…" + s[len(s)-4:]
}

func newEndpointResponse(e *hookstream.Endpoint, showSecret bool) endpointResponse {
	r := endpointResponse{URL: e.URL, HMACEnabled: e.HMACEnabled, Secret: e.Secret, SecureSSL: e.SecureSSL, Tag: e.Tag, Headers: e.Headers}
	if !showSecret {
		r.Secret = MaskSecret(e.Secret)
	}
	if r.Headers == nil {
		r.Headers = map[string][]string{}
	}
	return r
}

func newWebhookResponse(w *hookstream.Webhook, showSecrets bool) webhookResponse {
	fh := w.FailureHandling
	r := webhookResponse{
		Locator:     w.Locator,
		Name:        w.Name,
		Enabled:     w.Enabled,
		Endpoint:    webhookEndpointResponse{endpointResponse: newEndpointResponse(&w.Endpoint, showSecrets), RateLimit: rateLimitOf(&w.Endpoint)},
		Suspended:   w.Suspended,
		SuspendedAt: w.SuspendedAt,
		EventTypes:  w.EventTypes,
		Filter:      w.Filter,
		Ordering:    w.OrderingName(),
		FailureHandling: failureHandlingResponse{
			Divert:        fh.Divert,
			RetryStrategy: fh.RetryStrategy,
			Suspend:       fh.Suspend,
			Triggers:      fh.Triggers,
		},
	}
	if fh.AlertEndpoint != nil {
		a := newEndpointResponse(fh.AlertEndpoint, showSecrets)
		r.FailureHandling.AlertEndpoint = &a
	}
	if r.EventTypes == nil {
		r.EventTypes = []string{}
	}
	if r.FailureHandling.Triggers == nil {
		r.FailureHandling.Triggers = []string{}
	}
	return r
}

// rateLimitOf is the endpoint's rate limit as the API shows it: nil when there is none.
func rateLimitOf(e *hookstream.Endpoint) *int {
	if e.RateLimit == 0 {
		return nil
	}
	n := e.RateLimit
	return &n
}

func webhookLocator(r *request) (string, error) {
	l := mux.Vars(r.Request)["webhookLocator"]
	return l, hookstream.CheckLocator("webhookLocator", l)
}

func (a *API) createWebhook(w http.ResponseWriter, r *request) error {
	var req hookstream.WebhookCreate
	if err := decodeStrict(r.Request, &req); err != nil {
		return err
	}
	wh, err := a.cmd.CreateWebhook(r.Context(), r.principal.Locator, r.tenant, &req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newWebhookResponse(wh, true))
	return nil
}

func (a *API) getWebhook(w http.ResponseWriter, r *request) error {
	loc, err := webhookLocator(r)
	if err != nil {
		return err
	}
	wh, err := a.webhooks.Get(r.tenant, loc)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newWebhookResponse(wh, false))
	return nil
}

func (a *API) listWebhooks(w http.ResponseWriter, r *request) error {
	q := r.URL.Query()
	offset, err := queryInt(q, "offset", 0, 0, 1<<30)
	if err != nil {
		return err
	}
	count, err := queryInt(q, "count", 100, 1, 1000)
	if err != nil {
		return err
	}
	var f projections.WebhookFilter
	f.Name, _ = single(q, "name")
	if f.Enabled, err = queryBool(q, "enabled"); err != nil {
		return err
	}
	if f.Suspended, err = queryBool(q, "suspended"); err != nil {
		return err
	}
	if f.Active, err = queryBool(q, "active"); err != nil {
		return err
	}
	if f.EventTypes, err = queryEventTypes(q, "eventTypes"); err != nil {
		return err
	}
	extended, err := queryBool(q, "extended")
	if err != nil {
		return err
	}
	showSecrets := extended != nil && *extended && r.principal.Has(hookstream.PermWebhooksWrite)
	items, more, err := a.webhooks.List(r.tenant, f, offset, count)
	if err != nil {
		return err
	}
	resp := webhookListResponse{ListCompleted: !more, Items: make([]webhookResponse, 0, len(items))}
	for _, wh := range items {
		resp.Items = append(resp.Items, newWebhookResponse(wh, showSecrets))
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (a *API) updateWebhook(w http.ResponseWriter, r *request) error {
	loc, err := webhookLocator(r)
	if err != nil {
		return err
	}
	var req hookstream.WebhookUpdate
	if err := decodeStrict(r.Request, &req); err != nil {
		return err
	}
	wh, err := a.cmd.UpdateWebhook(r.Context(), r.principal.Locator, r.tenant, loc, &req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newWebhookResponse(wh, false))
	return nil
}

func (a *API) unsuspendWebhook(w http.ResponseWriter, r *request) error {
	loc, err := webhookLocator(r)
	if err != nil {
		return err
	}
	if _, err := a.cmd.Unsuspend(r.Context(), r.principal.Locator, r.tenant, loc); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) deleteWebhook(w http.ResponseWriter, r *request) error {
	loc, err := webhookLocator(r)
	if err != nil {
		return err
	}
	if err := a.cmd.DeleteWebhook(r.Context(), r.principal.Locator, r.tenant, loc); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// historyItem is one change event of a webhook, secrets masked.
type historyItem struct {
	Sequence  uint64    `json:"sequence"`
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Actor     string    `json:"actor"`
	Change    any       `json:"change"`
}

func (a *API) webhookHistory(w http.ResponseWriter, r *request) error {
	loc, err := webhookLocator(r)
	if err != nil {
		return err
	}
	entries, err := a.webhooks.History(r.tenant, loc)
	if err != nil {
		return err
	}
	if len(entries) == 0 {
		return hookstream.NotFound("webhook %s not found", loc)
	}
	items := make([]historyItem, 0, len(entries))
	for _, h := range entries {
		items = append(items, historyItem{Sequence: h.Seq, Type: h.Event.Type, Timestamp: h.Event.Time, Actor: h.Event.Actor, Change: maskedChange(&h.Event)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
	return nil
}

// maskedChange renders what an event changed, with every secret masked.
func maskedChange(e *hookstream.WebhookEvent) any {
	switch {
	case e.Create != nil:
		wh := hookstream.Webhook{Locator: e.Webhook, WebhookConfig: *e.Create}
		return newWebhookResponse(&wh, false)
	case e.Update != nil:
		u := *e.Update
		if u.Endpoint != nil && u.Endpoint.Secret != nil {
			ep := *u.Endpoint
			masked := MaskSecret(*ep.Secret)
			ep.Secret = &masked
			u.Endpoint = &ep
		}
		if u.FailureHandling != nil && u.FailureHandling.AlertEndpoint != nil && u.FailureHandling.AlertEndpoint.Secret != nil {
			fh := *u.FailureHandling
			ep := *fh.AlertEndpoint
			masked := MaskSecret(*ep.Secret)
			ep.Secret = &masked
			fh.AlertEndpoint = &ep
			u.FailureHandling = &fh
		}
		return u
	case e.Secret != "":
		return map[string]string{"secret": MaskSecret(e.Secret)}
	case e.Reason != "":
		return map[string]string{"reason": e.Reason}
	default:
		return map[string]any{}
	}
}
