package broker

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/hookstream/hookstream"
	"github.com/hookstream/hookstream/tracing"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// HeaderRequestID carries a producer's request id on an event message.
const HeaderRequestID = "Hookstream-Request-Id"

// HeaderIngestedAt carries the time hookstream's own ingest paths (HTTP, CLI) took an event in, in RFC 3339
// with nanoseconds. When present it is the event's time in place of the stored timestamp, so the ingest path
// knows the event's locator from the publish ack alone, without reading the stored message back.
const HeaderIngestedAt = "Hookstream-Ingested-At"

// DecodeEvent turns a stored event message into the Event that every view, delivery and replay uses, or an
// error saying why the message is not a valid event. The locator comes from the event's time (its
// HeaderIngestedAt, else the stored timestamp) and its sequence: both are in the stored message, so everyone
// computes the same one. So does the trace context: the message's traceparent and tracestate headers, or,
// when absent or invalid, a trace derived from the locator.
func (s Subjects) DecodeEvent(subject string, seq uint64, stored time.Time, header nats.Header, data []byte) (*hookstream.Event, error) {
	tenant, eventType, ok := s.ParseEvent(subject)
	if !ok {
		return nil, hookstream.Invalid("subject", "not an event subject: %q", subject)
	}
	if err := hookstream.CheckEvent(tenant, eventType, data); err != nil {
		return nil, err
	}
	requestID := header.Get(HeaderRequestID)
	if err := hookstream.CheckRequestID("requestId", requestID); err != nil {
		return nil, err
	}
	at := stored
	if v := header.Get(HeaderIngestedAt); v != "" {
		// A malformed time is ignored rather than refused: the event stays deliverable, at its stored time.
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			at = t
		}
	}
	locator := hookstream.EventLocator(at, seq)
	trace, ok := traceHeader(header)
	if !ok {
		trace = tracing.Derive(locator)
	}
	return &hookstream.Event{
		Locator:   locator,
		Type:      eventType,
		Tenant:    tenant,
		Timestamp: at.UTC(),
		RequestID: requestID,
		Data:      bytes.TrimSpace(data),
		Trace:     trace,
	}, nil
}

// traceHeader reads the W3C trace context of a message. NATS headers are case-sensitive: the lowercase
// names W3C recommends are read first, then the canonical HTTP spelling a producer may have copied.
func traceHeader(h nats.Header) (tracing.Context, bool) {
	get := func(name string) string {
		if v := h.Get(name); v != "" {
			return v
		}
		return h.Get(http.CanonicalHeaderKey(name))
	}
	return tracing.Parse(get(tracing.HeaderTraceparent), get(tracing.HeaderTracestate))
}

// The bounds of asynchronous event publishing. Beyond ingestMaxPending publishes awaiting their ack, a publish
// waits up to ingestStallWait for room: the back pressure that concurrent and batch ingests meet.
const (
	ingestMaxPending = 8192
	ingestStallWait  = 5 * time.Second
	ingestAckTimeout = 30 * time.Second
)

// EventInput is one event to append with PublishEvents.
type EventInput struct {
	Tenant    string
	Type      string
	Data      []byte
	RequestID string
	// MsgID, when set, dedupes within the stream's duplicate window: a repeat returns the first event.
	// IdempotencyMsgID makes it from a producer's key.
	MsgID string
	// Trace, when valid, is kept with the event in its headers; without it the event's trace is derived from
	// its locator.
	Trace tracing.Context
}

// IdempotencyMsgID is the message id of an event ingested with a producer's idempotency key, scoped to the
// tenant.
func IdempotencyMsgID(tenant, key string) string { return "idem/" + tenant + "/" + key }

// BatchIdempotencyMsgID is the message id of event i of a batch ingested with a producer's idempotency key.
// Its prefix differs from IdempotencyMsgID's, so no single event's key can take a batch event's place.
func BatchIdempotencyMsgID(tenant, key string, i int) string {
	return "idemb/" + tenant + "/" + strconv.Itoa(i) + "/" + key
}

// PublishEvent validates and appends an event, and returns it as stored. idempotencyKey, when given, dedupes
// within the stream's duplicate window: a repeat returns the first event. trace, when valid, is kept with the
// event in its headers; without it the event's trace is derived from its locator.
func (b *Broker) PublishEvent(ctx context.Context, tenant, eventType string, data []byte, requestID, idempotencyKey string,
	trace tracing.Context) (*hookstream.Event, error) {
	if err := hookstream.CheckEvent(tenant, eventType, data); err != nil {
		return nil, err
	}
	in := EventInput{Tenant: tenant, Type: eventType, Data: data, RequestID: requestID, Trace: trace}
	if idempotencyKey != "" {
		in.MsgID = IdempotencyMsgID(tenant, idempotencyKey)
	}
	events, errs := b.PublishEvents(ctx, []EventInput{in})
	return events[0], errs[0]
}

