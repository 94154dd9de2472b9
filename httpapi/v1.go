package httpapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/hookstream/hookstream"
	"github.com/hookstream/hookstream/delivery"
	"github.com/hookstream/hookstream/projections"
)

// The Lithic face: /v1 routes over the same model, shaped as Lithic's events API so that the official SDK
// works unchanged. A subscription is a webhook: description ↔ name, disabled ↔ !enabled.

// TenantHeader names the tenant for a token of several tenants, or the admin token, on /v1 routes.
const TenantHeader = "Hookstream-Tenant"

// v1Retry is the failure handling of a subscription created through /v1, as Lithic retries.
var v1Retry = hookstream.RetryStrategy{Type: hookstream.RetryExponential, Interval: 5, Attempts: 8}

type v1Subscription struct {
	Token       string   `json:"token"`
	Description string   `json:"description"`
	Disabled    bool     `json:"disabled"`
	URL         string   `json:"url"`
	EventTypes  []string `json:"event_types"`
	// Filter, an extension to Lithic's shape, is the payload filter as given (null when there is none).
	Filter json.RawMessage `json:"filter"`
	// Ordering, an extension, is "none" or "fifo".
	Ordering string `json:"ordering"`
	// RateLimit, an extension, is in deliveries per second, null when there is none.
	RateLimit *int `json:"rate_limit"`
}

func newV1Subscription(w *hookstream.Webhook) v1Subscription {
	s := v1Subscription{Token: w.Locator, Description: w.Name, Disabled: !w.Enabled, URL: w.Endpoint.URL, EventTypes: w.EventTypes,
		Filter: w.Filter, Ordering: w.OrderingName(), RateLimit: rateLimitOf(&w.Endpoint)}
	if len(s.EventTypes) == 0 {
		s.EventTypes = nil
	}
	return s
}

type v1Event struct {
	Token     string          `json:"token"`
	Created   time.Time       `json:"created"`
	EventType string          `json:"event_type"`
	Payload   json.RawMessage `json:"payload"`
}

func newV1Event(e *hookstream.Event, withContent bool) v1Event {
	payload := e.Data
	if !withContent {
		payload = json.RawMessage(`{}`)
	}
	return v1Event{Token: e.Locator, Created: e.Timestamp, EventType: e.Type, Payload: payload}
}

type v1Attempt struct {
	Token                  string    `json:"token"`
	Created                time.Time `json:"created"`
	EventSubscriptionToken string    `json:"event_subscription_token"`
	EventToken             string    `json:"event_token"`
	Response               string    `json:"response"`
	ResponseStatusCode     int       `json:"response_status_code"`
	Status                 string    `json:"status"`
	URL                    string    `json:"url"`
	// Due, an extension to Lithic's shape, is when a PENDING attempt will be sent (absent otherwise).
	Due *time.Time `json:"due,omitempty"`
	// RetryAfter, an extension, is the wait in seconds a 429 or 503 answer asked for (absent otherwise).
	RetryAfter *int `json:"retry_after,omitempty"`
}

func newV1Attempt(a *hookstream.Attempt) v1Attempt {
	response := a.ResponseBody
	if response == "" && a.Error != "" {
		response = a.Error
	}
	v := v1Attempt{Token: a.Locator, Created: a.Created, EventSubscriptionToken: a.Webhook, EventToken: a.Event,
		Response: response, ResponseStatusCode: a.StatusCode, Status: string(a.Status), URL: a.URL, RetryAfter: a.RetryAfter}
	if a.Status == hookstream.AttemptPending && a.Due != nil {
		due := a.Due.UTC()
		v.Due = &due
	}
	return v
}

type v1Page[T any] struct {
	Data    []T  `json:"data"`
	HasMore bool `json:"has_more"`
}

func newV1Page[S, T any](items []S, more bool, conv func(S) T) v1Page[T] {
	p := v1Page[T]{Data: make([]T, 0, len(items)), HasMore: more}
	for _, it := range items {
		p.Data = append(p.Data, conv(it))
	}
	return p
}

// v1ErrorBody is Lithic's error shape.
type v1ErrorBody struct {
	Message            string `json:"message"`
	DebuggingRequestID string `json:"debugging_request_id"`
}

