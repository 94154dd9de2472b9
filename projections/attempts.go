package projections

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hookstream/hookstream"
	"github.com/hookstream/hookstream/broker"
	bolt "go.etcd.io/bbolt"
)

// AttemptsView is the name of the attempts view (attempts and pending tries).
const AttemptsView = "attempts"

var (
	attemptsBucket   = []byte("attempts")            // tenant/attempt → Attempt
	attemptsByHook   = []byte("attempts_by_webhook") // tenant/webhook/attempt → nil
	attemptsByEvent  = []byte("attempts_by_event")   // tenant/event/attempt → nil
	deliveredBucket  = []byte("delivered")           // tenant/webhook/event → attempt that succeeded
	lastAttempt      = []byte("last_attempt")        // tenant/webhook/event → latest attempt with an outcome
	everAttemptedKey = []byte("attempted")           // tenant/webhook/event → nil: some try ran or is pending
	attemptSeqs      = []byte("attempt_seq")         // tenant/attempt → seq of its latest record
	attemptsBySeq    = []byte("attempts_seq")        // seq → tenant/attempt, for the latest record of each attempt
	alertsSent       = []byte("alerts_sent")         // tenant/alert → nil
)

// Attempts is the view of delivery records: every attempt (and PENDING try) per webhook and per event, and
// which (event, webhook) pairs were delivered.
type Attempts struct{ store *Store }

// NewAttempts returns the attempts view over store.
func NewAttempts(store *Store) *Attempts { return &Attempts{store: store} }

// Name implements View.
func (*Attempts) Name() string { return AttemptsView }

// Stream implements View.
func (*Attempts) Stream() string { return broker.KindAttempts }

// Linger implements LingeringView: writers of delivery records do not read them back at once.
func (*Attempts) Linger() time.Duration { return 10 * time.Millisecond }

// Buckets implements View.
func (*Attempts) Buckets() []string {
	return []string{string(attemptsBucket), string(attemptsByHook), string(attemptsByEvent), string(deliveredBucket),
		string(lastAttempt), string(everAttemptedKey), string(attemptSeqs), string(attemptsBySeq), string(alertsSent)}
}

// Apply implements View.
func (*Attempts) Apply(tx *bolt.Tx, m *Msg) error {
	var r hookstream.DeliveryRecord
	if err := json.Unmarshal(m.Data, &r); err != nil {
		return Skip(fmt.Errorf("decode delivery record: %w", err))
	}
	pair := key(r.Tenant, r.Webhook, r.Event)
	switch r.Type {
	case hookstream.RecordAttempt:
		a := r.Attempt
		if a == nil {
			return Skip(fmt.Errorf("attempt record without attempt"))
		}
		data, err := json.Marshal(a)
		if err != nil {
			return fmt.Errorf("encode attempt: %w", err)
		}
		puts := []struct {
			bucket, key, value []byte
		}{
			{attemptsBucket, key(a.Tenant, a.Locator), data},
			{attemptsByHook, key(a.Tenant, a.Webhook, a.Locator), nil},
			{attemptsByEvent, key(a.Tenant, a.Event, a.Locator), nil},
			{everAttemptedKey, pair, nil},
		}
		switch a.Status {
		case hookstream.AttemptSuccess:
			puts = append(puts, struct{ bucket, key, value []byte }{deliveredBucket, pair, []byte(a.Locator)},
				struct{ bucket, key, value []byte }{lastAttempt, pair, []byte(a.Locator)})
		case hookstream.AttemptFailed:
			puts = append(puts, struct{ bucket, key, value []byte }{lastAttempt, pair, []byte(a.Locator)})
		}
		for _, p := range puts {
			if err := tx.Bucket(p.bucket).Put(p.key, p.value); err != nil {
				return err
			}
		}
		return trackSeq(tx, key(a.Tenant, a.Locator), m.Seq)
	case hookstream.RecordAttemptCancelled:
		k := key(r.Tenant, r.Cancelled)
		data := tx.Bucket(attemptsBucket).Get(k)
		if data == nil {
			return nil
		}
		var a hookstream.Attempt
		if err := json.Unmarshal(data, &a); err != nil {
			return Skip(err)
		}
		if a.Status != hookstream.AttemptPending {
			return nil // it ran after all: its outcome stays
		}
		for _, p := range [][2][]byte{{attemptsBucket, k}, {attemptsByHook, key(a.Tenant, a.Webhook, a.Locator)}, {attemptsByEvent, key(a.Tenant, a.Event, a.Locator)}} {
			if err := tx.Bucket(p[0]).Delete(p[1]); err != nil {
				return err
			}
		}
		return nil
	case hookstream.RecordAlertSent:
		return tx.Bucket(alertsSent).Put(key(r.Tenant, r.Cancelled), nil)
	default:
		return Skip(fmt.Errorf("unknown delivery record type %q", r.Type))
	}
}

// AlertSent reports whether the alert was accepted by its endpoint already.
func (v *Attempts) AlertSent(tenant, alert string) bool {
	var ok bool
	_ = v.store.db.View(func(tx *bolt.Tx) error {
		ok = tx.Bucket(alertsSent).Get(key(tenant, alert)) != nil
		return nil
	})
	return ok
}

// Delivered reports whether the event was delivered to the webhook successfully.
func (v *Attempts) Delivered(tenant, webhook, event string) (bool, error) {
	var ok bool
	err := v.store.db.View(func(tx *bolt.Tx) error {
		ok = tx.Bucket(deliveredBucket).Get(key(tenant, webhook, event)) != nil
		return nil
	})
	return ok, err
}

