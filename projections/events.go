package projections

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hookstream/hookstream"
	"github.com/hookstream/hookstream/broker"
	"github.com/hookstream/hookstream/tracing"
	bolt "go.etcd.io/bbolt"
)

// EventsView is the name of the events view.
const EventsView = "events"

var (
	eventsBucket = []byte("events")     // tenant/ + seq → Event
	eventsBySeq  = []byte("events_seq") // seq → tenant: what to drop when the stream's retention removes events
)

// Events is the view of ingested events, per tenant in ingestion order. Messages that are not valid events
// (published straight to NATS) are skipped, as the router rejects them.
type Events struct {
	store    *Store
	subjects broker.Subjects
}

// NewEvents returns the events view over store.
func NewEvents(store *Store, subjects broker.Subjects) *Events {
	return &Events{store: store, subjects: subjects}
}

// Name implements View.
func (*Events) Name() string { return EventsView }

// Stream implements View.
func (*Events) Stream() string { return broker.KindEvents }

// Linger implements LingeringView: writers of delivery records do not read them back at once.
func (*Events) Linger() time.Duration { return 2 * time.Millisecond }

// Buckets implements View.
func (*Events) Buckets() []string { return []string{string(eventsBucket), string(eventsBySeq)} }

// Apply implements View.
func (v *Events) Apply(tx *bolt.Tx, m *Msg) error {
	p, err := v.Prepare(m)
	if err != nil {
		return err
	}
	return v.ApplyPrepared(tx, m, p)
}

// preparedEvent is an event message ready to store: its tenant and the JSON the view keeps.
type preparedEvent struct {
	tenant string
	data   []byte
}

// Prepare implements PreparingView: it decodes the event and encodes what the view keeps.
func (v *Events) Prepare(m *Msg) (any, error) {
	e, err := DecodeEvent(v.subjects, m)
	if err != nil {
		return nil, Skip(err)
	}
	data, err := encodeStored(storedEvent{Event: e, Traceparent: e.Trace.Traceparent(), Tracestate: e.Trace.State})
	if err != nil {
		return nil, Skip(fmt.Errorf("encode event: %w", err))
	}
	return &preparedEvent{tenant: e.Tenant, data: data}, nil
}

// ApplyPrepared implements PreparingView.
func (*Events) ApplyPrepared(tx *bolt.Tx, m *Msg, prepared any) error {
	p := prepared.(*preparedEvent)
	if err := tx.Bucket(eventsBySeq).Put(seqKey(nil, m.Seq), []byte(p.tenant)); err != nil {
		return err
	}
	return tx.Bucket(eventsBucket).Put(seqKey(key(p.tenant, ""), m.Seq), p.data)
}

// encodeStored encodes an event as the view keeps it: the bytes of json.Marshal(s).
func encodeStored(s storedEvent) ([]byte, error) {
	if data, ok := appendStored(make([]byte, 0, 192+len(s.Data)+len(s.Tracestate)), &s); ok {
		return data, nil
	}
	return json.Marshal(s)
}

// appendStored appends json.Marshal(s) to b for the events producers send: strings of plain ASCII and data
// with nothing for json.Marshal to compact or escape. It skips encoding/json's reflection, and its second
// validation and compaction of the data, which DecodeEvent validated already. It reports false for any other
// event, which json.Marshal encodes.
func appendStored(b []byte, s *storedEvent) ([]byte, bool) {
	e := s.Event
	if len(e.Data) == 0 || !plainJSON(e.Data) {
		return nil, false
	}
	ts, err := e.Timestamp.MarshalJSON()
	if err != nil {
		return nil, false
	}
	ok := true
	field := func(name, v string) {
		b = append(b, name...)
		if ok = ok && plainString(v); ok {
			b = append(append(append(b, '"'), v...), '"')
		}
	}
	field(`{"locator":`, e.Locator)
	field(`,"type":`, e.Type)
	field(`,"tenantLocator":`, e.Tenant)
	b = append(append(b, `,"timestamp":`...), ts...)
	if e.RequestID != "" {
		field(`,"requestId":`, e.RequestID)
	}
	b = append(append(b, `,"data":`...), e.Data...)
	if s.Traceparent != "" {
		field(`,"traceparent":`, s.Traceparent)
	}
	if s.Tracestate != "" {
		field(`,"tracestate":`, s.Tracestate)
	}
	return append(b, '}'), ok
}

