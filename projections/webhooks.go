package projections

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/hookstream/hookstream"
	"github.com/hookstream/hookstream/broker"
	bolt "go.etcd.io/bbolt"
)

// WebhooksView is the name of the webhooks view.
const WebhooksView = "webhooks"

var (
	webhooksBucket = []byte("webhooks")        // tenant/locator → Webhook
	webhookOrder   = []byte("webhooks_order")  // tenant/ + created seq → locator (live webhooks only)
	webhookHistory = []byte("webhook_history") // tenant/locator/ + seq → WebhookEvent
)

// Webhooks is the view of every webhook's current state and change history.
type Webhooks struct {
	store *Store
	// batch holds the states changed by the batch being applied (only the apply loop touches it), written
	// once each by Flush.
	batch   map[string]*hookstream.Webhook
	batchTx *bolt.Tx
	index   *subscriberIndex
}

// NewWebhooks returns the webhooks view over store.
func NewWebhooks(store *Store) *Webhooks {
	return &Webhooks{store: store, batch: map[string]*hookstream.Webhook{}, index: newSubscriberIndex()}
}

// Load implements LoadingView: it fills the in-memory subscriber index from the file.
func (v *Webhooks) Load(tx *bolt.Tx) error {
	v.index.reset()
	return tx.Bucket(webhooksBucket).ForEach(func(k, data []byte) error {
		var w hookstream.Webhook
		if err := json.Unmarshal(data, &w); err != nil {
			return fmt.Errorf("decode webhook %s: %w", k, err)
		}
		v.index.put(&w)
		return nil
	})
}

// Current returns a webhook's latest applied state from memory (nil when it does not exist or was deleted):
// the delivery hot path reads it without touching the file. The state must not be modified.
func (v *Webhooks) Current(tenant, locator string) *hookstream.Webhook {
	return v.index.get(tenant, locator)
}

// HoldingWebhooks returns the webhooks that are holding events (suspended, or released but not yet done).
func (v *Webhooks) HoldingWebhooks() []*hookstream.Webhook { return v.index.holding() }

// Subscribers returns the webhooks of tenant that receive eventType, whatever their state (the caller
// decides between delivering, holding and skipping). The index is current up to the view's applied sequence.
func (v *Webhooks) Subscribers(tenant, eventType string) []*hookstream.Webhook {
	return v.index.lookup(tenant, eventType)
}

// Name implements View.
func (*Webhooks) Name() string { return WebhooksView }

// Stream implements View.
func (*Webhooks) Stream() string { return broker.KindWebhooks }

// Buckets implements View.
func (*Webhooks) Buckets() []string {
	return []string{string(webhooksBucket), string(webhookOrder), string(webhookHistory)}
}

// Apply implements View.
func (v *Webhooks) Apply(tx *bolt.Tx, m *Msg) error {
	var e hookstream.WebhookEvent
	if err := json.Unmarshal(m.Data, &e); err != nil {
		return Skip(fmt.Errorf("decode webhook event: %w", err))
	}
	if v.batchTx != tx {
		clear(v.batch)
		v.batchTx = tx
	}
	k := string(key(e.Tenant, e.Webhook))
	w, ok := v.batch[k]
	if !ok {
		var err error
		if w, err = getWebhook(tx, e.Tenant, e.Webhook); err != nil {
			return Skip(err)
		}
	}
	if w == nil {
		if e.Type != hookstream.WebhookCreated {
			return Skip(fmt.Errorf("%s for unknown webhook %s", e.Type, k))
		}
		w = &hookstream.Webhook{}
	}
	next := *w
	if err := next.Apply(&e, m.Seq); err != nil {
		return Skip(err)
	}
	v.batch[k] = &next
	order := seqKey(key(e.Tenant, ""), next.CreatedSeq)
	var err error
	switch e.Type {
	case hookstream.WebhookCreated:
		err = tx.Bucket(webhookOrder).Put(order, []byte(next.Locator))
	case hookstream.WebhookDeleted:
		err = tx.Bucket(webhookOrder).Delete(order)
	}
	if err != nil {
		return err
	}
	return tx.Bucket(webhookHistory).Put(seqKey(key(e.Tenant, e.Webhook, ""), m.Seq), m.Data)
}

