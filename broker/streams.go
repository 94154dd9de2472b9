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

// Delivery is the subject of delivery tasks for one webhook: <prefix>.deliveries.<tenant>.<webhook>.
func (s Subjects) Delivery(tenant, webhook string) string {
	return s.Prefix + ".deliveries." + tenant + "." + webhook
}

// Attempts is the subject of one webhook's delivery records: <prefix>.attempts.<tenant>.<webhook>.
func (s Subjects) Attempts(tenant, webhook string) string {
	return s.Prefix + ".attempts." + tenant + "." + webhook
}

// RetrySchedule is the subject of the schedule of one pending retry, identified by its attempt locator: a
// schedule's subject is its identity, so each pending try has its own.
func (s Subjects) RetrySchedule(tenant, webhook, attempt string) string {
	return s.Prefix + ".retries.sched." + tenant + "." + webhook + "." + attempt
}

// RetryDue is where a retry's schedule puts the task when it is due.
func (s Subjects) RetryDue(tenant, webhook string) string {
	return s.Prefix + ".retries.due." + tenant + "." + webhook
}

// RetryDueAll matches every due retry.
func (s Subjects) RetryDueAll() string { return s.Prefix + ".retries.due.>" }

// RetryWait is where a task due far ahead waits, with the others of its bucket (a span of due times), until the
// bucket's tick promotes it to a schedule of its own: <prefix>.retries.wait.<bucket>.<tenant>.<webhook>. A
// million retries a day ahead are then a million plain messages, not a million schedules the server keeps in
// memory.
func (s Subjects) RetryWait(bucket, tenant, webhook string) string {
	return s.Prefix + ".retries.wait." + bucket + "." + tenant + "." + webhook
}

// RetryTick is the schedule subject of one bucket's promotion.
func (s Subjects) RetryTick(bucket string) string { return s.Prefix + ".retries.tick." + bucket }

// RetryPromote is where a bucket's tick lands when its tasks are to be promoted.
func (s Subjects) RetryPromote(bucket string) string { return s.Prefix + ".retries.promote." + bucket }

// RetryPromoteAll matches every bucket's promotion.
func (s Subjects) RetryPromoteAll() string { return s.Prefix + ".retries.promote.*" }

// Held is the subject of the events held for a suspended webhook, in arrival order.
func (s Subjects) Held(tenant, webhook string) string {
	return s.Prefix + ".held." + tenant + "." + webhook
}

// HeldAll matches every held event.
func (s Subjects) HeldAll() string { return s.Prefix + ".held.>" }

// Diverted is the subject of one webhook's diverted-event records: <prefix>.diverted.<tenant>.<webhook>.
func (s Subjects) Diverted(tenant, webhook string) string {
	return s.Prefix + ".diverted." + tenant + "." + webhook
}

// Job is the subject of a delivery job (recover, replay) for one webhook.
func (s Subjects) Job(tenant, webhook string) string {
	return s.Prefix + ".jobs." + tenant + "." + webhook
}

// StreamName returns the stream name for kind ("WEBHOOKS", "TOKENS", …) under this prefix.
func (s Subjects) StreamName(kind string) string {
	return strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(s.Prefix)) + "_" + kind
}

// Stream kinds.
const (
	KindWebhooks   = "WEBHOOKS"
	KindTokens     = "TOKENS"
	KindEvents     = "EVENTS"
	KindDeliveries = "DELIVERIES"
	KindAttempts   = "ATTEMPTS"
	KindRetries    = "RETRIES"
	KindHeld       = "HELD"
	KindJobs       = "JOBS"
	KindDiverted   = "DIVERTED"
)

// Kinds returns every stream kind, in the order EnsureStreams creates them.
func Kinds() []string {
	return []string{KindWebhooks, KindTokens, KindEvents, KindDeliveries, KindRetries, KindHeld, KindDiverted, KindJobs, KindAttempts}
}

// StreamOptions are the settings that shape the streams.
type StreamOptions struct {
	Replicas int
	// DuplicateWindow is how long a Nats-Msg-Id (or Idempotency-Key) dedupes what comes from outside: events,
	// webhook and token changes.
	DuplicateWindow time.Duration
	// TaskWindow is how long the engine's own message ids dedupe in the streams only the engine writes
	// (deliveries, retries, held, diverted, jobs, attempts): as long as a task's redelivery may take to write
	// again what it wrote. It does not follow DuplicateWindow, which users lengthen for idempotency keys:
	// the server keeps every id of a window in memory, and these streams take a write or more per delivery.
	TaskWindow time.Duration
	// RetainEvents bounds the events stream by age (0 keeps everything).
	RetainEvents time.Duration
	// RetainAttempts bounds the attempts stream by age (0 keeps everything).
	RetainAttempts time.Duration
	// RetainEventsBytes and RetainAttemptsBytes cap those streams' sizes (0: no cap); the oldest go first.
	RetainEventsBytes, RetainAttemptsBytes int64
	// LeaseTTL is how long a lease outlives its holder's last renewal: how long the work of an instance that
	// died (a release of held events, a FIFO webhook's deliveries) waits before another instance takes it
	// (0: DefaultLeaseTTL).
	LeaseTTL time.Duration
}

// leaseTTL is o.LeaseTTL, or the default.
func (o StreamOptions) leaseTTL() time.Duration {
	if o.LeaseTTL <= 0 {
		return DefaultLeaseTTL
	}
	return o.LeaseTTL
}

