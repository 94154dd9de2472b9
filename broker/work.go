package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Msg is a message a durable consumer handed over. It is settled once: Ack, Nak, NakWithDelay or Term;
// InProgress tells the server it is still being worked on.
type Msg interface {
	Subject() string
	Data() []byte
	Headers() nats.Header
	Metadata() (*jetstream.MsgMetadata, error)
	Ack() error
	Nak() error
	NakWithDelay(delay time.Duration) error
	Term() error
	InProgress() error
}

// RawMsg is a message read from a stream by sequence.
type RawMsg struct {
	Seq    uint64
	Header nats.Header
	Data   []byte
}

// Publish appends msg to its subject's stream. msgID makes the write idempotent: the same id within the
// stream's duplicate window is stored once.
func (b *Broker) Publish(ctx context.Context, msg *nats.Msg, msgID string) error {
	if _, err := b.JS.PublishMsg(ctx, msg, jetstream.WithMsgID(msgID)); err != nil {
		return fmt.Errorf("publish %s: %w", msg.Subject, err)
	}
	return nil
}

// SetSchedule makes msg a schedule that lands on target at at. The time keeps its nanoseconds: a
// whole-second time would fire up to a second early.
func SetSchedule(msg *nats.Msg, at time.Time, target string) {
	if msg.Header == nil {
		msg.Header = nats.Header{}
	}
	msg.Header.Set("Nats-Schedule", "@at "+at.UTC().Format(time.RFC3339Nano))
	msg.Header.Set("Nats-Schedule-Target", target)
}

// ConsumerConfig describes a durable consumer that every instance shares.
type ConsumerConfig struct {
	// Kind is the stream's kind (KindEvents, KindDeliveries, ...).
	Kind string
	// Durable names the consumer.
	Durable     string
	Description string
	// Filters restrict the subjects it delivers; none means all of the stream's.
	Filters []string
	// AckWait is how long a message handed over waits for news before it goes to another instance.
	AckWait time.Duration
	// MaxAckPending bounds the messages handed over and not yet settled, across instances.
	MaxAckPending int
}

// Consumer is a durable consumer.
type Consumer struct {
	c   jetstream.Consumer
	log *slog.Logger
}

// Consumer creates the durable consumer cfg describes, or updates it to cfg.
func (b *Broker) Consumer(ctx context.Context, cfg ConsumerConfig) (*Consumer, error) {
	stream, err := b.Stream(ctx, cfg.Kind)
	if err != nil {
		return nil, err
	}
	c, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:        cfg.Durable,
		Description:    cfg.Description,
		FilterSubjects: cfg.Filters,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        cfg.AckWait,
		MaxAckPending:  cfg.MaxAckPending,
		MaxDeliver:     -1,
	})
	if err != nil {
		return nil, fmt.Errorf("consumer %s: %w", cfg.Durable, err)
	}
	return &Consumer{c: c, log: b.log}, nil
}

// Consumption is a running Consume.
type Consumption struct {
	cc jetstream.ConsumeContext
}

// Consume hands handle what the consumer delivers, pulling up to max messages at a time, until Drain or Stop.
// Pulls are short: one the server leaves unserved while the consumer's window is full is replaced within
// seconds.
func (c *Consumer) Consume(max int, handle func(Msg)) (*Consumption, error) {
	cc, err := c.c.Consume(func(m jetstream.Msg) { handle(m) }, jetstream.PullMaxMessages(max),
		jetstream.PullExpiry(2*time.Second),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) { c.log.Debug("consumer", "err", err) }))
	if err != nil {
		return nil, fmt.Errorf("consume: %w", err)
	}
	return &Consumption{cc: cc}, nil
}

// Stop stops pulling; messages already pulled but not handed over wait out their ack wait.
func (c *Consumption) Stop() { c.cc.Stop() }

// Drain stops consumptions without dropping what was already pulled: it is handed to the handler (which,
// while stopping, hands each message back at once), where Stop would leave it to wait out the ack wait.
func Drain(cs ...*Consumption) {
	for _, c := range cs {
		c.cc.Drain()
	}
	for _, c := range cs {
		select {
		case <-c.cc.Closed():
		case <-time.After(5 * time.Second):
		}
	}
}

// AckFloor returns the stream sequence up to which the durable consumer of kind has had every message
// acked.
func (b *Broker) AckFloor(ctx context.Context, kind, durable string) (uint64, error) {
	cons, err := b.JS.Consumer(ctx, b.Subjects.StreamName(kind), durable)
	if err != nil {
		return 0, fmt.Errorf("consumer %s: %w", durable, err)
	}
	return cons.CachedInfo().AckFloor.Stream, nil
}

// EachOnSubject hands f the messages of the stream of kind on subject (wildcards allowed), in stream order,
// until f returns false. They are read one at a time by direct get: a work-queue stream admits no second
// consumer.
func (b *Broker) EachOnSubject(ctx context.Context, kind, subject string, f func(RawMsg) bool) error {
	return b.EachOnSubjectFrom(ctx, kind, subject, 1, f)
}

// EachOnSubjectFrom is EachOnSubject from the stream sequence from on.
func (b *Broker) EachOnSubjectFrom(ctx context.Context, kind, subject string, from uint64, f func(RawMsg) bool) error {
	stream, err := b.handle(ctx, kind)
	if err != nil {
		return err
	}
	for next := max(from, 1); ; {
		raw, err := stream.GetMsg(ctx, next, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", subject, err)
		}
		if !f(RawMsg{Seq: raw.Sequence, Header: raw.Header, Data: raw.Data}) {
			return nil
		}
		next = raw.Sequence + 1
	}
}

