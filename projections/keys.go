package projections

import "encoding/binary"

// key joins parts with '/' (none of tenant UUIDs, ULIDs or event types contain it), so that a prefix scan over
// "tenant/" finds exactly one tenant's entries.
func key(parts ...string) []byte {
	n := 0
	for _, p := range parts {
		n += len(p) + 1
	}
	b := make([]byte, 0, n)
	for i, p := range parts {
		if i > 0 {
			b = append(b, '/')
		}
		b = append(b, p...)
	}
	return b
}

// seqKey is prefix followed by seq in big-endian, so keys sort in sequence order.
func seqKey(prefix []byte, seq uint64) []byte {
	b := make([]byte, len(prefix), len(prefix)+8)
	copy(b, prefix)
	return binary.BigEndian.AppendUint64(b, seq)
}

// seqOf reads the sequence at the end of a seqKey.
func seqOf(k []byte) uint64 {
	if len(k) < 8 {
		return 0
	}
	return binary.BigEndian.Uint64(k[len(k)-8:])
}
