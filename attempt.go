package hookstream

import (
	"crypto/sha256"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
)

// AttemptStatus is the state of an attempt.
type AttemptStatus string

// Attempt statuses.
const (
	AttemptSuccess AttemptStatus = "SUCCESS"
	AttemptFailed  AttemptStatus = "FAILED"
	AttemptPending AttemptStatus = "PENDING"
	AttemptSending AttemptStatus = "SENDING"
)

// MaxResponseBodyBytes is how much of an endpoint's answer an attempt keeps.
const MaxResponseBodyBytes = 4 << 10

// Attempt is one HTTP request to one endpoint for one event (a Lithic message attempt), or, while PENDING,
// a scheduled try not yet sent.
type Attempt struct {
	Locator  string `json:"locator"`
	Tenant   string `json:"tenant"`
	Webhook  string `json:"webhook"`
	Event    string `json:"event"`
	EventSeq uint64 `json:"eventSeq"`
	// Try is 0 for the first try of a delivery and k for its k-th retry.
	Try          int           `json:"try"`
	URL          string        `json:"url"`
	Status       AttemptStatus `json:"status"`
	StatusCode   int           `json:"statusCode"`
	ResponseBody string        `json:"responseBody,omitempty"`
	LatencyMs    float64       `json:"latencyMs"`
	Trigger      string        `json:"trigger,omitempty"`
	Error        string        `json:"error,omitempty"`
	Created      time.Time     `json:"created"`
	// Due is when a PENDING attempt will be sent.
	Due *time.Time `json:"due,omitempty"`
	// RetryAfter is the wait, in whole seconds rounded up, that a 429 or 503 answer asked for with its
	// Retry-After header (absent when it asked for none).
	RetryAfter *int `json:"retryAfter,omitempty"`
}

// Ended is when the attempt's request ended: Created plus its latency (Created for a PENDING try).
func (a *Attempt) Ended() time.Time {
	return a.Created.Add(time.Duration(a.LatencyMs * float64(time.Millisecond)))
}

// DivertedEvent is an event whose delivery to a webhook finally failed while divert was on.
type DivertedEvent struct {
	Tenant           string    `json:"tenant"`
	Webhook          string    `json:"webhook"`
	EventLocator     string    `json:"eventLocator"`
	EventSeq         uint64    `json:"eventSeq"`
	RequestLocator   string    `json:"requestLocator"`
	FailureMessage   string    `json:"failureMessage"`
	FailureTimestamp time.Time `json:"failureTimestamp"`
	FailureTrigger   string    `json:"failureTrigger"`
}

// RecordType names the kind of a DeliveryRecord.
type RecordType string

// Delivery record types, appended to the attempts stream.
const (
	// RecordAttempt is an attempt's outcome, or a PENDING try (the outcome later replaces it).
	RecordAttempt RecordType = "attempt"
	// RecordAttempts carries several attempts' outcomes of one webhook, in the order they were written: the
	// outcomes concluded while the previous write to the webhook's subject was on its way go out as one
	// message, one stream write for many deliveries. Each attempt counts as its own record.
	RecordAttempts RecordType = "attempts"
	// RecordAttemptCancelled removes a PENDING try that will not run.
	RecordAttemptCancelled RecordType = "attempt.cancelled"
	// RecordDiverted parks an event after a final failure (in the diverted stream).
	RecordDiverted RecordType = "diverted"
	// RecordDivertedDeleted removes a diverted record on request.
	RecordDivertedDeleted RecordType = "diverted.deleted"
	// RecordDivertedResolved removes a diverted record once the event was delivered after all.
	RecordDivertedResolved RecordType = "diverted.resolved"
	// RecordAlertSent notes that a failure alert was accepted by the alert endpoint (Alert names the alert),
	// so a repeated alert task is not sent again.
	RecordAlertSent RecordType = "alert.sent"
)

// DeliveryRecord is one entry of the attempts stream, or of the diverted stream for the diverted types.
//
// Which fields a record carries depends on its Type: Attempt (attempt), Attempts (attempts), Cancelled
// (attempt.cancelled), Diverted (diverted), Alert (alert.sent); the diverted.deleted and diverted.resolved
// records name only their event.
type DeliveryRecord struct {
	Type    RecordType `json:"type"`
	Tenant  string     `json:"tenant"`
	Webhook string     `json:"webhook"`
	Event   string     `json:"event"`
	Actor   string     `json:"actor,omitempty"`
	Time    time.Time  `json:"time"`
	Attempt *Attempt   `json:"attempt,omitempty"`
	// Attempts are the records of an attempts batch, oldest first.
	Attempts []*Attempt     `json:"attempts,omitempty"`
	Diverted *DivertedEvent `json:"diverted,omitempty"`
	// Cancelled names the attempt that will not run (attempt.cancelled).
	Cancelled string `json:"cancelled,omitempty"`
	// Alert names the alert that was accepted (alert.sent).
	Alert string `json:"alert,omitempty"`
}

// AlertName is the alert an alert.sent record names. Older records name it in Cancelled.
func (r *DeliveryRecord) AlertName() string {
	if r.Alert != "" {
		return r.Alert
	}
	return r.Cancelled
}

// Records returns the records r stands for: an attempts batch's attempts, each as the attempt record it
// would have been on its own, or r itself.
func (r *DeliveryRecord) Records() []*DeliveryRecord {
	if r.Type != RecordAttempts {
		return []*DeliveryRecord{r}
	}
	out := make([]*DeliveryRecord, 0, len(r.Attempts))
	for _, a := range r.Attempts {
		if a == nil {
			continue
		}
		out = append(out, &DeliveryRecord{Type: RecordAttempt, Tenant: r.Tenant, Webhook: r.Webhook, Event: a.Event,
			Time: a.Ended(), Attempt: a})
	}
	return out
}

// DerivedLocator returns a ULID whose time is at and whose entropy is a hash of parts: the same inputs give
// the same locator, so a redelivered task records the same attempt.
func DerivedLocator(at time.Time, parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	var id ulid.ULID
	_ = id.SetTime(ulid.Timestamp(at))
	_ = id.SetEntropy(sum[:10])
	return id.String()
}

// AlertNotice is the failure notice POSTed to a webhook's alert endpoint after a final failure.
type AlertNotice struct {
	Type             string    `json:"type"`
	Tenant           string    `json:"tenantLocator"`
	Webhook          string    `json:"webhookLocator"`
	Event            string    `json:"eventLocator"`
	Request          string    `json:"requestLocator"`
	FailureTrigger   string    `json:"failureTrigger"`
	FailureMessage   string    `json:"failureMessage"`
	FailureTimestamp time.Time `json:"failureTimestamp"`
	Diverted         bool      `json:"diverted"`
	Suspended        bool      `json:"suspended"`
}

// AlertType is the type of an AlertNotice.
const AlertType = "webhook.delivery.failed"