// streamConfigs are the definitions of every stream. The webhooks and tokens streams are never trimmed:
// they are the source of current state.
func (s Subjects) streamConfigs(o StreamOptions) []jetstream.StreamConfig {
	replicas := max(o.Replicas, 1)
	window, task := o.DuplicateWindow, o.TaskWindow
	if window <= 0 {
		window = 2 * time.Minute
	}
	if task <= 0 {
		task = 2 * time.Minute
	}
	attemptsTask := task
	if o.RetainAttempts > 0 {
		// JetStream refuses a window longer than the stream's age limit: an id cannot outlive its message.
		attemptsTask = min(task, o.RetainAttempts)
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
			MaxBytes:    bytesLimit(o.RetainEventsBytes),
			AllowDirect: true,
		},
		{
			Name:        s.StreamName(KindDeliveries),
			Description: "hookstream delivery tasks, one per (event, webhook) try; removed once done",
			Subjects:    []string{s.Prefix + ".deliveries.*.*"},
			Storage:     jetstream.FileStorage,
			Replicas:    replicas,
			Duplicates:  task,
			Retention:   jetstream.WorkQueuePolicy,
		},
		{
			Name:        s.StreamName(KindRetries),
			Description: "hookstream scheduled retries: schedules on .sched., due tasks on .due., tasks due far ahead on .wait. until their bucket's .tick. lands on .promote.",
			Subjects: []string{s.Prefix + ".retries.sched.*.*.*", s.Prefix + ".retries.due.*.*", s.Prefix + ".retries.wait.*.*.*",
				s.Prefix + ".retries.tick.*", s.Prefix + ".retries.promote.*"},
			Storage:    jetstream.FileStorage,
			Replicas:   replicas,
			Duplicates: task,
			// Kept apart from the deliveries stream: a million far-future schedules in the stream that
			// carries fresh work would slow every fresh delivery down.
			AllowMsgSchedules: true,
			Retention:         jetstream.WorkQueuePolicy,
		},
		{
			Name:        s.StreamName(KindHeld),
			Description: "hookstream events held for suspended webhooks (released in order on unsuspend) and queued for FIFO webhooks",
			Subjects:    []string{s.Prefix + ".held.*.*"},
			Storage:     jetstream.FileStorage,
			Replicas:    replicas,
			Duplicates:  task,
			AllowDirect: true,
		},
		{
			// Its own stream, never trimmed by age: a diverted record waits for a human, however long the
			// attempts are kept.
			Name:        s.StreamName(KindDiverted),
			Description: "hookstream diverted events: parked after a final failure, resolved, deleted",
			Subjects:    []string{s.Prefix + ".diverted.*.*"},
			Storage:     jetstream.FileStorage,
			Replicas:    replicas,
			Duplicates:  task,
		},
		{
			Name:        s.StreamName(KindJobs),
			Description: "hookstream delivery jobs (recover, replay_missing): durable until done",
			Subjects:    []string{s.Prefix + ".jobs.*.*"},
			Storage:     jetstream.FileStorage,
			Replicas:    replicas,
			Duplicates:  task,
			Retention:   jetstream.WorkQueuePolicy,
		},
		{
			Name:        s.StreamName(KindAttempts),
			Description: "hookstream delivery records: attempts, pending retries, diverted events",
			Subjects:    []string{s.Prefix + ".attempts.*.*"},
			Storage:     jetstream.FileStorage,
			Replicas:    replicas,
			Duplicates:  attemptsTask,
			MaxAge:      o.RetainAttempts,
			MaxBytes:    bytesLimit(o.RetainAttemptsBytes),
		},
	}
}

// bytesLimit maps "no cap" (0) to JetStream's -1.
func bytesLimit(n int64) int64 {
	if n <= 0 {
		return -1
	}
	return n
}

// DefaultLeaseTTL is how long a lease outlives its holder's last renewal, unless configured.
const DefaultLeaseTTL = 30 * time.Second

// LeasesBucket names the key-value bucket of leases: short-lived exclusive claims (releasing one webhook's
// held events) that let several instances share work without a coordinator.
func (s Subjects) LeasesBucket() string { return s.StreamName("LEASES") }

// ensureTimeout bounds each request of EnsureStreams: a JetStream that leaves one unanswered that long has
// no leader to answer it (a cluster electing one), and the caller's next try is better than a longer wait.
const ensureTimeout = 2 * time.Second

// EnsureStreams creates every stream and the leases bucket, or updates them to the current definition. It is
// idempotent.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, subjects Subjects, o StreamOptions) error {
	for _, cfg := range subjects.streamConfigs(o) {
		reqCtx, cancel := context.WithTimeout(ctx, ensureTimeout)
		_, err := js.CreateOrUpdateStream(reqCtx, cfg)
		cancel()
		if err != nil {
			return fmt.Errorf("create or update stream %s: %w", cfg.Name, err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, ensureTimeout)
	defer cancel()
	_, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      subjects.LeasesBucket(),
		Description: "hookstream leases: which instance releases which webhook's held events; rate limits' next free slots",
		TTL:         o.leaseTTL(),
		Storage:     jetstream.FileStorage,
		Replicas:    max(o.Replicas, 1),
	})
	if err != nil {
		return fmt.Errorf("create or update leases bucket: %w", err)
	}
	return nil
}
