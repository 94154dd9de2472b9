package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"time"

	"github.com/gorilla/mux"
	"github.com/hookstream/hookstream"
	"github.com/hookstream/hookstream/broker"
	"github.com/hookstream/hookstream/projections"
	"github.com/hookstream/hookstream/tracing"
	"go.opentelemetry.io/otel/attribute"
)

// eventRequest is the body of POST /event/{tenantLocator}/events.
type eventRequest struct {
	Type      string          `json:"type"`
	Data      json.RawMessage `json:"data"`
	RequestID string          `json:"requestId"`
}

// MaxIdempotencyKeyLength bounds the Idempotency-Key header.
const MaxIdempotencyKeyLength = 255

func (a *API) publishEvent(w http.ResponseWriter, r *request) error {
	body, err := readBody(r.Request)
	if err != nil {
		return err
	}
	var req eventRequest
	if err := decodeIngest(body, &req, false); err != nil {
		return err
	}
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	var msgID string
	if key != "" {
		msgID = broker.IdempotencyMsgID(r.tenant, key)
	}
	in, err := ingestInput(r.tenant, &req, msgID)
	if err != nil {
		return err
	}
	// The producer's trace context, when valid, is the ingest span's parent; without one the event starts a
	// trace of its own here. Either way the event keeps the context of this span for its attempts.
	given, _ := tracing.Parse(r.Header.Get("Traceparent"), r.Header.Get("Tracestate"))
	span := a.tracer.Start(r.Context(), "hookstream.ingest", tracing.KindServer, given)
	defer span.End()
	in.Trace = span.Context(given)
	events, errs := a.deliveries.PublishEvents(r.Context(), []broker.EventInput{in})
	if errs[0] != nil {
		span.Fail("not ingested")
		return errs[0]
	}
	e := events[0]
	if span.Recording() {
		span.SetAttributes(attribute.String("hookstream.tenant", e.Tenant), attribute.String("hookstream.event", e.Locator),
			attribute.String("hookstream.event_type", e.Type))
	}
	writeJSON(w, http.StatusAccepted, e)
	return nil
}

func (a *API) getEvent(w http.ResponseWriter, r *request) error {
	loc := mux.Vars(r.Request)["eventLocator"]
	if err := hookstream.CheckLocator("eventLocator", loc); err != nil {
		return err
	}
	e, err := a.deliveries.Event(r.Context(), r.tenant, loc)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, e)
	return nil
}

// pagingToken is what an events page's token encodes: where the next page starts and the query's filters,
// so the token alone continues the same query, forever.
type pagingToken struct {
	After uint64    `json:"a"`
	Start time.Time `json:"s,omitzero"`
	End   time.Time `json:"e,omitzero"`
	Types []string  `json:"t,omitempty"`
}

func (p *pagingToken) encode() string {
	data, _ := json.Marshal(p)
	return base64.RawURLEncoding.EncodeToString(data)
}

func decodePagingToken(s string) (*pagingToken, error) {
	bad := hookstream.Invalid("pagingToken", "is not a paging token returned by this API")
	data, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(s) > 4096 || !bytes.HasPrefix(data, []byte("{")) {
		return nil, bad
	}
	var p pagingToken
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, bad
	}
	for _, t := range p.Types {
		if hookstream.CheckEventType("pagingToken", t) != nil {
			return nil, bad
		}
	}
	return &p, nil
}

type eventListResponse struct {
	PagingToken string              `json:"pagingToken"`
	Events      []*hookstream.Event `json:"events"`
}

func (a *API) listEvents(w http.ResponseWriter, r *request) error {
	q := r.URL.Query()
	size, err := queryInt(q, "pageSize", 100, 1, 1000)
	if err != nil {
		return err
	}
	var tok *pagingToken
	if s, ok := single(q, "pagingToken"); ok {
		if tok, err = decodePagingToken(s); err != nil {
			return err
		}
	} else {
		tok = &pagingToken{}
		if tok.Start, err = queryTime(q, "startTimestamp"); err != nil {
			return err
		}
		if tok.End, err = queryTime(q, "endTimestamp"); err != nil {
			return err
		}
		if tok.Types, err = queryEventTypes(q, "type"); err != nil {
			return err
		}
	}
	if err := a.deliveries.CatchUpEvents(r.Context()); err != nil {
		return err
	}
	events, last, err := a.events.List(r.tenant, projections.EventFilter{Start: tok.Start, End: tok.End, Types: tok.Types}, tok.After, size)
	if err != nil {
		return err
	}
	next := *tok
	next.After = last
	if events == nil {
		events = []*hookstream.Event{}
	}
	writeJSON(w, http.StatusOK, eventListResponse{PagingToken: next.encode(), Events: events})
	return nil
}

// divertedResponse is Socotra's DivertedEventResponse.
type divertedResponse struct {
	EventLocator     string    `json:"eventLocator"`
	RequestLocator   string    `json:"requestLocator"`
	FailureMessage   string    `json:"failureMessage"`
	FailureTimestamp time.Time `json:"failureTimestamp"`
	FailureTrigger   string    `json:"failureTrigger"`
	// EventExpired marks a record whose event the events stream's retention has removed: the record stays
	// readable, but the event can no longer be resent.
	EventExpired bool `json:"eventExpired,omitempty"`
}

func (a *API) newDivertedResponse(d *hookstream.DivertedEvent) divertedResponse {
	_, err := a.events.Get(d.Tenant, d.EventLocator)
	return divertedResponse{EventLocator: d.EventLocator, RequestLocator: d.RequestLocator, FailureMessage: d.FailureMessage,
		FailureTimestamp: d.FailureTimestamp, FailureTrigger: d.FailureTrigger, EventExpired: err != nil}
}

// divertedPath validates the webhook and event locators of a diverted-event route.
func divertedPath(r *request) (webhook, event string, err error) {
	if webhook, err = webhookLocator(r); err != nil {
		return "", "", err
	}
	event = mux.Vars(r.Request)["eventLocator"]
	return webhook, event, hookstream.CheckLocator("eventLocator", event)
}

func (a *API) listDiverted(w http.ResponseWriter, r *request) error {
	loc, err := webhookLocator(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	offset, err := queryInt(q, "offset", 0, 0, 1<<30)
	if err != nil {
		return err
	}
	count, err := queryInt(q, "count", 100, 1, 1000)
	if err != nil {
		return err
	}
	if _, err := a.webhooks.Get(r.tenant, loc); err != nil {
		return err
	}
	items, err := a.diverted.List(r.tenant, loc, offset, count)
	if err != nil {
		return err
	}
	out := make([]divertedResponse, 0, len(items))
	for _, d := range items {
		out = append(out, a.newDivertedResponse(d))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) getDiverted(w http.ResponseWriter, r *request) error {
	webhook, event, err := divertedPath(r)
	if err != nil {
		return err
	}
	if _, err := a.webhooks.Get(r.tenant, webhook); err != nil {
		return err
	}
	d, err := a.diverted.Get(r.tenant, webhook, event)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a.newDivertedResponse(d))
	return nil
}

func (a *API) resendDiverted(w http.ResponseWriter, r *request) error {
	webhook, event, err := divertedPath(r)
	if err != nil {
		return err
	}
	if err := a.deliveries.ResendDiverted(r.Context(), r.tenant, webhook, event); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

func (a *API) deleteDiverted(w http.ResponseWriter, r *request) error {
	webhook, event, err := divertedPath(r)
	if err != nil {
		return err
	}
	if err := a.deliveries.DeleteDiverted(r.Context(), r.principal.Locator, r.tenant, webhook, event); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}