// Flush implements BatchView: it writes each state the batch changed, once.
func (v *Webhooks) Flush(tx *bolt.Tx) error {
	states := tx.Bucket(webhooksBucket)
	for k, w := range v.batch {
		data, err := json.Marshal(w)
		if err != nil {
			return fmt.Errorf("encode webhook %s: %w", k, err)
		}
		if err := states.Put([]byte(k), data); err != nil {
			return err
		}
		v.index.put(w)
	}
	clear(v.batch)
	v.batchTx = nil
	return nil
}

// Get returns a live webhook of tenant, or a NotFound error.
func (v *Webhooks) Get(tenant, locator string) (*hookstream.Webhook, error) {
	var w *hookstream.Webhook
	err := v.store.db.View(func(tx *bolt.Tx) error {
		var err error
		w, err = getWebhook(tx, tenant, locator)
		return err
	})
	if err != nil {
		return nil, err
	}
	if w == nil || w.Deleted {
		return nil, hookstream.NotFound("webhook %s not found", locator)
	}
	return w, nil
}

// GetAny returns a webhook's state even when it was deleted (nil when it never existed).
func (v *Webhooks) GetAny(tenant, locator string) (*hookstream.Webhook, error) {
	var w *hookstream.Webhook
	err := v.store.db.View(func(tx *bolt.Tx) error {
		var err error
		w, err = getWebhook(tx, tenant, locator)
		return err
	})
	return w, err
}

func getWebhook(tx *bolt.Tx, tenant, locator string) (*hookstream.Webhook, error) {
	data := tx.Bucket(webhooksBucket).Get(key(tenant, locator))
	if data == nil {
		return nil, nil
	}
	var w hookstream.Webhook
	if err := json.Unmarshal(data, &w); err != nil {
		return nil, fmt.Errorf("decode webhook %s/%s: %w", tenant, locator, err)
	}
	return &w, nil
}

// WebhookFilter selects webhooks in a listing; nil fields do not filter.
type WebhookFilter struct {
	// Name keeps webhooks whose name contains it, ignoring case.
	Name      string
	Enabled   *bool
	Suspended *bool
	Active    *bool
	// EventTypes keeps webhooks that receive any of these types.
	EventTypes []string
}

func (f *WebhookFilter) match(w *hookstream.Webhook) bool {
	if f.Name != "" && !strings.Contains(strings.ToLower(w.Name), strings.ToLower(f.Name)) {
		return false
	}
	if f.Enabled != nil && w.Enabled != *f.Enabled {
		return false
	}
	if f.Suspended != nil && w.Suspended != *f.Suspended {
		return false
	}
	if f.Active != nil && w.Active() != *f.Active {
		return false
	}
	if len(f.EventTypes) > 0 {
		for _, t := range f.EventTypes {
			if w.Receives(t) {
				return true
			}
		}
		return false
	}
	return true
}

// List returns up to count live webhooks of tenant that match f, after skipping offset of them, in creation
// order, and whether more match after them.
func (v *Webhooks) List(tenant string, f WebhookFilter, offset, count int) ([]*hookstream.Webhook, bool, error) {
	var out []*hookstream.Webhook
	more := false
	err := v.store.db.View(func(tx *bolt.Tx) error {
		prefix := key(tenant, "")
		c := tx.Bucket(webhookOrder).Cursor()
		skipped := 0
		for k, loc := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, loc = c.Next() {
			w, err := getWebhook(tx, tenant, string(loc))
			if err != nil {
				return err
			}
			if w == nil || !f.match(w) {
				continue
			}
			if skipped < offset {
				skipped++
				continue
			}
			if len(out) == count {
				more = true
				return nil
			}
			out = append(out, w)
		}
		return nil
	})
	return out, more, err
}

// HistoryEntry is one change event of a webhook with its stream sequence.
type HistoryEntry struct {
	Seq   uint64
	Event hookstream.WebhookEvent
}

// History returns every change event of a webhook, oldest first, deleted webhooks included.
func (v *Webhooks) History(tenant, locator string) ([]HistoryEntry, error) {
	var out []HistoryEntry
	err := v.store.db.View(func(tx *bolt.Tx) error {
		prefix := key(tenant, locator, "")
		c := tx.Bucket(webhookHistory).Cursor()
		for k, data := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, data = c.Next() {
			var h HistoryEntry
			if err := json.Unmarshal(data, &h.Event); err != nil {
				return fmt.Errorf("decode history of %s: %w", locator, err)
			}
			h.Seq = seqOf(k)
			out = append(out, h)
		}
		return nil
	})
	return out, err
}
