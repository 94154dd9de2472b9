package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/hookstream/hookstream/broker"
	"github.com/hookstream/hookstream/engine"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Offline is a stopped engine's data folder opened for reading: its JetStream store served by an embedded
// nats-server that listens on no port.
type Offline struct {
	// Replayer reads the folder's streams.
	*Replayer

	server *server.Server
	conn   *nats.Conn
	views  *bolt.DB
}

// OpenOffline opens the JetStream store of the data folder dataDir, whose streams are named under prefix.
// It neither creates nor updates streams: an audit changes nothing it reads. While it is open, the views file
// is held with a shared lock, so an engine cannot start on the folder meanwhile, and a running engine's lock
// makes it fail instead of opening a store another server is writing. Close it when done.
func OpenOffline(ctx context.Context, dataDir, prefix string, log *slog.Logger) (*Offline, error) {
	if prefix == "" {
		prefix = broker.DefaultPrefix
	}
	store := filepath.Join(dataDir, "nats")
	if _, err := os.Stat(store); err != nil {
		return nil, fmt.Errorf("data folder %s: no JetStream store: %w", dataDir, err)
	}
	o := &Offline{}
	views := filepath.Join(dataDir, engine.ViewsFile)
	if _, err := os.Stat(views); err == nil {
		db, err := bolt.Open(views, 0o600, &bolt.Options{ReadOnly: true, Timeout: 500 * time.Millisecond})
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("data folder %s is in use by a running engine: stop it, or replay through --nats", dataDir)
		}
		// Any other failure (an unreadable views file) is no concern of an audit, which never reads it.
		if err == nil {
			o.views = db
		}
	}
	ns, err := broker.StartEmbedded(ctx, broker.EmbeddedConfig{DataDir: dataDir, Listen: "127.0.0.1:0", NoListen: true}, log)
	if err != nil {
		o.Close()
		return nil, fmt.Errorf("open data folder %s: %w", dataDir, err)
	}
	o.server = ns
	if o.conn, err = nats.Connect("", nats.InProcessServer(ns), nats.Name("hookstream replay")); err != nil {
		o.Close()
		return nil, fmt.Errorf("connect to embedded nats-server: %w", err)
	}
	streams, err := broker.NewReader(o.conn, broker.Subjects{Prefix: prefix})
	if err != nil {
		o.Close()
		return nil, err
	}
	o.Replayer = New(streams)
	return o, nil
}

// Close closes the connection, shuts the embedded server down and releases the views file.
func (o *Offline) Close() error {
	if o.conn != nil {
		o.conn.Close()
	}
	if o.server != nil {
		o.server.Shutdown()
		o.server.WaitForShutdown()
	}
	if o.views != nil {
		if err := o.views.Close(); err != nil {
			return fmt.Errorf("release views file: %w", err)
		}
	}
	return nil
}
