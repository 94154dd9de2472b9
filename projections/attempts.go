package projections

import (
	"bytes"
	"encoding/binary"
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
	attemptsBucket  = []byte("attempts")            // tenant/attempt → seq of its latest record, then the Attempt
	attemptsByHook  = []byte("attempts_by_webhook") // tenant/webhook/created attempt → nil (indexKey)
	attemptsByEvent = []byte("attempts_by_event")   // tenant/event/created attempt → nil (indexKey)
	pairsBucket     = []byte("attempt_pairs")       // tenant/webhook/event → pairState, once some try ran or is pending
	attemptsBySeq   = []byte("attempts_seq")        // seq → the keys of the attempts that record applied, for retention
	alertsSent      = []byte("alerts_sent")         // tenant/alert → nil
)

// attemptsLayout is the attempts view's layout version: a file written with another is rebuilt at start.
// The per-webhook and per-event indexes are ordered by the attempts' creation time, then locator (indexKey);
// attempts_seq holds one entry per record, listing the attempts it applied, so an attempts batch is one put
// there; attempt_pairs and the attempts' values carry the per-pair and sequence indexes, keeping the puts per
// attempt few.
const attemptsLayout = 4

// Attempts is the view of delivery records: every attempt (and PENDING try) per webhook and per event, and
// which (event, webhook) pairs were delivered.
type Attempts struct{ store *Store }

// NewAttempts returns the attempts view over store.
func NewAttempts(store *Store) *Attempts { return &Attempts{store: store} }

// Name implements View.
func (*Attempts) Name() string { return AttemptsView }

// Stream implements View.
func (*Attempts) Stream() string { return broker.KindAttempts }

// Linger implements LingeringView: writers of delivery records do not read them back at once. A longer wait
// makes fewer, larger transactions, each rewriting the buckets' last pages and branches once (docs/performance.md,
// the burst benchmark). API reads of attempts see an outcome up to this much later.
func (*Attempts) Linger() time.Duration { return 30 * time.Millisecond }

// Buckets implements View.
func (*Attempts) Buckets() []string {
	return []string{string(attemptsBucket), string(attemptsByHook), string(attemptsByEvent), string(pairsBucket),
		string(attemptsBySeq), string(alertsSent)}
}

// Layout implements VersionedView.
func (*Attempts) Layout() (int, []string) {
	return attemptsLayout, []string{"delivered", "last_attempt", "attempted", "attempt_seq"}
}

// pairState is what the tries of one event to one webhook have come to: the latest attempt with an outcome
// and the attempt that succeeded, each empty until there is one.
type pairState struct{ last, delivered []byte }

// readPair decodes a pair's entry: "last/delivered" (locators never contain '/').
func readPair(v []byte) pairState {
	last, delivered, _ := bytes.Cut(v, []byte("/"))
	return pairState{last: last, delivered: delivered}
}

func (p pairState) encode() []byte {
	b := make([]byte, 0, len(p.last)+1+len(p.delivered))
	b = append(b, p.last...)
	b = append(b, '/')
	return append(b, p.delivered...)
}

// indexKey is an attempt's key in attempts_by_webhook (owner: its webhook) or attempts_by_event (owner: its
// event): the owner's prefix, the attempt's creation time (8 bytes, big-endian Unix nanoseconds), then its
// locator. Listings come out in creation order, ties by locator, although a PENDING try's locator carries its
// due time rather than its creation.
func indexKey(tenant, owner string, a *hookstream.Attempt) []byte {
	var created uint64
	if a.Created.After(time.Unix(0, 0)) {
		created = uint64(a.Created.UnixNano())
	}
	return append(seqKey(key(tenant, owner, ""), created), a.Locator...)
}

// indexedLocator returns the locator in an index key under prefix (see indexKey).
func indexedLocator(prefix, k []byte) string {
	if len(k) < len(prefix)+8 {
		return ""
	}
	return string(k[len(prefix)+8:])
}

// attemptEntry is an attempts bucket value: the sequence of the attempt's latest record, then its JSON, so
// retention finds an attempt's record without an index of its own.
func attemptEntry(seq uint64, data []byte) []byte {
	return append(seqKey(nil, seq), data...)
}

// splitEntry returns an attempts bucket value's sequence and JSON.
func splitEntry(v []byte) (uint64, []byte) {
	if len(v) < 8 {
		return 0, nil
	}
	return seqOf(v[:8]), v[8:]
}

