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
	"os"
	"os/signal"
	"runtime/debug"
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
	var c config.Config
	config.ServeFlags(fs, &c)
	if err := config.Parse(fs, &c, args, getenv); err != nil {
		return nil, err
	}
	return &c, c.Validate()
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

func serve(args []string, stderr io.Writer, getenv func(string) string) error {
	c, err := loadConfig("serve", args, stderr, getenv)
	if err != nil {
		return err
	}
	if percent, ok := config.GCTarget(c.GCPercent, getenv); ok {
		debug.SetGCPercent(percent)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return engine.Run(ctx, c, newLogger(c, stderr))
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
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	bar := newProgressBar(stderr)
	stats, err := engine.Rebuild(ctx, c, newLogger(c, stderr), engine.RebuildOptions{Verify: verify, Progress: bar.update})
	bar.done()
	if err != nil {
		return err
	}
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
