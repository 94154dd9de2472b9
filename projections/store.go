// Package projections materializes hookstream's read models from the JetStream streams into one bbolt file.
// Each view is fed by an ordered consumer on its stream and applies messages in batches, storing the stream
// sequence it has applied in the same transaction, so the file is always a consistent prefix of the log and
// can be deleted and rebuilt at any time.
package projections

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Msg is one stream message as a view sees it.
type Msg struct {
	Subject string
	Seq     uint64
	Time    time.Time
	Header  map[string][]string
	Data    []byte
}

// View is a read model fed from one stream. Apply is called inside a write transaction with the messages in
// stream order; it must be deterministic (same messages, same bytes) so that a rebuild gives the same views.
// A message it cannot understand is skipped with a log line, never retried forever.
type View interface {
	// Name names the view; its cursor is stored under it.
	Name() string
	// Stream is the kind of stream that feeds the view (broker.KindWebhooks, …).
	Stream() string
	// Buckets are the bbolt buckets the view owns; they are created at start and dropped on a reset.
	Buckets() []string
	// Apply applies one message.
	Apply(tx *bolt.Tx, m *Msg) error
}

// BatchView is a View that keeps state across the messages of one batch (to decode and encode each
// aggregate once per batch, not once per message) and writes it in Flush, at the end of the batch's
// transaction.
type BatchView interface {
	View
	Flush(tx *bolt.Tx) error
}

// PreparingView is a View that does the part of applying a message that needs no transaction (decoding it,
// encoding what it stores) in Prepare, before its batch's transaction begins: the views share bbolt's single
// writer, so one view prepares its next batch while another holds the writer. ApplyPrepared then applies the
// message with what Prepare returned; an error of Prepare is handled as Apply's would be, and Apply must stay
// the same as Prepare followed by ApplyPrepared.
type PreparingView interface {
	View
	Prepare(m *Msg) (any, error)
	ApplyPrepared(tx *bolt.Tx, m *Msg, prepared any) error
}

// LoadingView is a View that keeps an in-memory index of its state; Load fills it from the file at start,
// before any message is applied.
type LoadingView interface {
	View
	Load(tx *bolt.Tx) error
}

// LingeringView is a View whose writers do not wait on it closely (delivery records, events): its batches
// wait up to Linger for more messages, trading a few milliseconds of staleness for far fewer commits.
type LingeringView interface {
	View
	Linger() time.Duration
}

// VersionedView is a View whose stored layout changed after files were written with an earlier one. Layout
// returns the layout's version and the buckets earlier layouts used and this one does not: a file written with
// another version is rebuilt from the stream, and those buckets dropped. A View that is not versioned is at 0.
type VersionedView interface {
	View
	Layout() (version int, retired []string)
}

// Skip marks an error of Apply as concerning only that message (it cannot be decoded or applied): the view
// logs it and goes on. Any other error aborts the batch, leaving the cursor where it was.
func Skip(err error) error { return skipError{err} }

type skipError struct{ err error }

func (e skipError) Error() string { return e.err.Error() }
func (e skipError) Unwrap() error { return e.err }

// AppendFill is how full bbolt fills a page of a view's buckets before it splits it. Views' keys arrive nearly
// in order within their prefix (a tenant's sequences, a webhook's time-ordered locators), so a page is
// rarely written below its end once split: splitting full, not at bbolt's default half, halves the pages
// each commit writes, the file, and what its mmap keeps resident.
const AppendFill = 0.95

// metaBucket holds each view's cursor: the applied sequence, the creation time of the stream it came from, and the
// layout it was written with.
var metaBucket = []byte("meta")

// Options configure a Store.
type Options struct {
	// Path is the bbolt file.
	Path string
	// StreamName maps a stream kind to its stream name.
	StreamName func(kind string) string
	// NoSync skips the fsync of each batch (rebuild uses it and syncs once at the end).
	NoSync bool
	// MaxBatch bounds the messages applied in one transaction.
	MaxBatch int
	// MaxBatchBytes also bounds a transaction by the bytes of its messages' data (0: 1 MiB): a delivery
	// record carries many attempts, so a batch of MaxBatch of them is a transaction so large that its leaf
	// nodes grow unsplit, it holds bbolt's single writer long enough to stall every other view, and a view
	// catching up holds all of its decoded records at once. Transactions this small let the views take the
	// writer in turn often enough for each to prepare its next batch while another writes.
	MaxBatchBytes int
	// ReleaseInterval, when positive, is how often the mapped pages of the views file are given back after a
	// batch: bbolt reads the file through a shared read-only mapping, and every page a batch wrote and read
	// back would otherwise stay in the process's resident set until the kernel needs the memory.
	ReleaseInterval time.Duration
}

