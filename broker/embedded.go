package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// EmbeddedConfig configures the in-process nats-server that serves when no external NATS is given.
type EmbeddedConfig struct {
	// DataDir is hookstream's data folder; JetStream stores under DataDir/nats.
	DataDir string
	// Listen is host:port for producers' NATS clients.
	Listen string
	// NoListen serves only in-process connections (offline commands such as rebuild).
	NoListen bool
	// SyncAlways makes JetStream fsync every write before acknowledging it (survives power loss, slower).
	SyncAlways bool
	// ServerName names the server in JetStream; stable across restarts so the store is found again.
	ServerName string
}

// StartEmbedded starts a nats-server with JetStream on disk. It installs no signal handlers, logs through log,
// and reports failures as errors: nothing in it may exit the process.
func StartEmbedded(ctx context.Context, cfg EmbeddedConfig, log *slog.Logger) (*server.Server, error) {
	host, portText, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("nats listen address %q: %w", cfg.Listen, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return nil, fmt.Errorf("nats listen port %q: %w", portText, err)
	}
	if port > 0 && !cfg.NoListen {
		// nats-server reports a busy port only through its logger and then never becomes ready; checking
		// first turns that into a clear error instead of a wait.
		l, err := net.Listen("tcp", cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("nats listen address %s is not available: %w", cfg.Listen, err)
		}
		_ = l.Close()
	}
	if port == 0 {
		port = server.RANDOM_PORT // nats-server reads 0 as "the default 4222"
	}
	name := cfg.ServerName
	if name == "" {
		name = "hookstream"
	}
	opts := &server.Options{
		ServerName: name,
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   filepath.Join(cfg.DataDir, "nats"),
		NoSigs:     true,
		DontListen: cfg.NoListen,
		SyncAlways: cfg.SyncAlways,
		// Deliveries carry up to 1 MiB of event data plus headers.
		MaxPayload: 8 << 20,
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("configure embedded nats-server: %w", err)
	}
	ns.SetLoggerV2(&slogAdapter{log: log.With("component", "nats-server")}, false, false, false)
	ns.Start()
	deadline := 15 * time.Second
	if d, ok := ctx.Deadline(); ok {
		deadline = time.Until(d)
	}
	if !ns.ReadyForConnections(deadline) {
		ns.Shutdown()
		return nil, errors.New("embedded nats-server did not become ready (see its log lines above)")
	}
	if !ns.JetStreamEnabled() {
		ns.Shutdown()
		return nil, fmt.Errorf("embedded nats-server started without JetStream (store %s)", opts.StoreDir)
	}
	return ns, nil
}

// slogAdapter routes nats-server's log lines through slog. Fatalf logs at error level and returns: the
// embedding program decides whether to stop.
type slogAdapter struct{ log *slog.Logger }

func (a *slogAdapter) Noticef(format string, v ...any) { a.log.Info(fmt.Sprintf(format, v...)) }
func (a *slogAdapter) Warnf(format string, v ...any)   { a.log.Warn(fmt.Sprintf(format, v...)) }
func (a *slogAdapter) Fatalf(format string, v ...any)  { a.log.Error(fmt.Sprintf(format, v...)) }
func (a *slogAdapter) Errorf(format string, v ...any)  { a.log.Error(fmt.Sprintf(format, v...)) }
func (a *slogAdapter) Debugf(format string, v ...any)  { a.log.Debug(fmt.Sprintf(format, v...)) }
func (a *slogAdapter) Tracef(format string, v ...any)  { a.log.Debug(fmt.Sprintf(format, v...)) }
