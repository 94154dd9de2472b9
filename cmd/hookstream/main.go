// Command hookstream is the webhook delivery engine: `hookstream serve` runs it, `hookstream rebuild`
// recreates its views from the streams, `hookstream publish` ingests an event, `hookstream version` prints
// its version.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/hookstream/hookstream/config"
	"github.com/hookstream/hookstream/engine"
)

const usage = `hookstream: webhook delivery on NATS JetStream

Usage:
  hookstream serve   [flags]   run the engine (embedded NATS unless --nats is given)
  hookstream rebuild [flags]   recreate every view from the streams (server stopped)
  hookstream publish [flags]   publish one event over NATS and print its EventResponse
  hookstream bench   [flags]   measure deliveries/s, latency, RSS and CPU against raw HTTP POSTs
  hookstream replay  [flags]   write the streams' entries as JSON lines, secrets redacted (audits)
  hookstream version           print the version

Run "hookstream <command> -h" for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}

func run(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(args[1:], stderr, getenv)
	case "rebuild":
		err = rebuild(args[1:], stdout, stderr, getenv)
	case "publish":
		err = publish(args[1:], stdout, stderr, getenv)
	case "replay":
		err = replay(args[1:], stdout, stderr, getenv)
	case "bench":
		err = benchCommand(args[1:], stdout, stderr, getenv)
	case "version":
		fmt.Fprintln(stdout, "hookstream", engine.Version)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "hookstream: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if usage := (*config.UsageError)(nil); errors.As(err, &usage) {
		fmt.Fprintf(stderr, "hookstream %s: %v\nrun 'hookstream %s -h' for usage\n", args[0], usage.Err, args[0])
		return 2
	}
	if err != nil {
		fmt.Fprintln(stderr, "hookstream:", err)
		return 1
	}
	return 0
}

// loadConfig parses a command's flags (with the environment and --config file behind them).
func loadConfig(name string, args []string, stderr io.Writer, getenv func(string) string) (*config.Config, error) {
	fs := flag.NewFlagSet("hookstream "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := config.Default()
	config.ServeFlags(fs, c)
	if err := quietParse(fs, func() error { return config.Parse(fs, c, args, getenv) }); err != nil {
		return nil, err
	}
	return c, c.Validate()
}

// parseArgs parses a command's args with fs, as quietParse does, and refuses a stray argument.
func parseArgs(fs *flag.FlagSet, args []string) error {
	return quietParse(fs, func() error {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return &config.UsageError{Err: err}
		}
		if fs.NArg() > 0 {
			return &config.UsageError{Err: fmt.Errorf("unexpected argument %q", fs.Arg(0))}
		}
		return nil
	})
}

// quietParse runs parse with fs's output silenced, since the flag package reports a mistake with the whole
// usage: -h prints the usage, and a mistake is left to run to report once, with a hint.
func quietParse(fs *flag.FlagSet, parse func() error) error {
	out := fs.Output()
	fs.SetOutput(io.Discard)
	err := parse()
	fs.SetOutput(out)
	if errors.Is(err, flag.ErrHelp) {
		fs.Usage()
	}
	return err
}

// flagGiven reports whether the flag name was set on the command line.
func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

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

func serve(args []string, stderr io.Writer, getenv func(string) string) error {
	c, err := loadConfig("serve", args, stderr, getenv)
	if err != nil {
		return err
	}
	log := newLogger(c, stderr)
	if env := config.EnvName("nats"); c.Sources["nats"] == env {
		log.Info("using external NATS from "+env+"; the embedded server is not started", "nats", redactURLs(c.NATS))
	}
	if err := checkWritable(c); err != nil {
		return err
	}
	if percent, ok := config.GCTarget(c.GCPercent, getenv); ok {
		debug.SetGCPercent(percent)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return engine.Run(ctx, c, log)
}

// checkWritable writes and removes a probe file in the data folder and, for the embedded server, in its nats/
// folder, creating them as serve would: a folder serve cannot write is reported at once, with its cause,
// rather than as a server that never becomes ready.
func checkWritable(c *config.Config) error {
	dirs := []string{c.Data}
	if c.NATS == "" {
		dirs = append(dirs, filepath.Join(c.Data, "nats"))
	}
	for _, dir := range dirs {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("data folder %s cannot be written: %w", c.Data, err)
		}
		f, err := os.CreateTemp(dir, ".write-probe-*")
		if err != nil {
			return fmt.Errorf("data folder %s cannot be written: %w", c.Data, err)
		}
		f.Close()
		if err := os.Remove(f.Name()); err != nil {
			return fmt.Errorf("data folder %s: remove write probe: %w", c.Data, err)
		}
	}
	return nil
}

// checkStore refuses a data folder without an embedded server's JetStream store: rebuild reads one, and must
// create nothing (no store, no views file) in a folder named by mistake.
func checkStore(data string) error {
	if _, err := os.Stat(data); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("data folder %s does not exist: nothing to rebuild from", data)
	} else if err != nil {
		return fmt.Errorf("data folder %s: %w", data, err)
	}
	info, err := os.Stat(filepath.Join(data, "nats", "jetstream"))
	switch {
	case err == nil && info.IsDir():
		return nil
	case err == nil || errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("data folder %s holds no JetStream store (nats/jetstream): nothing to rebuild from; --data must name the folder serve used", data)
	default:
		return fmt.Errorf("data folder %s: %w", data, err)
	}
}

// redactURLs hides the credentials in NATS URLs (comma-separated), for messages and logs. A URL without a
// scheme is read as nats:// as the NATS client reads it.
func redactURLs(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if !strings.Contains(p, "://") {
			p = "nats://" + p
		}
		u, err := url.Parse(p)
		switch {
		case err != nil:
			parts[i] = "(unparsable URL)"
		case u.User != nil:
			u.User = url.User("xxxxx")
			parts[i] = u.String()
		default:
			parts[i] = p
		}
	}
	return strings.Join(parts, ",")
}

func rebuild(args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	verify := false
	// --verify belongs to rebuild alone; the rest are serve's flags (data folder, NATS, prefix).
	rest := args[:0:0]
	for _, a := range args {
		if a == "--verify" || a == "-verify" {
			verify = true
			continue
		}
		rest = append(rest, a)
	}
	c, err := loadConfig("rebuild", rest, stderr, getenv)
	if err != nil {
		return err
	}
	if c.NATS == "" {
		if err := checkStore(c.Data); err != nil {
			return err
		}
	}
	if verify {
		if _, err := os.Stat(filepath.Join(c.Data, engine.ViewsFile)); errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("data folder %s has no %s to verify; run hookstream rebuild to create it", c.Data, engine.ViewsFile)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	bar := newProgressBar(stderr)
	stats, err := engine.Rebuild(ctx, c, offlineLogger(c, stderr), engine.RebuildOptions{Verify: verify, Progress: bar.update})
	bar.done()
	if err != nil {
		return err
	}
	// The one rate of the run: messages applied over the time applying them took.
	rate := float64(stats.Messages) / max(stats.Elapsed.Seconds(), 1e-9)
	if !verify {
		fmt.Fprintf(stdout, "rebuilt views from %d messages in %s (%.0f messages/s)\n", stats.Messages, stats.Elapsed.Round(time.Millisecond), rate)
		return nil
	}
	if len(stats.Differences) == 0 {
		fmt.Fprintf(stdout, "views match the streams (%d messages replayed in %s, %.0f messages/s)\n", stats.Messages, stats.Elapsed.Round(time.Millisecond), rate)
		return nil
	}
	for _, d := range stats.Differences {
		fmt.Fprintln(stdout, d)
	}
	return fmt.Errorf("views differ from the streams in %d places; run hookstream rebuild to replace them", len(stats.Differences))
}
