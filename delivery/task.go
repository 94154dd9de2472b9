package delivery

import (
	"fmt"
	"strconv"
	"time"

	"github.com/hookstream/hookstream"
	"github.com/hookstream/hookstream/tracing"
	"github.com/nats-io/nats.go"
)

// Task headers: a delivery task's body is exactly the bytes POSTed (the EventResponse, or an alert notice);
// everything else travels in headers, so the body is built once per event and never re-encoded.
const (
	headerKind     = "Hookstream-Kind"
	headerTenant   = "Hookstream-Tenant"
	headerWebhook  = "Hookstream-Webhook"
	headerEvent    = "Hookstream-Event"
	headerEventSeq = "Hookstream-Event-Seq"
	headerTry      = "Hookstream-Try"
	headerAttempt  = "Hookstream-Attempt"
	// headerParked marks a task a lane that could not keep up parked for later.
	headerParked = "Hookstream-Parked"
	// headerOrdered marks a held task of a FIFO webhook: it is delivered in order, to its end, whatever the
	// webhook's ordering has become since.
	headerOrdered = "Hookstream-Ordered"
)

// Task kinds.
const (
	kindEvent = "event"
	kindAlert = "alert"
)

// task is one try of one event to one webhook (or one alert to an alert endpoint).
type task struct {
	kind     string
	tenant   string
	webhook  string
	event    string
	eventSeq uint64
	try      int
	attempt  string
	// parked marks a task a lane that could not keep up set aside; the lane counts it back when it returns.
	parked bool
	body   []byte
	// trace is the event's trace context, which every try carries on with a span id of its own.
	trace tracing.Context
	// outcomeRead marks a task whose recorded outcome the router has looked up already: prior, nil when the
	// try has none. Neither travels with a task's message: a task that comes back as one is looked up again.
	outcomeRead bool
	prior       *hookstream.Attempt
	// ordered marks a FIFO webhook's event, queued in its held events and delivered by their release: a
	// recorded outcome is carried on from, and a retry is not scheduled but set in next, for the release to
	// make in turn. next does not travel with a message.
	ordered bool
	next    *task
	// due is when an ordered retry is due.
	due time.Time
}

func (t *task) header() nats.Header {
	h := nats.Header{
		headerKind:     {t.kind},
		headerTenant:   {t.tenant},
		headerWebhook:  {t.webhook},
		headerEvent:    {t.event},
		headerEventSeq: {strconv.FormatUint(t.eventSeq, 10)},
		headerTry:      {strconv.Itoa(t.try)},
		headerAttempt:  {t.attempt},
	}
	if t.parked {
		h.Set(headerParked, "1")
	}
	if t.ordered {
		h.Set(headerOrdered, "1")
	}
	if t.trace.Valid() {
		h.Set(tracing.HeaderTraceparent, t.trace.Traceparent())
		if t.trace.State != "" {
			h.Set(tracing.HeaderTracestate, t.trace.State)
		}
	}
	return h
}

func parseTask(h nats.Header, body []byte) (*task, error) {
	t := &task{
		kind:    h.Get(headerKind),
		tenant:  h.Get(headerTenant),
		webhook: h.Get(headerWebhook),
		event:   h.Get(headerEvent),
		attempt: h.Get(headerAttempt),
		ordered: h.Get(headerOrdered) == "1",
		body:    body,
	}
	var err error
	if t.eventSeq, err = strconv.ParseUint(h.Get(headerEventSeq), 10, 64); err != nil {
		return nil, fmt.Errorf("task event sequence: %w", err)
	}
	if t.try, err = strconv.Atoi(h.Get(headerTry)); err != nil || t.try < 0 {
		return nil, fmt.Errorf("task try %q: %w", h.Get(headerTry), err)
	}
	if t.kind != kindEvent && t.kind != kindAlert {
		return nil, fmt.Errorf("unknown task kind %q", t.kind)
	}
	if t.tenant == "" || t.webhook == "" || t.event == "" || t.attempt == "" {
		return nil, fmt.Errorf("task lacks tenant, webhook, event or attempt")
	}
	var ok bool
	if t.trace, ok = tracing.Parse(h.Get(tracing.HeaderTraceparent), h.Get(tracing.HeaderTracestate)); !ok {
		t.trace = tracing.Derive(t.event) // as the event's own, had it come without one
	}
	return t, nil
}

// msg builds the NATS message of the task on subject.
func (t *task) msg(subject string) *nats.Msg {
	return &nats.Msg{Subject: subject, Header: t.header(), Data: t.body}
}
