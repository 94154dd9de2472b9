package bench

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strconv"
)

// An event's data is a JSON object of exactly Payload bytes whose first fields, fixed-width, carry the event's
// sequence number and publication time (Unix nanoseconds):
//
//	{"seq":"000000000042","sent":"1767225600000000000","pad":"q3k…"}
//
// Fixed widths keep every payload the same size; the pad is drawn from a generator seeded with Options.Seed,
// so a run sends the same bytes as the last one with the same seed (but for the times).
const (
	seqDigits  = 12
	sentDigits = 19
	seqKey     = `"seq":"`
	sentKey    = `"sent":"`
	padKey     = `"pad":"`
)

// MinPayload is the smallest payload: the fields above with an empty pad.
const MinPayload = len(`{`+seqKey) + seqDigits + len(`",`+sentKey) + sentDigits + len(`",`+padKey) + len(`"}`)

// payload builds event data.
type payload struct {
	template []byte
	seqAt    int
	sentAt   int
}

func newPayload(size int, seed uint64) *payload {
	var b bytes.Buffer
	b.WriteString(`{` + seqKey)
	seqAt := b.Len()
	b.WriteString(zeros(seqDigits))
	b.WriteString(`",` + sentKey)
	sentAt := b.Len()
	b.WriteString(zeros(sentDigits))
	b.WriteString(`",` + padKey)
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	r := rand.New(rand.NewPCG(seed, 0x686f6f6b73747265)) // "hookstre"
	for range size - MinPayload {
		b.WriteByte(alphabet[r.IntN(len(alphabet))])
	}
	b.WriteString(`"}`)
	return &payload{template: b.Bytes(), seqAt: seqAt, sentAt: sentAt}
}

// wrap returns the payload embedded in a larger body (an EventResponse, an ingestion request): the same
// stamps, at their offsets in the new template.
func (p *payload) wrap(body []byte) (*payload, error) {
	i := bytes.Index(body, p.template)
	if i < 0 {
		return nil, fmt.Errorf("payload not found in its wrapper")
	}
	return &payload{template: body, seqAt: i + p.seqAt, sentAt: i + p.sentAt}, nil
}

func zeros(n int) string { return string(bytes.Repeat([]byte("0"), n)) }

// build returns a fresh copy of the data for event seq published at sent (Unix nanoseconds).
func (p *payload) build(seq int, sent int64) []byte {
	out := make([]byte, len(p.template))
	copy(out, p.template)
	p.stamp(out, seq, sent)
	return out
}

// stamp writes seq and sent into data built from the template.
func (p *payload) stamp(data []byte, seq int, sent int64) {
	putDigits(data[p.seqAt:p.seqAt+seqDigits], uint64(seq))
	putDigits(data[p.sentAt:p.sentAt+sentDigits], uint64(max(sent, 0)))
}

// putDigits writes v right-aligned, zero-padded, into dst.
func putDigits(dst []byte, v uint64) {
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = byte('0' + v%10)
		v /= 10
	}
}

// parseStamp finds the sequence number and publication time in a received body (a delivery's EventResponse,
// or a baseline body of the same shape).
func parseStamp(body []byte) (seq int, sent int64, ok bool) {
	s, ok1 := digitsAfter(body, seqKey, seqDigits)
	t, ok2 := digitsAfter(body, sentKey, sentDigits)
	return int(s), int64(t), ok1 && ok2
}

func digitsAfter(body []byte, key string, n int) (uint64, bool) {
	i := bytes.Index(body, []byte(key))
	if i < 0 || i+len(key)+n > len(body) {
		return 0, false
	}
	var v uint64
	for _, c := range body[i+len(key) : i+len(key)+n] {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	return v, true
}

// tenantFor derives a stable lowercase UUID (version 4 layout) from the seed: the in-process tenant.
func tenantFor(seed uint64) string {
	r := rand.New(rand.NewPCG(seed, 0x74656e616e74)) // "tenant"
	var b [16]byte
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// formatCount writes n with thousands separators (20000 → "20,000").
func formatCount(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := s[0] == '-'
	if neg {
		s = s[1:]
	}
	var b bytes.Buffer
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