// v1FieldNames maps the domain's (Socotra) field names to the /v1 ones in error messages.
var v1FieldNames = strings.NewReplacer("endpoint.url", "url", "eventTypes", "event_types", "addEventTypes", "event_types",
	"removeEventTypes", "event_types", "name", "description",
	"endpoint.rateLimit", "rate_limit")

// writeV1Error answers err in Lithic's shape. Every error is logged with its request id, so a client quoting
// debugging_request_id can be traced.
func writeV1Error(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var de *hookstream.Error
	if !errors.As(err, &de) {
		log.ErrorContext(r.Context(), "request failed", "request_id", requestID(r), "method", r.Method, "path", r.URL.Path, "err", err)
		de = &hookstream.Error{Code: hookstream.CodeInternal, Message: "internal error"}
	}
	msg := de.Message
	if de.Field != "" {
		field := de.Field
		if !strings.HasPrefix(field, "filter") { // a filter's paths are the user's own words
			field = v1FieldNames.Replace(field)
		}
		msg = field + ": " + msg
	}
	status := statusOf(de.Code)
	if status < 500 {
		log.InfoContext(r.Context(), "request refused", "request_id", requestID(r), "method", r.Method, "status", status, "message", msg)
	}
	writeJSON(w, status, v1ErrorBody{Message: msg, DebuggingRequestID: requestID(r)})
}

// v1 wraps a handler of the Lithic face: 401 without a valid token; the tenant is the token's, or for a
// token of several tenants (or the admin token) the one named by Hookstream-Tenant (400 when missing or not
// the token's); 403 when the token lacks every one of perms.
func (a *API) v1(h tenantHandler, perms ...hookstream.Permission) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := a.auth.authenticate(r)
		if err != nil {
			writeV1Error(w, r, a.log, err)
			return
		}
		tenant, err := v1Tenant(p, r.Header.Get(TenantHeader))
		if err != nil {
			writeV1Error(w, r, a.log, err)
			return
		}
		if err := p.Authorize(tenant, perms...); err != nil {
			writeV1Error(w, r, a.log, err)
			return
		}
		if err := h(w, &request{Request: r, principal: p, tenant: tenant}); err != nil {
			writeV1Error(w, r, a.log, err)
		}
	})
}

func v1Tenant(p *hookstream.Principal, header string) (string, error) {
	if header == "" {
		if !p.Admin && len(p.Tenants) == 1 {
			return p.Tenants[0], nil
		}
		return "", hookstream.Invalid(TenantHeader, "this token serves several tenants: name one in the %s header", TenantHeader)
	}
	if err := hookstream.CheckTenant(TenantHeader, header); err != nil {
		return "", err
	}
	if !p.Admin && !slices.Contains(p.Tenants, header) {
		return "", hookstream.Invalid(TenantHeader, "names a tenant this token does not serve")
	}
	return header, nil
}

// v1Cursor reads page_size (1..100, default 50), starting_after and ending_before.
func v1Cursor(r *request) (after, before string, size int, err error) {
	q := r.URL.Query()
	if size, err = queryInt(q, "page_size", 50, 1, 100); err != nil {
		return "", "", 0, err
	}
	after, _ = single(q, "starting_after")
	before, _ = single(q, "ending_before")
	if after != "" && before != "" {
		return "", "", 0, hookstream.Invalid("starting_after", "cannot be combined with ending_before")
	}
	for name, tok := range map[string]string{"starting_after": after, "ending_before": before} {
		if tok != "" && !hookstream.ValidLocator(tok) {
			return "", "", 0, hookstream.Invalid(name, "is not a token of this list")
		}
	}
	return after, before, size, nil
}

func v1Window(r *request) (begin, end time.Time, err error) {
	q := r.URL.Query()
	if begin, err = queryTime(q, "begin"); err != nil {
		return
	}
	end, err = queryTime(q, "end")
	return
}

