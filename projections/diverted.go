package projections

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/hookstream/hookstream"
	"github.com/hookstream/hookstream/broker"
	bolt "go.etcd.io/bbolt"
)

// DivertedView is the name of the diverted-events view.
const DivertedView = "diverted"

var divertedBucket = []byte("diverted") // tenant/webhook/event → DivertedEvent

// Diverted is the view of diverted events: parked after a final failure, until resolved by a delivery or
// deleted.
type Diverted struct{ store *Store }

// NewDiverted returns the diverted-events view over store.
func NewDiverted(store *Store) *Diverted { return &Diverted{store: store} }

// Name implements View.
func (*Diverted) Name() string { return DivertedView }

// Stream implements View.
func (*Diverted) Stream() string { return broker.KindDiverted }

// Buckets implements View.
func (*Diverted) Buckets() []string { return []string{string(divertedBucket)} }

// Apply implements View.
func (*Diverted) Apply(tx *bolt.Tx, m *Msg) error {
	var r hookstream.DeliveryRecord
	if err := json.Unmarshal(m.Data, &r); err != nil {
		return Skip(fmt.Errorf("decode diverted record: %w", err))
	}
	pair := key(r.Tenant, r.Webhook, r.Event)
	switch r.Type {
	case hookstream.RecordDiverted:
		if r.Diverted == nil {
			return Skip(fmt.Errorf("diverted record without diversion"))
		}
		data, err := json.Marshal(r.Diverted)
		if err != nil {
			return fmt.Errorf("encode diverted: %w", err)
		}
		return tx.Bucket(divertedBucket).Put(pair, data)
	case hookstream.RecordDivertedDeleted, hookstream.RecordDivertedResolved:
		return tx.Bucket(divertedBucket).Delete(pair)
	default:
		return Skip(fmt.Errorf("unknown diverted record type %q", r.Type))
	}
}

// Get returns a diverted event, or a NotFound error.
func (v *Diverted) Get(tenant, webhook, event string) (*hookstream.DivertedEvent, error) {
	var d *hookstream.DivertedEvent
	err := v.store.db.View(func(tx *bolt.Tx) error {
		data := tx.Bucket(divertedBucket).Get(key(tenant, webhook, event))
		if data == nil {
			return nil
		}
		d = &hookstream.DivertedEvent{}
		return json.Unmarshal(data, d)
	})
	if err != nil {
		return nil, fmt.Errorf("read diverted event: %w", err)
	}
	if d == nil {
		return nil, hookstream.NotFound("no diverted event %s for webhook %s", event, webhook)
	}
	return d, nil
}

// Exists reports whether the event is diverted for the webhook.
func (v *Diverted) Exists(tenant, webhook, event string) bool {
	var ok bool
	_ = v.store.db.View(func(tx *bolt.Tx) error {
		ok = tx.Bucket(divertedBucket).Get(key(tenant, webhook, event)) != nil
		return nil
	})
	return ok
}

// List returns up to count diverted events of a webhook after skipping offset, oldest event first.
func (v *Diverted) List(tenant, webhook string, offset, count int) ([]*hookstream.DivertedEvent, error) {
	var out []*hookstream.DivertedEvent
	err := v.store.db.View(func(tx *bolt.Tx) error {
		prefix := key(tenant, webhook, "")
		c := tx.Bucket(divertedBucket).Cursor()
		i := 0
		for k, data := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(out) < count; k, data = c.Next() {
			if i++; i <= offset {
				continue
			}
			var d hookstream.DivertedEvent
			if err := json.Unmarshal(data, &d); err != nil {
				return fmt.Errorf("decode diverted event: %w", err)
			}
			out = append(out, &d)
		}
		return nil
	})
	return out, err
}
