package hookstream

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"time"

	"github.com/hookstream/hookstream/tracing"
	"github.com/oklog/ulid/v2"
)

// MaxEventDataBytes bounds an event's data.
const MaxEventDataBytes = 1 << 20

// Event is one ingested event, as delivered: the EventResponse that is the body of every delivery.
type Event struct {
	Locator   string          `json:"locator"`
	Type      string          `json:"type"`
	Tenant    string          `json:"tenantLocator"`
	Timestamp time.Time       `json:"timestamp"`
	RequestID string          `json:"requestId,omitempty"`
	Data      json.RawMessage `json:"data"`
	// Trace is the W3C trace context kept with the event, which every attempt carries on. It travels in the
	// stored message's headers, not in the JSON: what endpoints receive and the API answers are unchanged.
	Trace tracing.Context `json:"-"`
}

// CheckEvent validates what a producer gives: the tenant, the type and the data (a JSON object of at most
// MaxEventDataBytes).
func CheckEvent(tenant, eventType string, data []byte) error {
	if err := CheckDecodedEvent(tenant, eventType, data); err != nil {
		return err
	}
	if !json.Valid(data) {
		return Invalid("data", "must be a JSON object")
	}
	return nil
}

// CheckDecodedEvent is CheckEvent for data that a JSON decoder has already read as one valid value: it checks
// everything but the JSON syntax, which would cost a second pass over the data.
func CheckDecodedEvent(tenant, eventType string, data []byte) error {
	if err := CheckTenant("tenantLocator", tenant); err != nil {
		return err
	}
	if err := CheckEventType("type", eventType); err != nil {
		return err
	}
	if len(data) > MaxEventDataBytes {
		return &Error{Code: CodeTooLarge, Field: "data", Message: "event data exceeds 1 MiB"}
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return Invalid("data", "must be a JSON object")
	}
	return nil
}

// MaxRequestIDLength bounds a producer's request id.
const MaxRequestIDLength = 255

// CheckRequestID validates an optional request id.
func CheckRequestID(field, s string) error {
	if len(s) > MaxRequestIDLength {
		return Invalid(field, "must be at most %d characters", MaxRequestIDLength)
	}
	return nil
}

// EventLocator derives an event's locator from where the event is stored: the ULID whose time is the
// stream's timestamp and whose entropy carries the stream sequence. Every instance, view, delivery and replay
// computes the same locator, and the locator leads back to the stored message.
func EventLocator(stored time.Time, seq uint64) string {
	var id ulid.ULID
	_ = id.SetTime(ulid.Timestamp(stored))
	var entropy [10]byte
	binary.BigEndian.PutUint64(entropy[2:], seq)
	_ = id.SetEntropy(entropy[:])
	return id.String()
}

// EventSeq returns the stream sequence an event locator carries (false for a locator not made by
// EventLocator).
func EventSeq(locator string) (uint64, bool) {
	id, err := ulid.ParseStrict(locator)
	if err != nil {
		return 0, false
	}
	e := id.Entropy()
	if e[0] != 0 || e[1] != 0 {
		return 0, false
	}
	seq := binary.BigEndian.Uint64(e[2:])
	return seq, seq > 0
}