// pathToken reads a token from the path. A token hookstream could not have issued (a Lithic UUID kept from
// before the move, say) names nothing here: 404, as Lithic answers for an unknown token.
func pathToken(r *request, name string) (string, error) {
	t := mux.Vars(r.Request)[name]
	if !hookstream.ValidLocator(t) {
		return "", hookstream.NotFound("%s %q not found", name, truncateToken(t))
	}
	return t, nil
}

func truncateToken(t string) string {
	if len(t) > 64 {
		return t[:64] + "…"
	}
	return t
}

// v1SubscriptionRequest is the body of create and update. Unknown fields are tolerated, as Lithic does.
type v1SubscriptionRequest struct {
	URL         *string   `json:"url"`
	Description *string   `json:"description"`
	Disabled    *bool     `json:"disabled"`
	EventTypes  *[]string `json:"event_types"`
	// Filter, an extension, sets the payload filter; null removes it.
	Filter json.RawMessage `json:"filter"`
	// Ordering, an extension, sets the ordering; null sets it back to "none".
	Ordering hookstream.Clearable[string] `json:"ordering"`
	// RateLimit, an extension, sets the rate limit; null removes it.
	RateLimit hookstream.Clearable[int] `json:"rate_limit"`
}

func (a *API) v1CreateSubscription(w http.ResponseWriter, r *request) error {
	var req v1SubscriptionRequest
	if err := decodeLenient(r.Request, &req); err != nil {
		return err
	}
	if req.URL == nil || *req.URL == "" {
		return hookstream.Invalid("url", "is required")
	}
	create := &hookstream.WebhookCreate{Endpoint: &hookstream.EndpointCreate{URL: *req.URL}}
	if req.Description != nil {
		create.Name = *req.Description
	}
	if req.Disabled != nil {
		enabled := !*req.Disabled
		create.Enabled = &enabled
	}
	if req.EventTypes != nil {
		create.EventTypes = *req.EventTypes
	}
	create.Filter = req.Filter
	if req.Ordering.Set && !req.Ordering.Null {
		create.Ordering = &req.Ordering.Value
	}
	if req.RateLimit.Set && !req.RateLimit.Null {
		create.Endpoint.RateLimit = &req.RateLimit.Value
	}
	rs := v1Retry
	create.FailureHandling = &hookstream.FailureHandlingCreate{RetryStrategy: &rs}
	wh, err := a.cmd.CreateWebhook(r.Context(), r.principal.Locator, r.tenant, create)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, newV1Subscription(wh))
	return nil
}

func (a *API) v1GetSubscription(w http.ResponseWriter, r *request) error {
	tok, err := pathToken(r, "event_subscription_token")
	if err != nil {
		return err
	}
	wh, err := a.webhooks.Get(r.tenant, tok)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newV1Subscription(wh))
	return nil
}

func (a *API) v1ListSubscriptions(w http.ResponseWriter, r *request) error {
	after, before, size, err := v1Cursor(r)
	if err != nil {
		return err
	}
	items, more, err := a.webhooks.PageWebhooks(r.tenant, after, before, size)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newV1Page(items, more, newV1Subscription))
	return nil
}

func (a *API) v1UpdateSubscription(w http.ResponseWriter, r *request) error {
	tok, err := pathToken(r, "event_subscription_token")
	if err != nil {
		return err
	}
	var req v1SubscriptionRequest
	if err := decodeLenient(r.Request, &req); err != nil {
		return err
	}
	wh, err := a.cmd.UpdateWebhookWith(r.Context(), r.principal.Locator, r.tenant, tok, func(cur *hookstream.Webhook) *hookstream.WebhookUpdate {
		u := &hookstream.WebhookUpdate{Name: req.Description, Filter: req.Filter, Ordering: req.Ordering}
		if req.URL != nil || req.RateLimit.Set {
			u.Endpoint = &hookstream.EndpointUpdate{URL: req.URL, RateLimit: req.RateLimit}
		}
		if req.Disabled != nil {
			enabled := !*req.Disabled
			u.Enabled = &enabled
		}
		if req.EventTypes != nil {
			// Lithic sends the whole list: recorded as removing what is there and adding what is asked.
			u.RemoveEventTypes, u.AddEventTypes = slices.Clone(cur.EventTypes), *req.EventTypes
		}
		return u
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newV1Subscription(wh))
	return nil
}

func (a *API) v1DeleteSubscription(w http.ResponseWriter, r *request) error {
	tok, err := pathToken(r, "event_subscription_token")
	if err != nil {
		return err
	}
	if err := a.cmd.DeleteWebhook(r.Context(), r.principal.Locator, r.tenant, tok); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) v1Secret(w http.ResponseWriter, r *request) error {
	tok, err := pathToken(r, "event_subscription_token")
	if err != nil {
		return err
	}
	wh, err := a.webhooks.Get(r.tenant, tok)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"secret": wh.Endpoint.Secret})
	return nil
}