// plainString reports whether json.Marshal writes s as its bytes between quotes: printable ASCII with nothing
// it escapes.
func plainString(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// plainJSON reports whether json.Marshal writes valid JSON data as it is: no whitespace outside its strings to
// compact away, none of the characters it escapes for HTML (<, >, &), and no byte that may start U+2028 or
// U+2029, which it escapes too.
func plainJSON(data []byte) bool {
	inString, escaped := false, false
	for _, c := range data {
		switch {
		case c == '<' || c == '>' || c == '&' || c == 0xe2:
			return false
		case escaped:
			escaped = false
		case inString:
			switch c {
			case '\\':
				escaped = true
			case '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			return false
		}
	}
	return true
}

// TrimBelow drops the events the stream no longer holds (below its first sequence), as a rebuild from the
// stream would not have them. It returns how many it dropped.
func (v *Events) TrimBelow(first uint64) (int, error) {
	n := 0
	err := v.store.db.Update(func(tx *bolt.Tx) error {
		bySeq, events := tx.Bucket(eventsBySeq), tx.Bucket(eventsBucket)
		c := bySeq.Cursor()
		for k, tenant := c.First(); k != nil && seqOf(k) < first; k, tenant = c.Next() {
			if err := events.Delete(seqKey(key(string(tenant), ""), seqOf(k))); err != nil {
				return err
			}
			if err := c.Delete(); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// storedEvent is an event as the view keeps it: its JSON, and the trace context its JSON leaves out, which
// resends and jobs carry on.
type storedEvent struct {
	*hookstream.Event
	Traceparent string `json:"traceparent,omitempty"`
	Tracestate  string `json:"tracestate,omitempty"`
}

// decodeStored reads an event the view keeps. One kept without a trace context gets the one its stored
// message without headers would have.
func decodeStored(data []byte) (*hookstream.Event, error) {
	s := storedEvent{Event: &hookstream.Event{}}
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, err
	}
	var ok bool
	if s.Event.Trace, ok = tracing.Parse(s.Traceparent, s.Tracestate); !ok {
		s.Event.Trace = tracing.Derive(s.Event.Locator)
	}
	return s.Event, nil
}

// DecodeEvent decodes a stored event message (see broker.Subjects.DecodeEvent).
func DecodeEvent(subjects broker.Subjects, m *Msg) (*hookstream.Event, error) {
	return subjects.DecodeEvent(m.Subject, m.Seq, m.Time, m.Header, m.Data)
}

// Applied returns the stream sequence the view has applied.
func (v *Events) Applied() uint64 { return v.store.Applied()[EventsView] }

// Get returns an event of tenant by locator, or a NotFound error.
func (v *Events) Get(tenant, locator string) (*hookstream.Event, error) {
	seq, ok := hookstream.EventSeq(locator)
	if !ok {
		return nil, hookstream.NotFound("event %s not found", locator)
	}
	var e *hookstream.Event
	err := v.store.db.View(func(tx *bolt.Tx) error {
		data := tx.Bucket(eventsBucket).Get(seqKey(key(tenant, ""), seq))
		if data == nil {
			return nil
		}
		var err error
		e, err = decodeStored(data)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read event: %w", err)
	}
	if e == nil || e.Locator != locator {
		return nil, hookstream.NotFound("event %s not found", locator)
	}
	return e, nil
}

// EventFilter selects events in a listing.
type EventFilter struct {
	Start, End time.Time // zero: unbounded; End is exclusive
	Types      []string  // empty: every type
}

func (f *EventFilter) match(e *hookstream.Event) bool {
	if !f.Start.IsZero() && e.Timestamp.Before(f.Start) {
		return false
	}
	if !f.End.IsZero() && !e.Timestamp.Before(f.End) {
		return false
	}
	if len(f.Types) == 0 {
		return true
	}
	for _, t := range f.Types {
		if t == e.Type {
			return true
		}
	}
	return false
}

// timeOrderSlack bounds how far an event's time may run ahead of a later-ingested event's: an event's time is
// taken by the ingest path before it is stored, so concurrent publishes (and instances' clocks) may store
// them slightly out of time order.
const timeOrderSlack = time.Minute

// List returns up to limit events of tenant after stream sequence after that match f, in ingestion order,
// and the sequence of the last event examined (where the next page starts).
func (v *Events) List(tenant string, f EventFilter, after uint64, limit int) ([]*hookstream.Event, uint64, error) {
	var out []*hookstream.Event
	last := after
	err := v.store.db.View(func(tx *bolt.Tx) error {
		prefix := key(tenant, "")
		c := tx.Bucket(eventsBucket).Cursor()
		for k, data := c.Seek(seqKey(prefix, after+1)); k != nil && bytes.HasPrefix(k, prefix); k, data = c.Next() {
			e, err := decodeStored(data)
			if err != nil {
				return fmt.Errorf("decode event: %w", err)
			}
			if !f.End.IsZero() && !e.Timestamp.Before(f.End.Add(timeOrderSlack)) {
				return nil // ingestion order is time order, within the slack: nothing later can match
			}
			last = seqOf(k)
			if f.match(e) {
				out = append(out, e)
				if len(out) == limit {
					return nil
				}
			}
		}
		return nil
	})
	return out, last, err
}
