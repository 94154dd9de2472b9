// Command hookstream is the webhook delivery engine: `hookstream serve` runs it, `hookstream rebuild`
// recreates its views from the streams, `hookstream publish` ingests an event, `hookstream openapi` prints
// the API's OpenAPI document, `hookstream version` prints its version.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/hookstream/hookstream/config"
	"github.com/hookstream/hookstream/engine"
	"github.com/hookstream/hookstream/httpapi"
)

const usage = `hookstream: webhook delivery on NATS JetStream

Usage:
  hookstream serve   [flags]   run the engine (embedded NATS unless --nats is given)
  hookstream rebuild [flags]   recreate every view from the streams (server stopped)
  hookstream publish [flags]   publish one event over NATS and print its EventResponse
  hookstream bench   [flags]   measure deliveries/s, latency, RSS and CPU against raw HTTP POSTs
  hookstream replay  [flags]   write the streams' entries as JSON lines, secrets redacted (audits)
  hookstream listen  [flags]   receive deliveries locally, print them and verify their signatures
  hookstream openapi           print the HTTP API's OpenAPI 3.1 document (also served at /openapi.json)
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
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		err = serve(ctx, args[1:], stderr, getenv)
		stop()
	case "rebuild":
		err = rebuild(args[1:], stdout, stderr, getenv)
	case "publish":
		err = publish(args[1:], stdout, stderr, getenv)
	case "replay":
		err = replay(args[1:], stdout, stderr, getenv)
	case "bench":
		err = benchCommand(args[1:], stdout, stderr, getenv)
	case "listen":
		err = listen(args[1:], stdout, stderr)
	case "openapi":
		if len(args) > 1 {
			fmt.Fprintf(stderr, "hookstream openapi: unexpected argument %q\n", args[1])
			return 2
		}
		_, err = stdout.Write(httpapi.OpenAPI())
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

// serve runs the engine until ctx ends (SIGINT or SIGTERM).
func serve(ctx context.Context, args []string, stderr io.Writer, getenv func(string) string) error {
	c, err := loadConfig("serve", args, stderr, getenv)
	if err != nil {
		return err
	}
	log := newLogger(c, stderr)
	logExternalNATS(log, c)
	if err := checkWritable(c); err != nil {
		return err
	}
	if percent, ok := config.GCTarget(c.GCPercent, getenv); ok {
		debug.SetGCPercent(percent)
	}
	if limit, ok := config.MemoryLimitTarget(c.MemoryLimit, getenv); ok {
		debug.SetMemoryLimit(limit)
	}
	return engine.Run(ctx, c, log)
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
	log := offlineLogger(c, stderr)
	logExternalNATS(log, c)
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
	stats, err := engine.Rebuild(ctx, c, log, engine.RebuildOptions{Verify: verify, Progress: bar.update})
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
