package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hookstream/hookstream"
	"github.com/hookstream/hookstream/broker"
	"github.com/nats-io/nats.go"
)

// maxRawBytes bounds how much of an invalid message a line shows.
const maxRawBytes = 64 << 10

// webhookHead, tokenHead and recordHead are the parts of the stored entries the filters look at.
type webhookHead struct {
	Type    string `json:"type"`
	Tenant  string `json:"tenant"`
	Webhook string `json:"webhook"`
	Actor   string `json:"actor"`
}

type tokenHead struct {
	Type   string `json:"type"`
	Token  string `json:"token"`
	Actor  string `json:"actor"`
	Create *struct {
		Tenants []string `json:"tenants"`
	} `json:"create"`
}

type recordHead struct {
	Type  string `json:"type"`
	Event string `json:"event"`
	Actor string `json:"actor"`
}

// typed is a head with a type.
type typed interface{ typ() string }

func (h *webhookHead) typ() string { return h.Type }
func (h *tokenHead) typ() string   { return h.Type }
func (h *recordHead) typ() string  { return h.Type }

// unmarshal decodes a stored change event or record: a JSON object with a type.
func unmarshal(data []byte, head typed) error {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return errors.New("not a JSON object")
	}
	if err := json.Unmarshal(trimmed, head); err != nil {
		return fmt.Errorf("not a valid entry: %w", err)
	}
	if head.typ() == "" {
		return errors.New("no type")
	}
	return nil
}

// invalidEvent is what a line shows of a message on an event subject that is not a valid event.
type invalidEvent struct {
	Locator      string    `json:"locator"`
	Type         string    `json:"type,omitempty"`
	Tenant       string    `json:"tenantLocator,omitempty"`
	Timestamp    time.Time `json:"timestamp"`
	RequestID    string    `json:"requestId,omitempty"`
	Raw          string    `json:"raw"`
	RawTruncated bool      `json:"rawTruncated,omitempty"`
}

// invalidEntry is what a line shows of a message on another stream that is not a valid entry.
type invalidEntry struct {
	Raw          string `json:"raw"`
	RawTruncated bool   `json:"rawTruncated,omitempty"`
}

func raw(data []byte) (string, bool) {
	if len(data) <= maxRawBytes {
		return string(data), false
	}
	return string(data[:maxRawBytes]), true
}

// decode turns a stored message into its lines (one, or one per attempt of an attempts batch), or none when
// the filter leaves it out. Only failures to read the streams are errors: a message that is not a valid entry
// becomes a line saying so.
func (rd *reader) decode(ctx context.Context, subject string, seq uint64, stored time.Time, header nats.Header, data []byte) ([]*Line, error) {
	f := rd.filter
	if !f.inTime(stored) {
		return nil, nil
	}
	line := &Line{Stream: rd.stream, Sequence: seq, Time: stored.UTC(), Subject: subject}
	var (
		entry any
		err   error
	)
	switch rd.stream {
	case StreamEvents:
		entry, err = rd.decodeEvent(line, header, data)
	case StreamWebhooks:
		entry, err = rd.decodeWebhook(line, header, data)
	case StreamTokens:
		entry, err = rd.decodeToken(ctx, line, data)
	default:
		if records := batchRecords(data); records != nil {
			return rd.decodeBatch(line, records)
		}
		entry, err = rd.decodeRecord(line, data)
	}
	if err != nil {
		return nil, err
	}
	return rd.lines(line, entry)
}

// lines returns line with entry, or none when entry is nil (left out by the filter).
func (rd *reader) lines(line *Line, entry any) ([]*Line, error) {
	switch e := entry.(type) {
	case nil:
		return nil, nil
	case json.RawMessage:
		line.Entry = e
	default:
		var err error
		if line.Entry, err = json.Marshal(e); err != nil {
			return nil, fmt.Errorf("encode %s entry %d: %w", rd.stream, line.Sequence, err)
		}
	}
	return []*Line{line}, nil
}

// batchRecords returns the attempt records of an attempts batch, or nil for any other message.
func batchRecords(data []byte) []*hookstream.DeliveryRecord {
	var head recordHead
	if unmarshal(data, &head) != nil || head.Type != string(hookstream.RecordAttempts) {
		return nil
	}
	var batch hookstream.DeliveryRecord
	if json.Unmarshal(data, &batch) != nil {
		return nil
	}
	return batch.Records()
}

