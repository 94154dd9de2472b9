package broker

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
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

// PublishEvent validates and appends an event, and returns it as stored. idempotencyKey, when given, dedupes
// within the stream's duplicate window: a repeat returns the first event. trace, when valid, is kept with the
// event in its headers; without it the event's trace is derived from its locator.
func (b *Broker) PublishEvent(ctx context.Context, tenant, eventType string, data []byte, requestID, idempotencyKey string,
	trace tracing.Context) (*hookstream.Event, error) {
	if err := hookstream.CheckEvent(tenant, eventType, data); err != nil {
		return nil, err
	}
	if err := hookstream.CheckRequestID("requestId", requestID); err != nil {
		return nil, err
	}
	msg := nats.NewMsg(b.Subjects.Event(tenant, eventType))
	msg.Data = data
	msg.Header.Set(HeaderIngestedAt, time.Now().UTC().Format(time.RFC3339Nano))
	if requestID != "" {
		msg.Header.Set(HeaderRequestID, requestID)
	}
	if trace.Valid() {
		msg.Header.Set(tracing.HeaderTraceparent, trace.Traceparent())
		if trace.State != "" {
			msg.Header.Set(tracing.HeaderTracestate, trace.State)
		}
	}
	var opts []jetstream.PublishOpt
	if idempotencyKey != "" {
		opts = append(opts, jetstream.WithMsgID("idem/"+tenant+"/"+idempotencyKey))
	}
	ack, err := b.JS.PublishMsg(ctx, msg, opts...)
	if err != nil {
		return nil, fmt.Errorf("publish event: %w", unavailable(err))
	}
	if ack.Duplicate {
		// The ack names the first event's sequence; that event's time is in its stored message.
		return b.ReadEvent(ctx, ack.Sequence)
	}
	return b.Subjects.DecodeEvent(msg.Subject, ack.Sequence, time.Time{}, msg.Header, data)
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
