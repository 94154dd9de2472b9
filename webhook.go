package hookstream

import (
	"encoding/json"
	"slices"
	"time"
)

// Webhook is the current state of one webhook (a Lithic event subscription), folded from its change events.
type Webhook struct {
	Locator string `json:"locator"`
	Tenant  string `json:"tenant"`
	WebhookConfig
	Suspended   bool       `json:"suspended"`
	SuspendedAt *time.Time `json:"suspendedAt,omitempty"`
	// Holding is set from a suspension until every event held meanwhile has been released: while it is set,
	// new events are held too, so none overtakes an older one. The engine clears it (webhook.released).
	Holding bool `json:"holding,omitempty"`
	Deleted bool `json:"deleted,omitempty"`
	// EnabledSince is when the webhook was last created enabled or switched from disabled to enabled. An
	// event ingested before it was missed while the webhook was disabled (or did not exist) and is not
	// routed to it, however late the router sees it: replay_missing is how such events are sent.
	EnabledSince time.Time `json:"enabledSince,omitzero"`
	CreatedAt    time.Time `json:"createdAt"`
	UpdatedAt    time.Time `json:"updatedAt"`
	// CreatedSeq is the stream sequence of the creation event: listings are in this order.
	CreatedSeq uint64 `json:"createdSeq"`
	// Version is the stream sequence of the latest change event, the expected last subject sequence of the next.
	Version uint64 `json:"version"`
}

// WebhookConfig is what a webhook's owner configures.
type WebhookConfig struct {
	Name            string          `json:"name"`
	Enabled         bool            `json:"enabled"`
	Endpoint        Endpoint        `json:"endpoint"`
	FailureHandling FailureHandling `json:"failureHandling"`
	// EventTypes lists the types the webhook receives; empty means every type.
	EventTypes []string `json:"eventTypes"`
	// Filter holds the payload filter as given (a JSON object; see package filter), empty for none: an
	// event it rejects is not sent to the webhook.
	Filter json.RawMessage `json:"filter,omitempty"`
	// Ordering is OrderingFIFO for a webhook that receives its events one at a time, in ingestion order;
	// empty (or OrderingNone) otherwise.
	Ordering string `json:"ordering,omitempty"`
}

// Delivery orderings.
const (
	OrderingNone = "none"
	OrderingFIFO = "fifo"
)

// FIFO reports whether the webhook receives its events one at a time, in ingestion order.
func (c *WebhookConfig) FIFO() bool { return c.Ordering == OrderingFIFO }

// OrderingName is the webhook's ordering as the API shows it: "none" when none was set.
func (c *WebhookConfig) OrderingName() string {
	if c.Ordering == "" {
		return OrderingNone
	}
	return c.Ordering
}

// Endpoint is where deliveries (or failure alerts) are POSTed and how they are signed.
type Endpoint struct {
	URL         string              `json:"url"`
	HMACEnabled bool                `json:"hmacEnabled"`
	Secret      string              `json:"secret"`
	SecureSSL   bool                `json:"secureSsl"`
	Tag         string              `json:"tag,omitempty"`
	Headers     map[string][]string `json:"headers,omitempty"`
	// PreviousSecret stays valid until PreviousSecretUntil after a rotation, so receivers can switch over.
	PreviousSecret      string     `json:"previousSecret,omitempty"`
	PreviousSecretUntil *time.Time `json:"previousSecretUntil,omitempty"`
	// RateLimit bounds the request starts to this endpoint to so many per second, across every instance;
	// 0 for no bound. Only a webhook's own endpoint has one, not its alert endpoint.
	RateLimit int `json:"rateLimit,omitempty"`
}

// FailureHandling says what happens when a delivery fails.
type FailureHandling struct {
	AlertEndpoint *Endpoint      `json:"alertEndpoint,omitempty"`
	Divert        bool           `json:"divert"`
	RetryStrategy *RetryStrategy `json:"retryStrategy,omitempty"`
	Suspend       bool           `json:"suspend"`
	Triggers      []string       `json:"triggers"`
}

// RetryStrategy says how often and how long apart a failed delivery is retried.
type RetryStrategy struct {
	// Attempts is the number of retries after the first try (1..10).
	Attempts int `json:"attempts"`
	// Interval is in seconds (1..86400).
	Interval int `json:"interval"`
	// Type is "linear" or "exponential".
	Type string `json:"type"`
	// Jitter spreads retries: each delay is multiplied by a random factor in [1-Jitter, 1+Jitter] (0..0.5).
	Jitter float64 `json:"jitter,omitempty"`
}

// Retry strategy types.
const (
	RetryLinear      = "linear"
	RetryExponential = "exponential"
)

// SecretGrace is how long a rotated-out secret keeps signing deliveries.
const SecretGrace = 24 * time.Hour

// DefaultTriggers are the failures that count when a webhook names none.
func DefaultTriggers() []string { return []string{"4xx", "5xx", "timeout"} }

// DefaultFailureHandling is the failure handling of a webhook created without one, and what
// removeFailureHandling restores: the default triggers, no retries, no divert, no suspend.
func DefaultFailureHandling() FailureHandling {
	return FailureHandling{Triggers: DefaultTriggers()}
}

// Active reports whether the webhook receives deliveries now.
func (w *Webhook) Active() bool { return w.Enabled && !w.Suspended && !w.Deleted }

// ReceivesIngestedAt reports whether an event ingested at t falls after the webhook's latest enabling.
func (w *Webhook) ReceivesIngestedAt(t time.Time) bool { return !t.Before(w.EnabledSince) }

// Receives reports whether the webhook subscribes to eventType.
func (w *Webhook) Receives(eventType string) bool {
	return len(w.EventTypes) == 0 || slices.Contains(w.EventTypes, eventType)
}

// Secrets returns the secrets that sign a delivery at now: the current one first, then the previous one while
// its grace period lasts.
func (e *Endpoint) Secrets(now time.Time) []string {
	if e.PreviousSecret != "" && e.PreviousSecretUntil != nil && now.Before(*e.PreviousSecretUntil) {
		return []string{e.Secret, e.PreviousSecret}
	}
	return []string{e.Secret}
}

// clone returns a deep copy, so that folding an event never mutates a state another reader holds.
func (c WebhookConfig) clone() WebhookConfig {
	c.Endpoint = c.Endpoint.clone()
	c.EventTypes = slices.Clone(c.EventTypes)
	c.Filter = slices.Clone(c.Filter)
	c.FailureHandling.Triggers = slices.Clone(c.FailureHandling.Triggers)
	if c.FailureHandling.AlertEndpoint != nil {
		a := c.FailureHandling.AlertEndpoint.clone()
		c.FailureHandling.AlertEndpoint = &a
	}
	if c.FailureHandling.RetryStrategy != nil {
		r := *c.FailureHandling.RetryStrategy
		c.FailureHandling.RetryStrategy = &r
	}
	return c
}

func (e Endpoint) clone() Endpoint {
	if e.Headers != nil {
		h := make(map[string][]string, len(e.Headers))
		for k, v := range e.Headers {
			h[k] = slices.Clone(v)
		}
		e.Headers = h
	}
	return e
}
