package projections

import (
	"bytes"
	"fmt"
	"slices"
	"time"

	"github.com/hookstream/hookstream"

	bolt "go.etcd.io/bbolt"
)

// Cursor selects one page of a newest-first listing: the items older than After, or the items newer than
// Before (the page just above it), at most Limit. Keys are the index keys of the items named by the cursor
// tokens; ordering by key makes pages stable while new items arrive.
type Cursor struct {
	After, Before []byte
	Limit         int
}

// scanPage walks the keys under prefix newest first (or, with Before, oldest first from just above Before),
// decoding each into an item that decode may also filter out, and returns up to Limit items newest first and
// whether another item follows them in the direction of the walk.
func scanPage[T any](b *bolt.Bucket, prefix []byte, cur Cursor, decode func(k, v []byte) (T, bool, error)) ([]T, bool, error) {
	c := b.Cursor()
	var k, v []byte
	var step func() ([]byte, []byte)
	switch {
	case cur.Before != nil:
		k, v = c.Seek(cur.Before)
		if k != nil && bytes.Equal(k, cur.Before) {
			k, v = c.Next()
		}
		step = c.Next
	default:
		if cur.After != nil {
			k, _ = c.Seek(cur.After)
		} else {
			k, _ = c.Seek(append(bytes.Clone(prefix), 0xff))
		}
		// Seek lands on the first key >= the target: the walk starts just below it.
		if k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		step = c.Prev
	}
	var items []T
	for ; k != nil && bytes.HasPrefix(k, prefix); k, v = step() {
		item, ok, err := decode(k, v)
		if err != nil {
			return nil, false, err
		}
		if !ok {
			continue
		}
		if len(items) == cur.Limit {
			return finishPage(items, cur), true, nil
		}
		items = append(items, item)
	}
	return finishPage(items, cur), false, nil
}

func finishPage[T any](items []T, cur Cursor) []T {
	if cur.Before != nil {
		slices.Reverse(items)
	}
	return items
}

// cursorKeys turns cursor tokens into index keys with keyOf; a token keyOf does not know is a bad cursor.
func cursorKeys(after, before string, limit int, keyOf func(token string) ([]byte, bool)) (Cursor, error) {
	cur := Cursor{Limit: limit}
	if after != "" {
		k, ok := keyOf(after)
		if !ok {
			return cur, hookstream.Invalid("starting_after", "does not name an item of this list")
		}
		cur.After = k
	}
	if before != "" {
		k, ok := keyOf(before)
		if !ok {
			return cur, hookstream.Invalid("ending_before", "does not name an item of this list")
		}
		cur.Before = k
	}
	return cur, nil
}

// PageWebhooks returns a newest-first page of tenant's live webhooks (Lithic event subscriptions).
func (v *Webhooks) PageWebhooks(tenant, after, before string, limit int) ([]*hookstream.Webhook, bool, error) {
	var out []*hookstream.Webhook
	var more bool
	err := v.store.db.View(func(tx *bolt.Tx) error {
		prefix := key(tenant, "")
		cur, err := cursorKeys(after, before, limit, func(token string) ([]byte, bool) {
			w, err := getWebhook(tx, tenant, token)
			if err != nil || w == nil {
				return nil, false
			}
			return seqKey(prefix, w.CreatedSeq), true
		})
		if err != nil {
			return err
		}
		out, more, err = scanPage(tx.Bucket(webhookOrder), prefix, cur, func(_, loc []byte) (*hookstream.Webhook, bool, error) {
			w, err := getWebhook(tx, tenant, string(loc))
			return w, w != nil, err
		})
		return err
	})
	return out, more, err
}

// PageEvents returns a newest-first page of tenant's events that match f.
func (v *Events) PageEvents(tenant string, f EventFilter, after, before string, limit int) ([]*hookstream.Event, bool, error) {
	var out []*hookstream.Event
	var more bool
	err := v.store.db.View(func(tx *bolt.Tx) error {
		prefix := key(tenant, "")
		cur, err := cursorKeys(after, before, limit, func(token string) ([]byte, bool) {
			seq, ok := hookstream.EventSeq(token)
			return seqKey(prefix, seq), ok
		})
		if err != nil {
			return err
		}
		out, more, err = scanPage(tx.Bucket(eventsBucket), prefix, cur, func(_, data []byte) (*hookstream.Event, bool, error) {
			e, err := decodeStored(data)
			if err != nil {
				return nil, false, fmt.Errorf("decode event: %w", err)
			}
			return e, f.match(e), nil
		})
		return err
	})
	return out, more, err
}

// AttemptFilter selects attempts in a listing.
type AttemptFilter struct {
	Status     string    // empty: any
	Begin, End time.Time // on Created; zero: unbounded; End exclusive
}

func (f *AttemptFilter) match(a *hookstream.Attempt) bool {
	return (f.Status == "" || string(a.Status) == f.Status) &&
		(f.Begin.IsZero() || !a.Created.Before(f.Begin)) &&
		(f.End.IsZero() || a.Created.Before(f.End))
}

// PageForWebhook returns a newest-first page of a webhook's attempts, by creation time, then locator.
func (v *Attempts) PageForWebhook(tenant, webhook string, f AttemptFilter, after, before string, limit int) ([]*hookstream.Attempt, bool, error) {
	return v.page(attemptsByHook, tenant, webhook, f, after, before, limit)
}

// PageForEvent returns a newest-first page of an event's attempts, by creation time, then locator.
func (v *Attempts) PageForEvent(tenant, event string, f AttemptFilter, after, before string, limit int) ([]*hookstream.Attempt, bool, error) {
	return v.page(attemptsByEvent, tenant, event, f, after, before, limit)
}

// page lists the attempts of owner (a webhook or an event) in index. A cursor token names an attempt of the
// tenant, whose index key under owner places the page.
func (v *Attempts) page(index []byte, tenant, owner string, f AttemptFilter, after, before string, limit int) ([]*hookstream.Attempt, bool, error) {
	var out []*hookstream.Attempt
	var more bool
	prefix := key(tenant, owner, "")
	err := v.store.db.View(func(tx *bolt.Tx) error {
		attempts := tx.Bucket(attemptsBucket)
		cur, err := cursorKeys(after, before, limit, func(token string) ([]byte, bool) {
			v := attempts.Get(key(tenant, token))
			if v == nil {
				return nil, false
			}
			a, err := decodeEntry(v)
			if err != nil {
				return nil, false
			}
			return indexKey(tenant, owner, a), true
		})
		if err != nil {
			return err
		}
		out, more, err = scanPage(tx.Bucket(index), prefix, cur, func(k, _ []byte) (*hookstream.Attempt, bool, error) {
			v := attempts.Get(key(tenant, indexedLocator(prefix, k)))
			if v == nil {
				return nil, false, nil
			}
			a, err := decodeEntry(v)
			if err != nil {
				return nil, false, err
			}
			return a, f.match(a), nil
		})
		return err
	})
	return out, more, err
}
