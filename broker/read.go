package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrNoStream is returned for a stream that does not exist.
var ErrNoStream = errors.New("no such stream")

// Reader reads hookstream's streams for an outside reader such as an audit: in order from a position,
// through ephemeral ordered consumers it removes when done, and never writes.
type Reader struct {
	js jetstream.JetStream
	// Subjects names the streams read.
	Subjects Subjects
	streams  sync.Map // kind → jetstream.Stream, looked up once
}

// NewReader returns a Reader over the connection nc, for streams named under subjects' prefix.
func NewReader(nc *nats.Conn, subjects Subjects) (*Reader, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	if subjects.Prefix == "" {
		subjects.Prefix = DefaultPrefix
	}
	return &Reader{js: js, Subjects: subjects}, nil
}

// Reader returns a Reader over the broker's connection.
func (b *Broker) Reader() *Reader { return &Reader{js: b.JS, Subjects: b.Subjects} }

// LastSeq returns the sequence of the last message in the stream of kind; ErrNoStream when there is none.
func (r *Reader) LastSeq(ctx context.Context, kind string) (uint64, error) {
	s, err := r.js.Stream(ctx, r.Subjects.StreamName(kind))
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return 0, fmt.Errorf("stream %s: %w", r.Subjects.StreamName(kind), ErrNoStream)
	}
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", r.Subjects.StreamName(kind), err)
	}
	r.streams.Store(kind, s)
	return s.CachedInfo().State.LastSeq, nil
}

// stream returns a handle on the stream of kind, looked up once.
func (r *Reader) stream(ctx context.Context, kind string) (jetstream.Stream, error) {
	if s, ok := r.streams.Load(kind); ok {
		return s.(jetstream.Stream), nil
	}
	s, err := r.js.Stream(ctx, r.Subjects.StreamName(kind))
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", r.Subjects.StreamName(kind), err)
	}
	r.streams.Store(kind, s)
	return s, nil
}

// FirstOnSubject returns the first message of the stream of kind on subject, or nil when there is none.
func (r *Reader) FirstOnSubject(ctx context.Context, kind, subject string) (*RawMsg, error) {
	s, err := r.stream(ctx, kind)
	if err != nil {
		return nil, err
	}
	raw, err := s.GetMsg(ctx, 1, jetstream.WithGetMsgSubject(subject))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("first message on %s: %w", subject, err)
	}
	return &RawMsg{Seq: raw.Sequence, Header: raw.Header, Data: raw.Data}, nil
}

// ReadFrom is where a read starts: at Seq when not 0, else at Time when not zero, else at the beginning.
// Subject, when set, narrows the read on the server.
type ReadFrom struct {
	Subject string
	Seq     uint64
	Time    time.Time
}

// Stored is a message read from a stream.
type Stored struct {
	Subject string
	Seq     uint64
	Time    time.Time
	Header  nats.Header
	Data    []byte
	// Pending is how many messages the read had left after this one when it was handed over.
	Pending uint64
}

// Cursor is a read of one stream in order.
type Cursor struct {
	js      jetstream.JetStream
	cons    jetstream.Consumer
	msgs    jetstream.MessagesContext
	pending uint64
}

// Read starts reading the stream of kind at from. Close the cursor when done.
func (r *Reader) Read(ctx context.Context, kind string, from ReadFrom) (*Cursor, error) {
	cfg := jetstream.OrderedConsumerConfig{ReplayPolicy: jetstream.ReplayInstantPolicy}
	if from.Subject != "" {
		cfg.FilterSubjects = []string{from.Subject}
	}
	switch {
	case from.Seq > 0:
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, from.Seq
	case !from.Time.IsZero():
		t := from.Time
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &t
	default:
		cfg.DeliverPolicy = jetstream.DeliverAllPolicy
	}
	cons, err := r.js.OrderedConsumer(ctx, r.Subjects.StreamName(kind), cfg)
	if err != nil {
		return nil, fmt.Errorf("ordered consumer: %w", err)
	}
	c := &Cursor{js: r.js, cons: cons}
	if ci := cons.CachedInfo(); ci != nil {
		c.pending = ci.NumPending
	}
	if c.msgs, err = cons.Messages(jetstream.PullMaxMessages(512)); err != nil {
		c.Close()
		return nil, fmt.Errorf("consume: %w", err)
	}
	return c, nil
}

// Pending is how many messages the read had to go when it started.
func (c *Cursor) Pending() uint64 { return c.pending }

// Next returns the next message, waiting for one until ctx ends.
func (c *Cursor) Next(ctx context.Context) (*Stored, error) {
	msg, err := c.msgs.Next(jetstream.NextContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("next message: %w", err)
	}
	md, err := msg.Metadata()
	if err != nil {
		return nil, fmt.Errorf("message metadata: %w", err)
	}
	return &Stored{Subject: msg.Subject(), Seq: md.Sequence.Stream, Time: md.Timestamp, Header: msg.Headers(),
		Data: msg.Data(), Pending: md.NumPending}, nil
}

// Close stops the read and removes its consumer: an ephemeral consumer would go by itself after a while,
// but a reader leaves nothing behind.
func (c *Cursor) Close() {
	if c.msgs != nil {
		c.msgs.Stop()
	}
	if ci := c.cons.CachedInfo(); ci != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = c.js.DeleteConsumer(ctx, ci.Stream, ci.Name)
		cancel()
	}
}