// decodeEntry decodes an attempts bucket value's attempt.
func decodeEntry(v []byte) (*hookstream.Attempt, error) {
	_, data := splitEntry(v)
	var a hookstream.Attempt
	if err := json.Unmarshal(data, &a); err != nil {
		return nil, fmt.Errorf("decode attempt: %w", err)
	}
	return &a, nil
}

// Apply implements View.
func (v *Attempts) Apply(tx *bolt.Tx, m *Msg) error {
	p, err := v.Prepare(m)
	if err != nil {
		return err
	}
	return v.ApplyPrepared(tx, m, p)
}

// preparedRecord is a delivery record ready to apply: decoded, with each attempt it records and its JSON.
type preparedRecord struct {
	r        hookstream.DeliveryRecord
	attempts []preparedAttempt
}

// preparedAttempt is an attempt with its JSON, or why it could not be encoded.
type preparedAttempt struct {
	*hookstream.Attempt
	data []byte
	err  error
}

// Prepare implements PreparingView: it decodes the record and encodes the attempts it records.
func (*Attempts) Prepare(m *Msg) (any, error) {
	p := &preparedRecord{}
	if err := json.Unmarshal(m.Data, &p.r); err != nil {
		return nil, Skip(fmt.Errorf("decode delivery record: %w", err))
	}
	attempts := p.r.Attempts
	switch p.r.Type {
	case hookstream.RecordAttempt:
		if p.r.Attempt == nil {
			return nil, Skip(fmt.Errorf("attempt record without attempt"))
		}
		attempts = []*hookstream.Attempt{p.r.Attempt}
	case hookstream.RecordAttempts:
	default:
		return p, nil
	}
	p.attempts = make([]preparedAttempt, 0, len(attempts))
	for _, a := range attempts {
		if a == nil {
			continue
		}
		data, err := json.Marshal(a)
		if err != nil {
			err = fmt.Errorf("encode attempt: %w", err)
		}
		p.attempts = append(p.attempts, preparedAttempt{Attempt: a, data: data, err: err})
	}
	return p, nil
}

// ApplyPrepared implements PreparingView.
func (*Attempts) ApplyPrepared(tx *bolt.Tx, m *Msg, prepared any) error {
	p := prepared.(*preparedRecord)
	r := &p.r
	switch r.Type {
	case hookstream.RecordAttempt, hookstream.RecordAttempts:
		return applyAttempts(tx, m.Seq, p.attempts)
	case hookstream.RecordAttemptCancelled:
		k := key(r.Tenant, r.Cancelled)
		v := tx.Bucket(attemptsBucket).Get(k)
		if v == nil {
			return nil
		}
		a, err := decodeEntry(v)
		if err != nil {
			return Skip(err)
		}
		if a.Status != hookstream.AttemptPending {
			return nil // it ran after all: its outcome stays
		}
		// Its PENDING record's attempts_seq entry stays: retention skips an attempt that is gone.
		for _, p := range [][2][]byte{{attemptsBucket, k}, {attemptsByHook, indexKey(a.Tenant, a.Webhook, a)},
			{attemptsByEvent, indexKey(a.Tenant, a.Event, a)}} {
			if err := tx.Bucket(p[0]).Delete(p[1]); err != nil {
				return err
			}
		}
		return nil
	case hookstream.RecordAlertSent:
		return tx.Bucket(alertsSent).Put(key(r.Tenant, r.AlertName()), nil)
	default:
		return Skip(fmt.Errorf("unknown delivery record type %q", r.Type))
	}
}

// applyAttempts applies the attempts of the record stored at seq, and lists under seq the keys of those it
// applied, for retention to find.
func applyAttempts(tx *bolt.Tx, seq uint64, attempts []preparedAttempt) error {
	var applied []byte
	for _, a := range attempts {
		k, err := applyAttempt(tx, seq, a)
		if err != nil {
			return err
		}
		if k != nil {
			applied = binary.AppendUvarint(applied, uint64(len(k)))
			applied = append(applied, k...)
		}
	}
	if applied == nil {
		return nil
	}
	return tx.Bucket(attemptsBySeq).Put(seqKey(nil, seq), applied)
}