// Attempt returns one attempt, or a NotFound error.
func (v *Attempts) Attempt(tenant, locator string) (*hookstream.Attempt, error) {
	var a *hookstream.Attempt
	err := v.store.db.View(func(tx *bolt.Tx) error {
		data := tx.Bucket(attemptsBucket).Get(key(tenant, locator))
		if data == nil {
			return nil
		}
		a = &hookstream.Attempt{}
		return json.Unmarshal(data, a)
	})
	if err != nil {
		return nil, fmt.Errorf("read attempt: %w", err)
	}
	if a == nil {
		return nil, hookstream.NotFound("attempt %s not found", locator)
	}
	return a, nil
}

// ForEvent returns the attempts for an event, oldest first.
func (v *Attempts) ForEvent(tenant, event string) ([]*hookstream.Attempt, error) {
	return v.list(attemptsByEvent, key(tenant, event, ""), tenant)
}

// ForWebhook returns the attempts for a webhook, oldest first.
func (v *Attempts) ForWebhook(tenant, webhook string) ([]*hookstream.Attempt, error) {
	return v.list(attemptsByHook, key(tenant, webhook, ""), tenant)
}

func (v *Attempts) list(index, prefix []byte, tenant string) ([]*hookstream.Attempt, error) {
	var out []*hookstream.Attempt
	err := v.store.db.View(func(tx *bolt.Tx) error {
		attempts := tx.Bucket(attemptsBucket)
		c := tx.Bucket(index).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			loc := k[len(prefix):]
			data := attempts.Get(key(tenant, string(loc)))
			if data == nil {
				continue
			}
			var a hookstream.Attempt
			if err := json.Unmarshal(data, &a); err != nil {
				return fmt.Errorf("decode attempt: %w", err)
			}
			out = append(out, &a)
		}
		return nil
	})
	return out, err
}

// LatestOutcome returns the latest attempt with an outcome (SUCCESS or FAILED) of an event to a webhook, or
// nil.
func (v *Attempts) LatestOutcome(tenant, webhook, event string) (*hookstream.Attempt, error) {
	var loc []byte
	if err := v.store.db.View(func(tx *bolt.Tx) error {
		loc = bytes.Clone(tx.Bucket(lastAttempt).Get(key(tenant, webhook, event)))
		return nil
	}); err != nil || loc == nil {
		return nil, err
	}
	return v.Attempt(tenant, string(loc))
}

// EverAttempted reports whether any try of the event to the webhook ran or is pending.
func (v *Attempts) EverAttempted(tenant, webhook, event string) (bool, error) {
	var ok bool
	err := v.store.db.View(func(tx *bolt.Tx) error {
		ok = tx.Bucket(everAttemptedKey).Get(key(tenant, webhook, event)) != nil
		return nil
	})
	return ok, err
}

// Pending returns the PENDING tries of an event to a webhook.
func (v *Attempts) Pending(tenant, webhook, event string) ([]*hookstream.Attempt, error) {
	all, err := v.ForEvent(tenant, event)
	if err != nil {
		return nil, err
	}
	var out []*hookstream.Attempt
	for _, a := range all {
		if a.Webhook == webhook && a.Status == hookstream.AttemptPending {
			out = append(out, a)
		}
	}
	return out, nil
}

// trackSeq remembers seq as the latest record of attempt k, so retention can drop the attempt when the stream
// no longer holds that record.
func trackSeq(tx *bolt.Tx, k []byte, seq uint64) error {
	seqs, bySeq := tx.Bucket(attemptSeqs), tx.Bucket(attemptsBySeq)
	if old := seqs.Get(k); len(old) == 8 {
		if err := bySeq.Delete(old); err != nil {
			return err
		}
	}
	sk := seqKey(nil, seq)
	if err := seqs.Put(k, sk); err != nil {
		return err
	}
	return bySeq.Put(sk, k)
}

// TrimBelow drops the attempts whose latest record the stream no longer holds (below its first sequence), and
// what (event, webhook) state only they supported, as a rebuild from the stream would not have them.
func (v *Attempts) TrimBelow(first uint64) (int, error) {
	n := 0
	err := v.store.db.Update(func(tx *bolt.Tx) error {
		c := tx.Bucket(attemptsBySeq).Cursor()
		for k, ak := c.First(); k != nil && seqOf(k) < first; k, ak = c.Next() {
			tenant, locator, _ := bytes.Cut(ak, []byte("/"))
			if data := tx.Bucket(attemptsBucket).Get(ak); data != nil {
				var a hookstream.Attempt
				if err := json.Unmarshal(data, &a); err == nil {
					if err := dropAttempt(tx, &a); err != nil {
						return err
					}
				}
			}
			if err := tx.Bucket(attemptSeqs).Delete(key(string(tenant), string(locator))); err != nil {
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

func dropAttempt(tx *bolt.Tx, a *hookstream.Attempt) error {
	for _, p := range [][2][]byte{{attemptsBucket, key(a.Tenant, a.Locator)}, {attemptsByHook, key(a.Tenant, a.Webhook, a.Locator)},
		{attemptsByEvent, key(a.Tenant, a.Event, a.Locator)}} {
		if err := tx.Bucket(p[0]).Delete(p[1]); err != nil {
			return err
		}
	}
	// The pair's state goes with its last attempt.
	prefix := key(a.Tenant, a.Event, "")
	c := tx.Bucket(attemptsByEvent).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		data := tx.Bucket(attemptsBucket).Get(key(a.Tenant, string(k[len(prefix):])))
		var other hookstream.Attempt
		if data != nil && json.Unmarshal(data, &other) == nil && other.Webhook == a.Webhook {
			return nil
		}
	}
	pair := key(a.Tenant, a.Webhook, a.Event)
	for _, b := range [][]byte{deliveredBucket, lastAttempt, everAttemptedKey} {
		if err := tx.Bucket(b).Delete(pair); err != nil {
			return err
		}
	}
	return nil
}
