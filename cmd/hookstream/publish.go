package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/hookstream/hookstream/broker"
	"github.com/hookstream/hookstream/config"
	"github.com/hookstream/hookstream/tracing"
)

// publish ingests one event over NATS and prints its EventResponse.
func publish(args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("hookstream publish", flag.ContinueOnError)
	fs.SetOutput(stderr)
	tenant := fs.String("tenant", "", "tenant UUID (required)")
	eventType := fs.String("type", "", "event type, e.g. policy.issue (required)")
	data := fs.String("data", "", "event data: a JSON object, or @file to read it from a file (required)")
	requestID := fs.String("request-id", "", "optional request id, delivered as requestId")
	key := fs.String("idempotency-key", "", "optional key: a repeat within the duplicate window returns the first event")
	traceparent := fs.String("traceparent", "", "optional W3C traceparent the event's deliveries carry on (else a trace of its own)")
	tracestate := fs.String("tracestate", "", "optional W3C tracestate, kept with --traceparent")
	natsURL := fs.String("nats", "nats://127.0.0.1:4222", "NATS URL(s) of the server hookstream uses")
	creds := fs.String("nats-creds", "", "NATS credentials file")
	prefix := fs.String("subject-prefix", config.Default().SubjectPrefix, "subject prefix the engine uses")
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if v := getenv(config.EnvName("nats")); v != "" && !flagGiven(fs, "nats") {
		*natsURL = v
	}
	switch {
	case *tenant == "":
		return errors.New("--tenant is required")
	case *eventType == "":
		return errors.New("--type is required")
	case *data == "":
		return errors.New("--data is required")
	}
	trace, ok := tracing.Parse(*traceparent, *tracestate)
	if !ok && *traceparent != "" {
		return errors.New("--traceparent is not a valid W3C traceparent")
	}
	body := []byte(*data)
	if path, ok := strings.CutPrefix(*data, "@"); ok {
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("--data: %w", err)
		}
		body, err = io.ReadAll(io.LimitReader(f, 2<<20))
		f.Close()
		if err != nil {
			return fmt.Errorf("--data: %w", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	b, err := broker.Connect(ctx, broker.Config{URL: *natsURL, CredsFile: *creds, Prefix: *prefix, Name: "hookstream publish"},
		slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		return fmt.Errorf("NATS at %s: %w", broker.RedactURLs(*natsURL), err)
	}
	defer b.Close()
	e, err := b.PublishEvent(ctx, *tenant, *eventType, body, *requestID, *key, trace)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(e)
}