// Store is the bbolt file and the views it feeds.
type Store struct {
	db   *bolt.DB
	js   jetstream.JetStream
	opts Options
	log  *slog.Logger
	wg   sync.WaitGroup

	mu      sync.Mutex // guards runners: views start while metrics and readiness read them
	runners []*runner

	released atomic.Int64 // when the mapped pages were last given back (unix nanoseconds)
}

// started returns the views' runners started so far.
func (s *Store) started() []*runner {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runners
}

// Open opens (or creates) the bbolt file. A file that cannot be opened as bbolt is moved aside and a new one
// created: every view will be rebuilt from the streams.
func Open(path string, js jetstream.JetStream, opts Options, log *slog.Logger) (*Store, error) {
	opts.Path = path
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 2048
	}
	if opts.MaxBatchBytes <= 0 {
		opts.MaxBatchBytes = 1 << 20
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second, NoSync: opts.NoSync})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("open %s: another hookstream process holds it: %w", path, err)
		}
		aside := fmt.Sprintf("%s.corrupt-%d", path, time.Now().Unix())
		log.Warn("views file unreadable; moving it aside and rebuilding from the streams", "path", path, "aside", aside, "err", err)
		if rerr := os.Rename(path, aside); rerr != nil {
			return nil, fmt.Errorf("open %s: %w (and moving it aside failed: %v)", path, err, rerr)
		}
		if db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second, NoSync: opts.NoSync}); err != nil {
			return nil, fmt.Errorf("create %s: %w", path, err)
		}
	}
	return &Store{db: db, js: js, opts: opts, log: log}, nil
}

// DB gives views read access to the file.
func (s *Store) DB() *bolt.DB { return s.db }

// Start resets any view whose cursor does not belong to its stream (the stream was deleted or replaced), then
// starts feeding every view. It returns once every consumer is subscribed; use WaitCaughtUp to wait for the
// views to reach the streams' ends.
// A Start that fails stops the views it had started, so it can be called again.
func (s *Store) Start(ctx context.Context, views ...View) error {
	started := make([]*runner, 0, len(views))
	for _, v := range views {
		r := &runner{store: s, view: v, changed: make(chan struct{}), in: make(chan jetstream.Msg, 4*s.opts.MaxBatch)}
		if err := r.start(ctx); err != nil {
			for _, r := range started {
				r.stop()
			}
			return fmt.Errorf("start view %s: %w", v.Name(), err)
		}
		started = append(started, r)
	}
	s.mu.Lock()
	s.runners = append(s.runners, started...)
	s.mu.Unlock()
	return nil
}

// WaitCaughtUp waits until every view has applied its stream up to the sequence that was last when called.
func (s *Store) WaitCaughtUp(ctx context.Context) error {
	for _, r := range s.started() {
		info, err := r.stream.Info(ctx)
		if err != nil {
			return fmt.Errorf("stream info for view %s: %w", r.view.Name(), err)
		}
		if err := r.waitFor(ctx, info.State.LastSeq); err != nil {
			return fmt.Errorf("catch up view %s to %d: %w", r.view.Name(), info.State.LastSeq, err)
		}
	}
	return nil
}

// WaitFor waits until the view named name has applied seq: how a write reads its own result.
func (s *Store) WaitFor(ctx context.Context, name string, seq uint64) error {
	for _, r := range s.started() {
		if r.view.Name() == name {
			return r.waitFor(ctx, seq)
		}
	}
	return fmt.Errorf("no view %q", name)
}

// Lag reports, for each view, how many stream messages it has not applied yet, as of its last message.
func (s *Store) Lag() map[string]uint64 {
	runners := s.started()
	lag := make(map[string]uint64, len(runners))
	for _, r := range runners {
		r.mu.Lock()
		lag[r.view.Name()] = r.pending
		r.mu.Unlock()
	}
	return lag
}

// Applied reports the sequence each view has applied.
func (s *Store) Applied() map[string]uint64 {
	runners := s.started()
	out := make(map[string]uint64, len(runners))
	for _, r := range runners {
		r.mu.Lock()
		out[r.view.Name()] = r.applied
		r.mu.Unlock()
	}
	return out
}

// Close stops the consumers, lets the batches in progress finish, and closes the file (which syncs it).
func (s *Store) Close() error {
	for _, r := range s.started() {
		r.stop()
	}
	s.wg.Wait()
	if s.opts.NoSync {
		if err := s.db.Sync(); err != nil {
			return fmt.Errorf("sync %s: %w", s.opts.Path, err)
		}
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close %s: %w", s.opts.Path, err)
	}
	return nil
}

// cursor is a view's position in its stream, and the layout it was written with.
type cursor struct {
	applied       uint64
	streamCreated int64 // unix nanoseconds
	layout        int
}

