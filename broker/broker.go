package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Config says where NATS is: embedded (URL empty) or an external server or cluster.
type Config struct {
	// URL lists external servers, comma-separated; empty means embedded.
	URL string
	// CredsFile is a NATS credentials file for the external servers.
	CredsFile string
	// Embedded configures the embedded server when URL is empty.
	Embedded EmbeddedConfig
	// Streams shapes the streams.
	Streams StreamOptions
	// Prefix is the subject prefix.
	Prefix string
	// Name identifies this connection in the server's monitoring.
	Name string
}

// Broker is a ready connection to JetStream with hookstream's streams in place.
type Broker struct {
	Conn     *nats.Conn
	JS       jetstream.JetStream
	Subjects Subjects

	// ingest publishes events asynchronously, so that concurrent ingests share the connection's flushes; a
	// context of its own keeps its pending-ack bound and stall apart from every other publish.
	ingest jetstream.JetStream

	server  *server.Server
	closed  chan struct{}
	log     *slog.Logger
	streams StreamOptions

	mu     sync.Mutex
	events jetstream.Stream // kept for reads: looking a stream up costs a request with its full state
	// handles are stream handles for message reads, deletes and purges by kind, and the leases bucket, looked
	// up once each.
	handles sync.Map
}

// Connect connects to an external NATS server that hookstream's streams are already on, as a producer
// does: it neither starts a server nor touches the streams.
func Connect(ctx context.Context, cfg Config, log *slog.Logger) (*Broker, error) {
	if cfg.URL == "" {
		return nil, errors.New("a NATS URL is required")
	}
	return open(ctx, cfg, log, false, false)
}

// Open starts the embedded server or connects to the external one, then creates or updates the streams.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (*Broker, error) {
	return open(ctx, cfg, log, true, false)
}

// Dial starts the embedded server, or starts connecting to the external one and returns at once: the
// connection keeps trying in the background, and reconnects whenever it is lost. The streams are left to
// EnsureStreams. Only what no retry can mend fails here: a bad address, a busy port, a missing credentials
// file.
func Dial(ctx context.Context, cfg Config, log *slog.Logger) (*Broker, error) {
	return open(ctx, cfg, log, false, true)
}

// open connects; ensureStreams creates or updates the streams, and waitForServer keeps trying an external
// server that cannot be reached yet instead of failing.
func open(ctx context.Context, cfg Config, log *slog.Logger, ensureStreams, waitForServer bool) (*Broker, error) {
	b := &Broker{Subjects: Subjects{Prefix: cfg.Prefix}, closed: make(chan struct{}), log: log, streams: cfg.Streams}
	if b.Subjects.Prefix == "" {
		b.Subjects.Prefix = DefaultPrefix
	}
	name := cfg.Name
	if name == "" {
		name = "hookstream"
	}
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("nats reconnected", "server", c.ConnectedUrlRedacted()) }),
		nats.ClosedHandler(func(*nats.Conn) { close(b.closed) }),
	}
	var err error
	if cfg.URL == "" {
		if b.server, err = StartEmbedded(ctx, cfg.Embedded, log); err != nil {
			return nil, err
		}
		b.Conn, err = nats.Connect("", append(opts, nats.InProcessServer(b.server))...)
	} else {
		if cfg.CredsFile != "" {
			opts = append(opts, nats.UserCredentials(cfg.CredsFile))
		}
		servers := strings.Split(cfg.URL, ",")
		b.Conn, err = nats.Connect(strings.Join(servers, ","), append(opts, nats.RetryOnFailedConnect(waitForServer))...)
	}
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("connect to nats: %w", err)
	}
	if b.JS, err = jetstream.New(b.Conn); err != nil {
		b.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	b.ingest, err = jetstream.New(b.Conn, jetstream.WithPublishAsyncMaxPending(ingestMaxPending),
		jetstream.WithPublishAsyncTimeout(ingestAckTimeout))
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	if ensureStreams {
		if err := b.EnsureStreams(ctx); err != nil {
			b.Close()
			return nil, err
		}
	}
	return b, nil
}

// EnsureStreams creates or updates hookstream's streams as configured. An error that no retry can mend
// (refused credentials or permissions, a configuration the server rejects) is wrapped in a PermanentError.
func (b *Broker) EnsureStreams(ctx context.Context) error {
	err := EnsureStreams(ctx, b.JS, b.Subjects, b.streams)
	if err == nil {
		return nil
	}
	if last := b.Conn.LastError(); last != nil && isRefused(last) {
		err = fmt.Errorf("%w (last connection error: %w)", err, last)
	}
	if isRefused(err) {
		return &PermanentError{Err: err}
	}
	return err
}

// PermanentError reports a broker failure that retrying will not mend.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// jsReplicasNotSupported is the server's answer to replicas on a server that is not clustered.
const jsReplicasNotSupported = 10074

// isRefused reports an error the server will answer the same way every time.
func isRefused(err error) bool {
	if errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrPermissionViolation) || errors.Is(err, nats.ErrAuthExpired) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.Code == 400 || apiErr.ErrorCode == jsReplicasNotSupported)
}

// Embedded reports whether the broker runs its own nats-server.
func (b *Broker) Embedded() bool { return b.server != nil }

// ClientURL is the URL producers use to reach the embedded server ("" when external).
func (b *Broker) ClientURL() string {
	if b.server == nil {
		return ""
	}
	return b.server.ClientURL()
}

// Connected reports whether the connection to NATS is up.
func (b *Broker) Connected() bool { return b.Conn != nil && b.Conn.IsConnected() }

// Close drains the connection, so in-flight publishes finish, then stops the embedded server. The drain
// waits at most 10 s.
func (b *Broker) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b.Stop(ctx)
}

// Stop is Close with the drain bounded by ctx. A connection that is not connected has nothing to drain and
// is closed at once.
func (b *Broker) Stop(ctx context.Context) {
	if b.Conn != nil {
		if b.Conn.IsConnected() {
			if err := b.Conn.Drain(); err != nil {
				if !errors.Is(err, nats.ErrConnectionClosed) {
					b.log.Warn("drain nats connection", "err", err)
				}
			} else {
				select {
				case <-b.closed:
				case <-ctx.Done():
					b.log.Warn("nats connection did not drain in time; closing it")
				}
			}
		}
		b.Conn.Close()
	}
	if b.server != nil {
		b.server.Shutdown()
		b.server.WaitForShutdown()
	}
}

// Stream returns a handle on the stream of kind.
func (b *Broker) Stream(ctx context.Context, kind string) (jetstream.Stream, error) {
	s, err := b.JS.Stream(ctx, b.Subjects.StreamName(kind))
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", kind, unavailable(err))
	}
	return s, nil
}

// eventsStream returns a handle on the events stream, looked up once.
func (b *Broker) eventsStream(ctx context.Context) (jetstream.Stream, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.events == nil {
		s, err := b.Stream(ctx, KindEvents)
		if err != nil {
			return nil, err
		}
		b.events = s
	}
	return b.events, nil
}

// LastSeq returns the sequence of the latest message in the stream of kind: a view that has applied it has
// seen every write answered so far. One request: the handle's lookup already carries the stream's state.
func (b *Broker) LastSeq(ctx context.Context, kind string) (uint64, error) {
	s, err := b.Stream(ctx, kind)
	if err != nil {
		return 0, err
	}
	return s.CachedInfo().State.LastSeq, nil
}
