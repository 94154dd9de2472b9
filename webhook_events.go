package hookstream

import (
	"fmt"
	"time"
)

// Webhook change event types.
const (
	WebhookCreated       = "webhook.created"
	WebhookUpdated       = "webhook.updated"
	WebhookSecretRotated = "webhook.secret_rotated"
	WebhookSuspended     = "webhook.suspended"
	WebhookUnsuspended   = "webhook.unsuspended"
	WebhookDeleted       = "webhook.deleted"
	WebhookReleased      = "webhook.released"
)

// ActorSystem is the actor of changes the engine makes by itself, such as a suspension after a final failure.
const ActorSystem = "system"

// WebhookEvent is one change to a webhook, as appended to the webhooks stream. Exactly the payload that
// matches Type is set. Events carry everything needed to fold them (generated secrets included), so a replay
// gives the same state.
type WebhookEvent struct {
	Type    string    `json:"type"`
	Tenant  string    `json:"tenant"`
	Webhook string    `json:"webhook"`
	Actor   string    `json:"actor"`
	Time    time.Time `json:"time"`
	// Create is the full initial configuration (webhook.created).
	Create *WebhookConfig `json:"create,omitempty"`
	// Update is the change as given (webhook.updated), with any generated secret filled in.
	Update *WebhookUpdate `json:"update,omitempty"`
	// Secret is the new secret (webhook.secret_rotated).
	Secret string `json:"secret,omitempty"`
	// Reason says why the engine suspended the webhook (webhook.suspended).
	Reason string `json:"reason,omitempty"`
}

// Apply folds one change event into the webhook's state. seq is the event's stream sequence. Events of an
// unknown type are an error, so a newer writer's events are not silently misread.
func (w *Webhook) Apply(e *WebhookEvent, seq uint64) error {
	switch e.Type {
	case WebhookCreated:
		if e.Create == nil {
			return fmt.Errorf("%s event without create payload", e.Type)
		}
		*w = Webhook{
			Locator:       e.Webhook,
			Tenant:        e.Tenant,
			WebhookConfig: e.Create.clone(),
			CreatedAt:     e.Time,
			CreatedSeq:    seq,
		}
		if w.Enabled {
			w.EnabledSince = e.Time
		}
	case WebhookUpdated:
		if e.Update == nil {
			return fmt.Errorf("%s event without update payload", e.Type)
		}
		wasEnabled := w.Enabled
		w.WebhookConfig = applyUpdate(w.WebhookConfig, e.Update, e.Time)
		if w.Enabled && !wasEnabled {
			w.EnabledSince = e.Time
		}
	case WebhookSecretRotated:
		w.WebhookConfig = w.WebhookConfig.clone()
		rotateSecret(&w.Endpoint, e.Secret, e.Time)
	case WebhookSuspended:
		t := e.Time
		w.Suspended, w.SuspendedAt, w.Holding = true, &t, true
	case WebhookReleased:
		w.Holding = false
	case WebhookUnsuspended:
		w.Suspended, w.SuspendedAt = false, nil
	case WebhookDeleted:
		w.Deleted = true
	default:
		return fmt.Errorf("unknown webhook event type %q", e.Type)
	}
	w.UpdatedAt = e.Time
	w.Version = seq
	return nil
}

func rotateSecret(e *Endpoint, secret string, at time.Time) {
	if secret == e.Secret {
		return
	}
	until := at.Add(SecretGrace)
	e.PreviousSecret, e.PreviousSecretUntil = e.Secret, &until
	e.Secret = secret
}
