package main

import (
	"context"
	"io"
	"log/slog"

	"github.com/hookstream/hookstream/broker"
	"github.com/hookstream/hookstream/config"
)

// newLogger logs as --log-format and --log-level say.
func newLogger(c *config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.LogLevel)) // validated by config
	opts := &slog.HandlerOptions{Level: level}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// offlineLogger is newLogger for commands that run the embedded server on a stopped engine's data folder:
// the server logs only warnings and errors, so the command's own output is not lost in its banner.
func offlineLogger(c *config.Config, w io.Writer) *slog.Logger {
	return slog.New(quietServer{Handler: newLogger(c, w).Handler()})
}

// quietServer passes the embedded nats-server's records (those with component=nats-server) only at warn level
// or above, and every other record as its Handler does.
type quietServer struct {
	slog.Handler
	server bool
}

func (h quietServer) Enabled(ctx context.Context, level slog.Level) bool {
	return (!h.server || level >= slog.LevelWarn) && h.Handler.Enabled(ctx, level)
}

func (h quietServer) WithAttrs(attrs []slog.Attr) slog.Handler {
	server := h.server
	for _, a := range attrs {
		server = server || (a.Key == "component" && a.Value.String() == "nats-server")
	}
	return quietServer{Handler: h.Handler.WithAttrs(attrs), server: server}
}

func (h quietServer) WithGroup(name string) slog.Handler {
	return quietServer{Handler: h.Handler.WithGroup(name), server: h.server}
}

// logExternalNATS says when HOOKSTREAM_NATS, not a flag, points the command at an external NATS: the embedded
// server, the default, is then not started, which is easy to miss when the variable was set for something else.
func logExternalNATS(log *slog.Logger, c *config.Config) {
	if env := config.EnvName("nats"); c.Sources["nats"] == env {
		log.Info("using external NATS from "+env+"; the embedded server is not started", "nats", broker.RedactURLs(c.NATS))
	}
}