// PublishEvents appends events and returns each as stored, or its error, in the order given. The events'
// data must have passed hookstream.CheckEvent, or have been decoded as JSON and passed
// hookstream.CheckDecodedEvent: PublishEvents checks the rest (tenant, type, size, request id) but does not
// parse the data again. The publishes go out together, asynchronously, and share the connection's flushes
// with every concurrent ingest; each answer waits for its ack, so an event returned is stored. The event's
// time is fixed here and travels in HeaderIngestedAt, so its locator follows from the ack's sequence alone.
func (b *Broker) PublishEvents(ctx context.Context, in []EventInput) ([]*hookstream.Event, []error) {
	events, errs := make([]*hookstream.Event, len(in)), make([]error, len(in))
	futures := make([]jetstream.PubAckFuture, len(in))
	at := time.Now().UTC()
	stamp := at.Format(time.RFC3339Nano)
	var stalled error // once a publish could not go out, the rest are not tried: each would wait as long
	for i := range in {
		e := &in[i]
		if stalled != nil || ctx.Err() != nil {
			errs[i] = fmt.Errorf("publish event: %w", cmp.Or(stalled, unavailable(ctx.Err())))
			continue
		}
		if err := hookstream.CheckDecodedEvent(e.Tenant, e.Type, e.Data); err != nil {
			errs[i] = err
			continue
		}
		if err := hookstream.CheckRequestID("requestId", e.RequestID); err != nil {
			errs[i] = err
			continue
		}
		msg := nats.NewMsg(b.Subjects.Event(e.Tenant, e.Type))
		msg.Data = e.Data
		msg.Header.Set(HeaderIngestedAt, stamp)
		if e.RequestID != "" {
			msg.Header.Set(HeaderRequestID, e.RequestID)
		}
		if e.Trace.Valid() {
			msg.Header.Set(tracing.HeaderTraceparent, e.Trace.Traceparent())
			if e.Trace.State != "" {
				msg.Header.Set(tracing.HeaderTracestate, e.Trace.State)
			}
		}
		opts := []jetstream.PublishOpt{jetstream.WithStallWait(ingestStallWait)}
		if e.MsgID != "" {
			opts = append(opts, jetstream.WithMsgID(e.MsgID))
		}
		f, err := b.ingest.PublishMsgAsync(msg, opts...)
		if err != nil {
			stalled = unavailable(err)
			errs[i] = fmt.Errorf("publish event: %w", stalled)
			continue
		}
		futures[i] = f
	}
	for i, f := range futures {
		if f == nil {
			continue
		}
		var ack *jetstream.PubAck
		select {
		case ack = <-f.Ok():
		case err := <-f.Err():
			errs[i] = fmt.Errorf("publish event: %w", unavailable(err))
			continue
		case <-ctx.Done():
			errs[i] = fmt.Errorf("publish event: %w", ctx.Err())
			continue
		}
		if ack.Duplicate {
			// The ack names the first event's sequence; that event's time is in its stored message.
			events[i], errs[i] = b.ReadEvent(ctx, ack.Sequence)
			continue
		}
		e := &in[i]
		locator := hookstream.EventLocator(at, ack.Sequence)
		trace := e.Trace
		if !trace.Valid() {
			trace = tracing.Derive(locator)
		}
		events[i] = &hookstream.Event{Locator: locator, Type: e.Type, Tenant: e.Tenant, Timestamp: at, RequestID: e.RequestID,
			Data: bytes.TrimSpace(e.Data), Trace: trace}
	}
	return events, errs
}

// ReadEvent reads the event stored at seq straight from the events stream (a direct get, which any replica
// answers).
func (b *Broker) ReadEvent(ctx context.Context, seq uint64) (*hookstream.Event, error) {
	stream, err := b.eventsStream(ctx)
	if err != nil {
		return nil, err
	}
	raw, err := stream.GetMsg(ctx, seq)
	if err != nil {
		return nil, fmt.Errorf("read event %d: %w", seq, unavailable(err))
	}
	return b.Subjects.DecodeEvent(raw.Subject, raw.Sequence, raw.Time, raw.Header, raw.Data)
}
