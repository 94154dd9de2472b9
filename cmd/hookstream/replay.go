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
	"sync"
	"syscall"
	"time"

	"github.com/hookstream/hookstream/audit"
	"github.com/hookstream/hookstream/broker"
	"github.com/hookstream/hookstream/config"
)

// replay writes the streams' entries as JSON lines, for audits. See package audit for what each line holds.
func replay(args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("hookstream replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	streams := fs.String("stream", "all", "streams to read: events, attempts, diverted, webhooks, tokens (comma-separated), or all (merged by time)")
	tenant := fs.String("tenant", "", "only entries of this tenant UUID (tokens: those serving it)")
	webhook := fs.String("webhook", "", "only this webhook's changes, attempts and diverted records")
	event := fs.String("event", "", "only this event (locator), its attempts and diverted records")
	eventType := fs.String("type", "", "only this type: event type for events, change or record type otherwise (webhook.updated, token.revoked, attempt, diverted.deleted, …)")
	since := fs.String("since", "", "only entries stored at or after this time: RFC 3339, or a duration such as 24h (that long ago)")
	until := fs.String("until", "", "only entries stored at or before this time: RFC 3339, or a duration such as 1h (that long ago)")
	follow := fs.Bool("follow", false, "after the existing entries, keep writing new ones until SIGINT or SIGTERM")
	data := fs.String("data", "./data", "data folder of a stopped engine (its embedded JetStream store is opened read-only)")
	natsURL := fs.String("nats", "", "NATS URL(s) of a running server or cluster, comma-separated; replaces --data")
	creds := fs.String("nats-creds", "", "NATS credentials file for --nats")
	prefix := fs.String("subject-prefix", config.Default().SubjectPrefix, "subject prefix the engine uses")
	showProgress := fs.Bool("progress", false, "report entries/s on stderr every second (the default when stderr is a terminal)")
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if flagGiven(fs, "nats") && flagGiven(fs, "data") {
		return errors.New("--nats and --data exclude each other: replay a running server or a stopped data folder")
	}
	for name, v := range map[string]*string{"nats": natsURL, "data": data, "nats-creds": creds, "subject-prefix": prefix} {
		// An explicit --data beats HOOKSTREAM_NATS, as an explicit --nats beats HOOKSTREAM_DATA.
		if e := getenv(config.EnvName(name)); e != "" && !flagGiven(fs, name) && !(name == "nats" && flagGiven(fs, "data")) {
			*v = e
		}
	}

	selected, err := audit.ParseStreams(*streams)
	if err != nil {
		return flagError(err)
	}
	now := time.Now()
	f := audit.Filter{Tenant: *tenant, Webhook: *webhook, Event: *event, Type: *eventType}
	if f.Since, err = audit.ParseTime(*since, now); err != nil {
		return fmt.Errorf("--since: %w", err)
	}
	if f.Until, err = audit.ParseTime(*until, now); err != nil {
		return fmt.Errorf("--until: %w", err)
	}
	if err := f.Validate(); err != nil {
		return flagError(err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	var r *audit.Replayer
	if *natsURL != "" {
		b, err := broker.Connect(ctx, broker.Config{URL: *natsURL, CredsFile: *creds, Prefix: *prefix, Name: "hookstream replay"}, log)
		if err != nil {
			return err
		}
		defer b.Close()
		r = audit.New(b.Reader())
	} else {
		o, err := audit.OpenOffline(ctx, *data, *prefix, log)
		if err != nil {
			return err
		}
		defer o.Close()
		r = o.Replayer
	}

	progress := &audit.Progress{}
	if *showProgress || isTerminal(stderr) {
		defer reportProgress(progress, stderr, isTerminal(stderr))()
	}
	return r.Run(ctx, audit.Options{Streams: selected, Filter: f, Follow: *follow, Progress: progress, Now: func() time.Time { return now }},
		audit.NewJSONWriter(stdout))
}

// flagError names the flag an audit.FieldError is about.
func flagError(err error) error {
	var fe *audit.FieldError
	if errors.As(err, &fe) {
		return fmt.Errorf("--%s: %w", fe.Field, fe.Err)
	}
	return err
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// reportProgress writes the replay's rate over the last second to w, every second, until the returned
// function is called; then the totals. On a terminal it rewrites one line.
func reportProgress(p *audit.Progress, w io.Writer, terminal bool) (stop func()) {
	start := time.Now()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		prev, prevAt := uint64(0), start
		for {
			select {
			case at := <-tick.C:
				n := p.Written()
				rate := float64(n-prev) / max(at.Sub(prevAt).Seconds(), 1e-9)
				prev, prevAt = n, at
				if terminal {
					fmt.Fprintf(w, "\rreplay: %d entries (%d messages read), %.0f entries/s   ", n, p.Scanned(), rate)
				} else {
					fmt.Fprintf(w, "replay: %d entries (%d messages read), %.0f entries/s\n", n, p.Scanned(), rate)
				}
			case <-done:
				elapsed := time.Since(start)
				if terminal {
					fmt.Fprint(w, "\r")
				}
				fmt.Fprintf(w, "replay: %d entries (%d messages read) in %s, %.0f entries/s\n", p.Written(), p.Scanned(),
					elapsed.Round(time.Millisecond), float64(p.Written())/max(elapsed.Seconds(), 1e-9))
				return
			}
		}
	})
	return func() { close(done); wg.Wait() }
}