// readCursor reads a view's cursor: 16 bytes (applied, stream creation), then the layout's version when it is
// not 0 (files from before layouts had versions have 16 bytes).
func readCursor(tx *bolt.Tx, name string) cursor {
	b := tx.Bucket(metaBucket)
	if b == nil {
		return cursor{}
	}
	v := b.Get([]byte("cursor/" + name))
	if len(v) != 16 && len(v) != 24 {
		return cursor{}
	}
	c := cursor{applied: binary.BigEndian.Uint64(v[:8]), streamCreated: int64(binary.BigEndian.Uint64(v[8:16]))}
	if len(v) == 24 {
		c.layout = int(binary.BigEndian.Uint64(v[16:]))
	}
	return c
}

func writeCursor(tx *bolt.Tx, name string, c cursor) error {
	b, err := tx.CreateBucketIfNotExists(metaBucket)
	if err != nil {
		return err
	}
	v := make([]byte, 16, 24)
	binary.BigEndian.PutUint64(v[:8], c.applied)
	binary.BigEndian.PutUint64(v[8:], uint64(c.streamCreated))
	if c.layout != 0 {
		v = binary.BigEndian.AppendUint64(v, uint64(c.layout))
	}
	return b.Put([]byte("cursor/"+name), v)
}

// runner feeds one view.
type runner struct {
	store  *Store
	view   View
	stream jetstream.Stream
	in     chan jetstream.Msg
	cc     jetstream.ConsumeContext
	done   chan struct{}

	mu      sync.Mutex
	applied uint64
	pending uint64
	cursor  cursor
	changed chan struct{} // closed and replaced after every batch
}

func (r *runner) start(ctx context.Context) error {
	s := r.store
	name := r.view.Name()
	stream, err := s.js.Stream(ctx, s.opts.StreamName(r.view.Stream()))
	if err != nil {
		return fmt.Errorf("stream %s: %w", r.view.Stream(), err)
	}
	r.stream = stream
	info, err := stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("stream info: %w", err)
	}
	created := info.Created.UnixNano()
	var c cursor
	if err := s.db.View(func(tx *bolt.Tx) error { c = readCursor(tx, name); return nil }); err != nil {
		return err
	}
	layout, retired := 0, []string(nil)
	if vv, ok := r.view.(VersionedView); ok {
		layout, retired = vv.Layout()
	}
	switch {
	case c.applied > 0 && (c.streamCreated != created || c.applied > info.State.LastSeq):
		s.log.Warn("view is ahead of or foreign to its stream; rebuilding it", "view", name,
			"applied", c.applied, "stream_last", info.State.LastSeq)
		c = cursor{}
	case c.applied > 0 && c.layout != layout:
		s.log.Info("view was written with another layout; rebuilding it", "view", name, "layout", c.layout, "now", layout)
		c = cursor{}
	}
	c.streamCreated, c.layout = created, layout
	err = s.db.Update(func(tx *bolt.Tx) error {
		if c.applied == 0 {
			for _, b := range append(r.view.Buckets(), retired...) {
				if err := tx.DeleteBucket([]byte(b)); err != nil && !errors.Is(err, berrors.ErrBucketNotFound) {
					return err
				}
			}
		}
		for _, b := range r.view.Buckets() {
			if _, err := tx.CreateBucketIfNotExists([]byte(b)); err != nil {
				return err
			}
		}
		return writeCursor(tx, name, c)
	})
	if err != nil {
		return fmt.Errorf("prepare buckets: %w", err)
	}
	if lv, ok := r.view.(LoadingView); ok {
		if err := s.db.View(lv.Load); err != nil {
			return fmt.Errorf("load: %w", err)
		}
	}
	r.cursor, r.applied = c, c.applied
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy}
	if c.applied > 0 {
		cfg = jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: c.applied + 1}
	}
	cons, err := stream.OrderedConsumer(ctx, cfg)
	if err != nil {
		return fmt.Errorf("ordered consumer: %w", err)
	}
	r.done = make(chan struct{})
	s.wg.Add(1)
	go r.loop()
	r.cc, err = cons.Consume(func(m jetstream.Msg) {
		select {
		case r.in <- m:
		case <-r.done:
		}
	}, jetstream.PullMaxMessages(s.opts.MaxBatch), jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		s.log.Debug("projection consumer", "view", name, "err", err)
	}))
	if err != nil {
		r.stop()
		return fmt.Errorf("consume: %w", err)
	}
	return nil
}

func (r *runner) stop() {
	if r.cc != nil {
		r.cc.Stop()
	}
	select {
	case <-r.done:
	default:
		close(r.done)
	}
}

