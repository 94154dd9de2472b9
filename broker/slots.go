package broker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// maxSlotConflicts bounds the compare-and-set rounds of one reservation: each lost round means another
// instance reserved meanwhile, so running out takes a contention no rate limit sees in practice.
const maxSlotConflicts = 64

// ReserveSlots reserves n request starts, interval apart, on a rate key that every instance shares, and
// returns the first: the key's next free start, or notBefore when that is later. The key then holds the start
// after the last one reserved. Reservations are compare-and-set writes to the leases bucket, so two
// instances never get the same start; a key nobody has used for the lease TTL is gone, and starts afresh.
func (b *Broker) ReserveSlots(ctx context.Context, key string, n int, interval time.Duration, notBefore time.Time) (time.Time, error) {
	kv, err := b.leases(ctx)
	if err != nil {
		return time.Time{}, err
	}
	for range maxSlotConflicts {
		var next time.Time
		var rev uint64
		entry, err := kv.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return time.Time{}, fmt.Errorf("read rate key %s: %w", key, err)
		default:
			rev = entry.Revision()
			if ns, err := strconv.ParseInt(string(entry.Value()), 10, 64); err == nil {
				next = time.Unix(0, ns)
			}
		}
		first := next
		if first.Before(notBefore) {
			first = notBefore
		}
		value := []byte(strconv.FormatInt(first.Add(time.Duration(n)*interval).UnixNano(), 10))
		if rev == 0 {
			_, err = kv.Create(ctx, key, value)
		} else {
			_, err = kv.Update(ctx, key, value, rev)
		}
		switch {
		case err == nil:
			return first, nil
		case errors.Is(err, jetstream.ErrKeyExists), errors.Is(err, jetstream.ErrKeyRevisionMismatch):
			continue // another instance reserved first: read again
		default:
			return time.Time{}, fmt.Errorf("reserve on rate key %s: %w", key, err)
		}
	}
	return time.Time{}, fmt.Errorf("reserve on rate key %s: %d conflicting reservations in a row", key, maxSlotConflicts)
}