// recordKeys returns the attempt keys an attempts_seq entry lists (nil for a malformed one).
func recordKeys(v []byte) [][]byte {
	var keys [][]byte
	for len(v) > 0 {
		n, size := binary.Uvarint(v)
		if size <= 0 || uint64(len(v)-size) < n {
			return nil
		}
		keys, v = append(keys, v[size:size+int(n)]), v[size+int(n):]
	}
	return keys
}

// applyAttempt applies an attempt's record stored at seq, and returns the attempt's key, or nil when the record
// changed nothing. It replaces the attempt's PENDING record; once the attempt has an outcome, later records of
// it change nothing. A resumed task can record an attempt again when its first record had not reached this
// instance's view: attempts batches carry no per-attempt message id for the server to dedupe, so the view
// keeps the first outcome, as the server's dedupe did. The PENDING record's attempts_seq entry stays when the
// outcome replaces it: retention skips an attempt whose latest record is not the one it trims.
func applyAttempt(tx *bolt.Tx, seq uint64, pa preparedAttempt) ([]byte, error) {
	a := pa.Attempt
	attempts := tx.Bucket(attemptsBucket)
	k := key(a.Tenant, a.Locator)
	if v := attempts.Get(k); v != nil {
		prev, err := decodeEntry(v)
		if err == nil && prev.Status != hookstream.AttemptPending {
			return nil, nil
		}
		// The PENDING record's index keys carry its own creation time, which the outcome's replaces.
		if err == nil && !prev.Created.Equal(a.Created) {
			for _, p := range [][2][]byte{{attemptsByHook, indexKey(a.Tenant, a.Webhook, prev)}, {attemptsByEvent, indexKey(a.Tenant, a.Event, prev)}} {
				if err := tx.Bucket(p[0]).Delete(p[1]); err != nil {
					return nil, err
				}
			}
		}
	}
	if pa.err != nil {
		return nil, pa.err
	}
	data := pa.data
	pairs := tx.Bucket(pairsBucket)
	pair := key(a.Tenant, a.Webhook, a.Event)
	state := readPair(pairs.Get(pair))
	switch a.Status {
	case hookstream.AttemptSuccess:
		state.last, state.delivered = []byte(a.Locator), []byte(a.Locator)
	case hookstream.AttemptFailed:
		state.last = []byte(a.Locator)
	}
	for _, p := range []struct{ bucket, key, value []byte }{
		{attemptsBucket, k, attemptEntry(seq, data)},
		{attemptsByHook, indexKey(a.Tenant, a.Webhook, a), nil},
		{attemptsByEvent, indexKey(a.Tenant, a.Event, a), nil},
		{pairsBucket, pair, state.encode()},
	} {
		if err := tx.Bucket(p.bucket).Put(p.key, p.value); err != nil {
			return nil, err
		}
	}
	return k, nil
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
		ok = len(readPair(tx.Bucket(pairsBucket).Get(key(tenant, webhook, event))).delivered) > 0
		return nil
	})
	return ok, err
}

// Attempt returns one attempt, or a NotFound error.
func (v *Attempts) Attempt(tenant, locator string) (*hookstream.Attempt, error) {
	var a *hookstream.Attempt
	err := v.store.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(attemptsBucket).Get(key(tenant, locator))
		if v == nil {
			return nil
		}
		var err error
		a, err = decodeEntry(v)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read attempt: %w", err)
	}
	if a == nil {
		return nil, hookstream.NotFound("attempt %s not found", locator)
	}
	return a, nil
}

// AttemptRef names one attempt of a tenant.
type AttemptRef struct{ Tenant, Locator string }

