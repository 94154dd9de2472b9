package broker

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Subjects names the subjects and streams under one prefix (default "hookstream"), so that several
// deployments can share a NATS cluster.
type Subjects struct {
	Prefix string
}

// DefaultPrefix is the subject prefix when none is configured.
const DefaultPrefix = "hookstream"

// Webhook is the subject of one webhook's change events: <prefix>.webhooks.<tenant>.<webhook>.
func (s Subjects) Webhook(tenant, webhook string) string {
	return s.Prefix + ".webhooks." + tenant + "." + webhook
}

// Token is the subject of one token's change events: <prefix>.tokens.<token>.
func (s Subjects) Token(locator string) string { return s.Prefix + ".tokens." + locator }

// Event is the subject producers publish an event to: <prefix>.events.<tenant>.<type>.
func (s Subjects) Event(tenant, eventType string) string {
	return s.Prefix + ".events." + tenant + "." + eventType
}

// ParseEvent splits an event subject into tenant and type.
func (s Subjects) ParseEvent(subject string) (tenant, eventType string, ok bool) {
	rest, ok := strings.CutPrefix(subject, s.Prefix+".events.")
	if !ok {
		return "", "", false
	}
	tenant, eventType, ok = strings.Cut(rest, ".")
	return tenant, eventType, ok && eventType != ""
}

// StreamName returns the stream name for kind ("WEBHOOKS", "TOKENS", …) under this prefix.
func (s Subjects) StreamName(kind string) string {
	return strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(s.Prefix)) + "_" + kind
}

// Stream kinds.
const (
	KindWebhooks = "WEBHOOKS"
	KindTokens   = "TOKENS"
	KindEvents   = "EVENTS"
)

// StreamOptions are the settings that shape the streams.
type StreamOptions struct {
	Replicas int
	// DuplicateWindow is how long a Nats-Msg-Id (or Idempotency-Key) dedupes an event.
	DuplicateWindow time.Duration
	// RetainEvents bounds the events stream by age (0 keeps everything).
	RetainEvents time.Duration
}

// streamConfigs are the definitions of every stream. The webhooks and tokens streams are never trimmed:
// they are the source of current state.
func (s Subjects) streamConfigs(o StreamOptions) []jetstream.StreamConfig {
	replicas := max(o.Replicas, 1)
	window := o.DuplicateWindow
	if window <= 0 {
		window = 2 * time.Minute
	}
	return []jetstream.StreamConfig{
		{
			Name:        s.StreamName(KindWebhooks),
			Description: "hookstream webhook change events, one subject per webhook",
			Subjects:    []string{s.Prefix + ".webhooks.*.*"},
			Storage:     jetstream.FileStorage,
			Replicas:    replicas,
			Duplicates:  window,
		},
		{
			Name:        s.StreamName(KindTokens),
			Description: "hookstream API token change events, one subject per token",
			Subjects:    []string{s.Prefix + ".tokens.*"},
			Storage:     jetstream.FileStorage,
			Replicas:    replicas,
			Duplicates:  window,
		},
		{
			Name:        s.StreamName(KindEvents),
			Description: "hookstream ingested events: <prefix>.events.<tenant>.<type>",
			Subjects:    []string{s.Prefix + ".events.*.>"},
			Storage:     jetstream.FileStorage,
			Replicas:    replicas,
			Duplicates:  window,
			MaxAge:      o.RetainEvents,
		},
	}
}

// EnsureStreams creates every stream, or updates it to the current definition. It is idempotent.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, subjects Subjects, o StreamOptions) error {
	for _, cfg := range subjects.streamConfigs(o) {
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("create or update stream %s: %w", cfg.Name, err)
		}
	}
	return nil
}