func (a *API) v1RotateSecret(w http.ResponseWriter, r *request) error {
	tok, err := pathToken(r, "event_subscription_token")
	if err != nil {
		return err
	}
	if _, err := a.cmd.RotateSecret(r.Context(), r.principal.Locator, r.tenant, tok); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// attemptQuery reads the filters and cursor of an attempts listing.
func attemptQuery(r *request) (projections.AttemptFilter, string, string, int, error) {
	var f projections.AttemptFilter
	after, before, size, err := v1Cursor(r)
	if err != nil {
		return f, "", "", 0, err
	}
	if f.Begin, f.End, err = v1Window(r); err != nil {
		return f, "", "", 0, err
	}
	if s, ok := single(r.URL.Query(), "status"); ok {
		switch hookstream.AttemptStatus(s) {
		case hookstream.AttemptSuccess, hookstream.AttemptFailed, hookstream.AttemptPending, hookstream.AttemptSending:
			f.Status = s
		default:
			return f, "", "", 0, hookstream.Invalid("status", "must be FAILED, PENDING, SENDING or SUCCESS")
		}
	}
	return f, after, before, size, nil
}

func (a *API) v1SubscriptionAttempts(w http.ResponseWriter, r *request) error {
	tok, err := pathToken(r, "event_subscription_token")
	if err != nil {
		return err
	}
	f, after, before, size, err := attemptQuery(r)
	if err != nil {
		return err
	}
	if _, err := a.webhooks.Get(r.tenant, tok); err != nil {
		return err
	}
	items, more, err := a.attempts.PageForWebhook(r.tenant, tok, f, after, before, size)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newV1Page(items, more, newV1Attempt))
	return nil
}

func (a *API) v1EventAttempts(w http.ResponseWriter, r *request) error {
	tok, err := pathToken(r, "event_token")
	if err != nil {
		return err
	}
	f, after, before, size, err := attemptQuery(r)
	if err != nil {
		return err
	}
	if _, err := a.deliveries.Event(r.Context(), r.tenant, tok); err != nil {
		return err
	}
	items, more, err := a.attempts.PageForEvent(r.tenant, tok, f, after, before, size)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newV1Page(items, more, newV1Attempt))
	return nil
}

func (a *API) v1Job(kind string) tenantHandler {
	return func(w http.ResponseWriter, r *request) error {
		tok, err := pathToken(r, "event_subscription_token")
		if err != nil {
			return err
		}
		begin, end, err := v1Window(r)
		if err != nil {
			return err
		}
		if err := a.deliveries.StartJob(r.Context(), r.principal.Locator, r.tenant, tok, kind, begin, end); err != nil {
			return err
		}
		w.WriteHeader(http.StatusAccepted)
		return nil
	}
}

func (a *API) v1ListEvents(w http.ResponseWriter, r *request) error {
	after, before, size, err := v1Cursor(r)
	if err != nil {
		return err
	}
	var f projections.EventFilter
	if f.Start, f.End, err = v1Window(r); err != nil {
		return err
	}
	if f.Types, err = queryEventTypes(r.URL.Query(), "event_types"); err != nil {
		return err
	}
	withContent, err := queryBool(r.URL.Query(), "with_content")
	if err != nil {
		return err
	}
	if err := a.deliveries.CatchUpEvents(r.Context()); err != nil {
		return err
	}
	items, more, err := a.events.PageEvents(r.tenant, f, after, before, size)
	if err != nil {
		return err
	}
	show := withContent == nil || *withContent
	writeJSON(w, http.StatusOK, newV1Page(items, more, func(e *hookstream.Event) v1Event { return newV1Event(e, show) }))
	return nil
}