// Outcomes returns, for each attempt in refs, its recorded outcome, or nil where it has none (no record, or a
// PENDING one). All are read in one transaction: the router asks for a whole batch of events' tries at once.
func (v *Attempts) Outcomes(refs []AttemptRef) ([]*hookstream.Attempt, error) {
	out := make([]*hookstream.Attempt, len(refs))
	err := v.store.db.View(func(tx *bolt.Tx) error {
		attempts := tx.Bucket(attemptsBucket)
		for i, r := range refs {
			v := attempts.Get(key(r.Tenant, r.Locator))
			if v == nil {
				continue
			}
			a, err := decodeEntry(v)
			if err != nil {
				return err
			}
			if a.Status != hookstream.AttemptPending {
				out[i] = a
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read outcomes: %w", err)
	}
	return out, nil
}

// Outcome is Outcomes for one attempt.
func (v *Attempts) Outcome(tenant, locator string) (*hookstream.Attempt, error) {
	out, err := v.Outcomes([]AttemptRef{{Tenant: tenant, Locator: locator}})
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// ForEvent returns the attempts for an event, oldest first (by creation, then locator).
func (v *Attempts) ForEvent(tenant, event string) ([]*hookstream.Attempt, error) {
	return v.list(attemptsByEvent, key(tenant, event, ""), tenant)
}

// ForWebhook returns the attempts for a webhook, oldest first (by creation, then locator).
func (v *Attempts) ForWebhook(tenant, webhook string) ([]*hookstream.Attempt, error) {
	return v.list(attemptsByHook, key(tenant, webhook, ""), tenant)
}

func (v *Attempts) list(index, prefix []byte, tenant string) ([]*hookstream.Attempt, error) {
	var out []*hookstream.Attempt
	err := v.store.db.View(func(tx *bolt.Tx) error {
		attempts := tx.Bucket(attemptsBucket)
		c := tx.Bucket(index).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			v := attempts.Get(key(tenant, indexedLocator(prefix, k)))
			if v == nil {
				continue
			}
			a, err := decodeEntry(v)
			if err != nil {
				return err
			}
			out = append(out, a)
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
		loc = bytes.Clone(readPair(tx.Bucket(pairsBucket).Get(key(tenant, webhook, event))).last)
		return nil
	}); err != nil || len(loc) == 0 {
		return nil, err
	}
	return v.Attempt(tenant, string(loc))
}

// EverAttempted reports whether any try of the event to the webhook ran or is pending.
func (v *Attempts) EverAttempted(tenant, webhook, event string) (bool, error) {
	var ok bool
	err := v.store.db.View(func(tx *bolt.Tx) error {
		ok = tx.Bucket(pairsBucket).Get(key(tenant, webhook, event)) != nil
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

// TrimBelow drops the attempts whose latest record the stream no longer holds (below its first sequence), and
// what (event, webhook) state only they supported, as a rebuild from the stream would not have them. It returns
// how many attempts it dropped.
func (v *Attempts) TrimBelow(first uint64) (int, error) {
	n := 0
	err := v.store.db.Update(func(tx *bolt.Tx) error {
		c := tx.Bucket(attemptsBySeq).Cursor()
		for k, keys := c.First(); k != nil && seqOf(k) < first; k, keys = c.Next() {
			for _, ak := range recordKeys(keys) {
				if a := attemptRecordedAt(tx, ak, seqOf(k)); a != nil {
					if err := dropAttempt(tx, a); err != nil {
						return err
					}
					n++
				}
			}
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return nil
	})
	return n, err
}

// attemptRecordedAt returns the attempt at k if its latest record is seq, else nil (as for an entry that cannot
// be decoded): only then does the trimmed record take the attempt with it.
func attemptRecordedAt(tx *bolt.Tx, k []byte, seq uint64) *hookstream.Attempt {
	v := tx.Bucket(attemptsBucket).Get(k)
	if latest, _ := splitEntry(v); latest != seq {
		return nil
	}
	a, err := decodeEntry(v)
	if err != nil {
		return nil
	}
	return a
}

func dropAttempt(tx *bolt.Tx, a *hookstream.Attempt) error {
	for _, p := range [][2][]byte{{attemptsBucket, key(a.Tenant, a.Locator)}, {attemptsByHook, indexKey(a.Tenant, a.Webhook, a)},
		{attemptsByEvent, indexKey(a.Tenant, a.Event, a)}} {
		if err := tx.Bucket(p[0]).Delete(p[1]); err != nil {
			return err
		}
	}
	// The pair's state goes with its last attempt.
	prefix := key(a.Tenant, a.Event, "")
	c := tx.Bucket(attemptsByEvent).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		v := tx.Bucket(attemptsBucket).Get(key(a.Tenant, indexedLocator(prefix, k)))
		if v == nil {
			continue
		}
		if other, err := decodeEntry(v); err == nil && other.Webhook == a.Webhook {
			return nil
		}
	}
	return tx.Bucket(pairsBucket).Delete(key(a.Tenant, a.Webhook, a.Event))
}