// GetMsg returns the message at seq of the stream of kind.
func (b *Broker) GetMsg(ctx context.Context, kind string, seq uint64) (RawMsg, error) {
	stream, err := b.handle(ctx, kind)
	if err != nil {
		return RawMsg{}, err
	}
	raw, err := stream.GetMsg(ctx, seq)
	if err != nil {
		return RawMsg{}, fmt.Errorf("read %s message %d: %w", kind, seq, err)
	}
	return RawMsg{Seq: raw.Sequence, Header: raw.Header, Data: raw.Data}, nil
}

// handle returns a stream handle for reads, deletes and purges, looked up once per kind: its cached state
// is never read.
func (b *Broker) handle(ctx context.Context, kind string) (jetstream.Stream, error) {
	if s, ok := b.handles.Load(kind); ok {
		return s.(jetstream.Stream), nil
	}
	s, err := b.Stream(ctx, kind)
	if err != nil {
		return nil, err
	}
	b.handles.Store(kind, s)
	return s, nil
}

// DeleteMsg removes the message at seq from the stream of kind; one already gone is no error.
func (b *Broker) DeleteMsg(ctx context.Context, kind string, seq uint64) error {
	stream, err := b.handle(ctx, kind)
	if err != nil {
		return err
	}
	if err := stream.DeleteMsg(ctx, seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return fmt.Errorf("delete message %d: %w", seq, err)
	}
	return nil
}

// PurgeSubject removes every message on subject from the stream of kind.
func (b *Broker) PurgeSubject(ctx context.Context, kind, subject string) error {
	stream, err := b.handle(ctx, kind)
	if err != nil {
		return err
	}
	if err := stream.Purge(ctx, jetstream.WithPurgeSubject(subject)); err != nil {
		return fmt.Errorf("purge %s: %w", subject, err)
	}
	return nil
}

// SubjectCounts returns the subjects of the stream of kind that match filter, with their message counts.
func (b *Broker) SubjectCounts(ctx context.Context, kind, filter string) (map[string]uint64, error) {
	stream, err := b.handle(ctx, kind)
	if err != nil {
		return nil, err
	}
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		return nil, fmt.Errorf("stream %s info: %w", kind, err)
	}
	return info.State.Subjects, nil
}

// Lease is a key of the leases bucket held by one owner; it expires unless renewed.
type Lease struct {
	kv  jetstream.KeyValue
	key string
	rev uint64
}

// LeaseTTL is how long a lease outlives its holder's last renewal: the leases bucket's, which the last
// instance to start set, whatever this one was configured with.
func (b *Broker) LeaseTTL(ctx context.Context) (time.Duration, error) {
	kv, err := b.leases(ctx)
	if err != nil {
		return 0, err
	}
	status, err := kv.Status(ctx)
	if err != nil {
		return 0, fmt.Errorf("leases bucket status: %w", err)
	}
	return status.TTL(), nil
}

// leases returns the leases bucket, looked up once.
func (b *Broker) leases(ctx context.Context) (jetstream.KeyValue, error) {
	if kv, ok := b.handles.Load(leasesHandle); ok {
		return kv.(jetstream.KeyValue), nil
	}
	kv, err := b.JS.KeyValue(ctx, b.Subjects.LeasesBucket())
	if err != nil {
		return nil, fmt.Errorf("leases bucket: %w", err)
	}
	b.handles.Store(leasesHandle, kv)
	return kv, nil
}

// leasesHandle is the key of the leases bucket among the broker's handles (the others are stream kinds).
const leasesHandle = "leases bucket"

// TakeLease takes key in the leases bucket for owner. ok is false when another owner holds it.
func (b *Broker) TakeLease(ctx context.Context, key, owner string) (_ *Lease, ok bool, _ error) {
	kv, err := b.leases(ctx)
	if err != nil {
		return nil, false, err
	}
	rev, err := kv.Create(ctx, key, []byte(owner))
	if errors.Is(err, jetstream.ErrKeyExists) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("take lease %s: %w", key, err)
	}
	return &Lease{kv: kv, key: key, rev: rev}, true, nil
}

// Renew extends the lease for owner.
func (l *Lease) Renew(ctx context.Context, owner string) error {
	rev, err := l.kv.Update(ctx, l.key, []byte(owner), l.rev)
	if err != nil {
		return fmt.Errorf("renew lease %s: %w", l.key, err)
	}
	l.rev = rev
	return nil
}

// Release gives the lease up, unless another owner took it meanwhile.
func (l *Lease) Release(ctx context.Context) error {
	if err := l.kv.Delete(ctx, l.key, jetstream.LastRevision(l.rev)); err != nil {
		return fmt.Errorf("release lease %s: %w", l.key, err)
	}
	return nil
}

// ConsumerExists reports whether the durable consumer of kind exists. Any answer but "not found" (a timeout,
// NATS away) is an error: it says nothing of the consumer.
func (b *Broker) ConsumerExists(ctx context.Context, kind, durable string) (bool, error) {
	_, err := b.JS.Consumer(ctx, b.Subjects.StreamName(kind), durable)
	switch {
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("consumer %s: %w", durable, err)
	}
	return true, nil
}