func (a *API) v1GetEvent(w http.ResponseWriter, r *request) error {
	tok, err := pathToken(r, "event_token")
	if err != nil {
		return err
	}
	e, err := a.deliveries.Event(r.Context(), r.tenant, tok)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newV1Event(e, true))
	return nil
}

func (a *API) v1Resend(w http.ResponseWriter, r *request) error {
	event, err := pathToken(r, "event_token")
	if err != nil {
		return err
	}
	sub, err := pathToken(r, "event_subscription_token")
	if err != nil {
		return err
	}
	if err := a.deliveries.Resend(r.Context(), r.tenant, sub, event); err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

func (a *API) v1SendExample(w http.ResponseWriter, r *request) error {
	tok, err := pathToken(r, "event_subscription_token")
	if err != nil {
		return err
	}
	var req struct {
		EventType *string `json:"event_type"`
	}
	if r.ContentLength != 0 {
		if err := decodeLenient(r.Request, &req); err != nil {
			return err
		}
	}
	eventType := "card.created"
	if req.EventType != nil {
		eventType = *req.EventType
	}
	if err := a.deliveries.SendExample(r.Context(), r.tenant, tok, eventType); err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

func (a *API) routeV1(r interface {
	Handle(path string, h http.Handler) *mux.Route
}) {
	const subs = "/v1/event_subscriptions"
	const sub = subs + "/{event_subscription_token}"
	r.Handle(subs, a.v1(a.v1ListSubscriptions, hookstream.PermWebhooksList, hookstream.PermWebhooksRead)).Methods(http.MethodGet)
	r.Handle(subs, a.v1(a.v1CreateSubscription, hookstream.PermWebhooksWrite)).Methods(http.MethodPost)
	r.Handle(sub, a.v1(a.v1GetSubscription, hookstream.PermWebhooksRead)).Methods(http.MethodGet)
	r.Handle(sub, a.v1(a.v1UpdateSubscription, hookstream.PermWebhooksWrite)).Methods(http.MethodPatch)
	r.Handle(sub, a.v1(a.v1DeleteSubscription, hookstream.PermWebhooksWrite)).Methods(http.MethodDelete)
	r.Handle(sub+"/attempts", a.v1(a.v1SubscriptionAttempts, hookstream.PermEventsList, hookstream.PermEventsRead)).Methods(http.MethodGet)
	r.Handle(sub+"/recover", a.v1(a.v1Job(delivery.JobRecover), hookstream.PermDivertedResend)).Methods(http.MethodPost)
	r.Handle(sub+"/replay_missing", a.v1(a.v1Job(delivery.JobReplayMissing), hookstream.PermDivertedResend)).Methods(http.MethodPost)
	r.Handle(sub+"/secret", a.v1(a.v1Secret, hookstream.PermWebhooksWrite)).Methods(http.MethodGet)
	r.Handle(sub+"/secret/rotate", a.v1(a.v1RotateSecret, hookstream.PermWebhooksWrite)).Methods(http.MethodPost)
	r.Handle("/v1/events", a.v1(a.v1ListEvents, hookstream.PermEventsList, hookstream.PermEventsRead)).Methods(http.MethodGet)
	r.Handle("/v1/events/{event_token}", a.v1(a.v1GetEvent, hookstream.PermEventsRead)).Methods(http.MethodGet)
	r.Handle("/v1/events/{event_token}/attempts", a.v1(a.v1EventAttempts, hookstream.PermEventsList, hookstream.PermEventsRead)).Methods(http.MethodGet)
	r.Handle("/v1/events/{event_token}/event_subscriptions/{event_subscription_token}/resend", a.v1(a.v1Resend, hookstream.PermDivertedResend)).Methods(http.MethodPost)
	r.Handle("/v1/simulate/event_subscriptions/{event_subscription_token}/send_example", a.v1(a.v1SendExample, hookstream.PermWebhooksWrite)).Methods(http.MethodPost)
}
