// Package tracing carries W3C trace context with events and exports spans with OpenTelemetry. The trace
// context is plain data that travels in message and request headers; the Tracer is optional, and a nil
// Tracer costs nothing.
package tracing

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
)

// Header names of W3C trace context, lowercase as the recommendation spells them: NATS headers are
// case-sensitive.
const (
	HeaderTraceparent = "traceparent"
	HeaderTracestate  = "tracestate"
)

// MaxTracestateLength bounds a kept tracestate: W3C allows 32 members of at most 256 characters each;
// anything longer is dropped rather than cut, since a cut list would be malformed.
const MaxTracestateLength = 8192

// traceparentLength is the length of a version-00 traceparent: 00-<32 hex>-<16 hex>-<2 hex>.
const traceparentLength = 55

// Context is a W3C trace context: the trace an event belongs to, the span that caused it, the trace flags
// and the vendors' tracestate. The zero Context is invalid: "no trace".
type Context struct {
	TraceID [16]byte
	SpanID  [8]byte
	Flags   byte
	State   string
}

// FlagSampled is the sampled bit of the trace flags.
const FlagSampled byte = 0x01

// Valid reports whether c has a trace id and a span id, as a traceparent must.
func (c Context) Valid() bool { return c.TraceID != [16]byte{} && c.SpanID != [8]byte{} }

// Sampled reports whether the sampled flag is set.
func (c Context) Sampled() bool { return c.Flags&FlagSampled != 0 }

// Parse reads a traceparent and its tracestate. It returns false for a traceparent that is absent or
// invalid, which callers treat alike. Versions above 00 are read as 00, as the recommendation asks; a
// tracestate that is too long or not printable ASCII is dropped and the traceparent kept.
func Parse(traceparent, tracestate string) (Context, bool) {
	var c Context
	s := traceparent
	if len(s) < traceparentLength || s[2] != '-' || s[35] != '-' || s[52] != '-' {
		return Context{}, false
	}
	var version [1]byte
	if !decodeHex(version[:], s[0:2]) || version[0] == 0xff {
		return Context{}, false
	}
	// Version 00 is exactly 55 characters; a later version may append fields after a dash.
	if (version[0] == 0 && len(s) != traceparentLength) || (len(s) > traceparentLength && s[traceparentLength] != '-') {
		return Context{}, false
	}
	var flags [1]byte
	if !decodeHex(c.TraceID[:], s[3:35]) || !decodeHex(c.SpanID[:], s[36:52]) || !decodeHex(flags[:], s[53:55]) {
		return Context{}, false
	}
	c.Flags = flags[0]
	if !c.Valid() {
		return Context{}, false
	}
	if validTracestate(tracestate) {
		c.State = tracestate
	}
	return c, true
}

// decodeHex decodes lowercase hex only: the recommendation refuses uppercase.
func decodeHex(dst []byte, s string) bool {
	for i := range dst {
		hi, ok1 := fromHex(s[2*i])
		lo, ok2 := fromHex(s[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

func fromHex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// validTracestate is a light check: printable ASCII within bounds. tracestate belongs to the vendors, and is
// passed on as given.
func validTracestate(s string) bool {
	if len(s) > MaxTracestateLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// Traceparent formats c as a version-00 traceparent, or "" for an invalid Context.
func (c Context) Traceparent() string {
	if !c.Valid() {
		return ""
	}
	var b [traceparentLength]byte
	b[0], b[1], b[2] = '0', '0', '-'
	hex.Encode(b[3:35], c.TraceID[:])
	b[35] = '-'
	hex.Encode(b[36:52], c.SpanID[:])
	b[52] = '-'
	hex.Encode(b[53:55], []byte{c.Flags})
	return string(b[:])
}

// WithSpan returns c with span as its span id: the context an outgoing request carries when span made it.
func (c Context) WithSpan(span [8]byte) Context {
	c.SpanID = span
	return c
}

// NewSpanID returns a random, non-zero span id.
func NewSpanID() [8]byte {
	var id [8]byte
	for id == [8]byte{} {
		binary.BigEndian.PutUint64(id[:], rand.Uint64())
	}
	return id
}

// NewTrace returns a new sampled trace: a random trace id and span id.
func NewTrace() Context {
	var c Context
	for c.TraceID == [16]byte{} {
		binary.BigEndian.PutUint64(c.TraceID[:8], rand.Uint64())
		binary.BigEndian.PutUint64(c.TraceID[8:], rand.Uint64())
	}
	c.SpanID = NewSpanID()
	c.Flags = FlagSampled
	return c
}

// Derive returns the sampled trace of something that came without one, computed from its key (an event's
// locator): every instance, every retry and every rebuild derives the same.
func Derive(key string) Context {
	// Built on the stack: every routed event without a trace of its own comes here.
	var buf [64]byte
	sum := sha256.Sum256(append(append(buf[:0], "hookstream trace\x00"...), key...))
	var c Context
	copy(c.TraceID[:], sum[:16])
	copy(c.SpanID[:], sum[16:24])
	c.Flags = FlagSampled
	if !c.Valid() { // a zero half is as likely as guessing the hash; keep the result valid regardless
		c.TraceID[0], c.SpanID[0] = 1, 1
	}
	return c
}