// decodeBatch gives each attempt of a batch its own line, showing the attempt record it would have been
// written as on its own, numbered by Line.Record: filters and readers see one attempt per line, batched or
// not.
func (rd *reader) decodeBatch(line *Line, records []*hookstream.DeliveryRecord) ([]*Line, error) {
	var out []*Line
	for i, r := range records {
		data, err := json.Marshal(r)
		if err != nil {
			return nil, fmt.Errorf("encode %s entry %d: %w", rd.stream, line.Sequence, err)
		}
		l := *line
		l.Record = i + 1
		entry, err := rd.decodeRecord(&l, data)
		if err != nil {
			return nil, err
		}
		lines, err := rd.lines(&l, entry)
		if err != nil {
			return nil, err
		}
		out = append(out, lines...)
	}
	return out, nil
}

func (rd *reader) decodeEvent(line *Line, header nats.Header, data []byte) (any, error) {
	f := rd.filter
	ev, err := rd.r.subjects.DecodeEvent(line.Subject, line.Sequence, line.Time, header, data)
	if err != nil {
		locator := hookstream.EventLocator(line.Time, line.Sequence)
		if f.Event != "" && locator != f.Event {
			return nil, nil
		}
		line.Invalid = err.Error()
		tenant, eventType, _ := rd.r.subjects.ParseEvent(line.Subject)
		text, truncated := raw(data)
		return &invalidEvent{Locator: locator, Type: eventType, Tenant: tenant, Timestamp: line.Time,
			RequestID: header.Get(broker.HeaderRequestID), Raw: text, RawTruncated: truncated}, nil
	}
	// Tenant and type are in the consumer's subject filter; checked again so the result never depends on it.
	if (f.Event != "" && ev.Locator != f.Event) || (f.Tenant != "" && ev.Tenant != f.Tenant) || (f.Type != "" && ev.Type != f.Type) {
		return nil, nil
	}
	line.Traceparent, line.Tracestate = ev.Trace.Traceparent(), ev.Trace.State
	return ev, nil
}

func (rd *reader) decodeWebhook(line *Line, header nats.Header, data []byte) (any, error) {
	f := rd.filter
	var head webhookHead
	if err := unmarshal(data, &head); err != nil {
		return rd.invalid(line, data, err, f.Type != "", maskWebhookSecretsInText)
	}
	if (f.Type != "" && head.Type != f.Type) || (f.Tenant != "" && head.Tenant != f.Tenant) || (f.Webhook != "" && head.Webhook != f.Webhook) {
		return nil, nil
	}
	line.Actor = head.Actor
	if line.Actor == "" {
		line.Actor = header.Get(broker.HeaderActor)
	}
	return rd.redacted(line, data, maskWebhookSecret)
}

func (rd *reader) decodeToken(ctx context.Context, line *Line, data []byte) (any, error) {
	f := rd.filter
	var head tokenHead
	if err := unmarshal(data, &head); err != nil {
		return rd.invalid(line, data, err, f.Type != "" || f.Tenant != "", maskTokenHashesInText)
	}
	if head.Create != nil && head.Token != "" {
		rd.tokenTenants[head.Token] = head.Create.Tenants
	}
	if f.Type != "" && head.Type != f.Type {
		return nil, nil
	}
	if f.Tenant != "" {
		var tenants []string
		if head.Create != nil {
			tenants = head.Create.Tenants
		} else {
			var err error
			if tenants, err = rd.tenantsOfToken(ctx, line.Subject, head.Token); err != nil {
				return nil, err
			}
		}
		if !slices.Contains(tenants, f.Tenant) {
			return nil, nil
		}
	}
	line.Actor = head.Actor
	return rd.redacted(line, data, maskTokenHash)
}

func (rd *reader) decodeRecord(line *Line, data []byte) (any, error) {
	f := rd.filter
	var head recordHead
	if err := unmarshal(data, &head); err != nil {
		return rd.invalid(line, data, err, f.Type != "" || f.Event != "", maskWebhookSecretsInText)
	}
	if (f.Type != "" && head.Type != f.Type) || (f.Event != "" && head.Event != f.Event) {
		return nil, nil
	}
	line.Actor = head.Actor
	// Records carry no secrets; masking anything shaped like one guards against a future field that does.
	return rd.redacted(line, data, maskWebhookSecret)
}

// invalid is the entry of a message that is not a valid entry, its text masked by maskText; filtered says a
// filter needs the payload, so the message cannot match it.
func (rd *reader) invalid(line *Line, data []byte, err error, filtered bool, maskText func(string) string) (any, error) {
	if filtered {
		return nil, nil
	}
	line.Invalid = err.Error()
	text, truncated := raw(data)
	return &invalidEntry{Raw: maskText(text), RawTruncated: truncated}, nil
}

func (rd *reader) redacted(line *Line, data []byte, mask maskFunc) (any, error) {
	out, err := redact(data, mask)
	if err != nil {
		return nil, fmt.Errorf("redact %s entry %d: %w", rd.stream, line.Sequence, err)
	}
	return json.RawMessage(out), nil
}