// loop applies what arrives in batches: it blocks for one message, then takes whatever else is already
// waiting, up to MaxBatch (and MaxBatchBytes), into the same transaction.
func (r *runner) loop() {
	defer r.store.wg.Done()
	batch := make([]jetstream.Msg, 0, r.store.opts.MaxBatch)
	maxBytes := r.store.opts.MaxBatchBytes
	var linger time.Duration
	if lv, ok := r.view.(LingeringView); ok {
		linger = lv.Linger()
	}
	for {
		select {
		case <-r.done:
			return
		case m := <-r.in:
			batch = append(batch[:0], m)
		}
		size := len(batch[0].Data())
		var deadline <-chan time.Time
		if linger > 0 {
			deadline = time.After(linger)
		}
	fill:
		for len(batch) < cap(batch) && size < maxBytes {
			select {
			case m := <-r.in:
				batch, size = append(batch, m), size+len(m.Data())
				continue
			default:
			}
			if deadline == nil {
				break
			}
			select {
			case m := <-r.in:
				batch, size = append(batch, m), size+len(m.Data())
			case <-deadline:
				break fill
			case <-r.done:
				break fill
			}
		}
		if err := r.apply(batch); err != nil {
			// A failed bbolt write leaves the cursor where it was: the view stays a consistent prefix and
			// stops advancing, which readiness and the lag metric report.
			r.store.log.Error("apply batch to view; view stopped", "view", r.view.Name(), "err", err)
			<-r.done
			return
		}
	}
}

func (r *runner) apply(batch []jetstream.Msg) error {
	name := r.view.Name()
	c := r.cursor
	var pending uint64
	// Everything but the bbolt writes happens before the transaction, while another view may hold the writer.
	msgs := make([]preparedMsg, 0, len(batch))
	for _, jm := range batch {
		md, err := jm.Metadata()
		if err != nil {
			return fmt.Errorf("message metadata: %w", err)
		}
		if md.Sequence.Stream <= c.applied {
			continue // redelivered by the ordered consumer after a reset
		}
		c.applied, pending = md.Sequence.Stream, md.NumPending
		m := Msg{Subject: jm.Subject(), Seq: md.Sequence.Stream, Time: md.Timestamp, Header: jm.Headers(), Data: jm.Data()}
		msgs = append(msgs, preparedMsg{Msg: m})
	}
	pv, preparing := r.view.(PreparingView)
	if preparing {
		for i := range msgs {
			msgs[i].prepared, msgs[i].err = pv.Prepare(&msgs[i].Msg)
		}
	}
	err := r.store.db.Update(func(tx *bolt.Tx) error {
		for _, b := range r.view.Buckets() {
			tx.Bucket([]byte(b)).FillPercent = AppendFill
		}
		for i := range msgs {
			m := &msgs[i].Msg
			err := msgs[i].err
			switch {
			case err != nil:
			case preparing:
				err = pv.ApplyPrepared(tx, m, msgs[i].prepared)
			default:
				err = r.view.Apply(tx, m)
			}
			if err != nil {
				if !errors.As(err, &skipError{}) {
					return fmt.Errorf("apply %s seq %d: %w", m.Subject, m.Seq, err)
				}
				r.store.log.Warn("view skipped a message it cannot apply", "view", name, "seq", m.Seq, "subject", m.Subject, "err", err)
			}
		}
		if bv, ok := r.view.(BatchView); ok {
			if err := bv.Flush(tx); err != nil {
				return fmt.Errorf("flush: %w", err)
			}
		}
		return writeCursor(tx, name, c)
	})
	if err != nil {
		return err
	}
	r.cursor = c
	r.mu.Lock()
	r.applied, r.pending = c.applied, pending
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
	r.store.maybeRelease()
	return nil
}

// preparedMsg is a message of a batch and what its view's Prepare made of it.
type preparedMsg struct {
	Msg
	prepared any
	err      error
}

// maybeRelease gives back the views file's mapped pages when ReleaseInterval has passed since the last time.
func (s *Store) maybeRelease() {
	every := s.opts.ReleaseInterval
	if every <= 0 {
		return
	}
	now := time.Now().UnixNano()
	last := s.released.Load()
	if now-last < int64(every) || !s.released.CompareAndSwap(last, now) {
		return
	}
	// Inside a read transaction bbolt cannot remap the file, so the mapping stays where Info says.
	err := s.db.View(func(tx *bolt.Tx) error { return dropResident(s.db.Info().Data, tx.Size()) })
	if err != nil {
		s.log.Debug("give back the views file's mapped pages", "err", err)
	}
}

func (r *runner) waitFor(ctx context.Context, seq uint64) error {
	for {
		r.mu.Lock()
		applied, changed := r.applied, r.changed
		r.mu.Unlock()
		if applied >= seq {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("view %s at %d waiting for %d: %w", r.view.Name(), applied, seq, ctx.Err())
		case <-r.done:
			return fmt.Errorf("view %s stopped at %d", r.view.Name(), applied)
		}
	}
}
