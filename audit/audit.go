// Package audit replays hookstream's JetStream streams for auditors: it reads the webhooks, tokens, events,
// attempts and diverted streams (never the bbolt views), filters their entries by tenant, webhook, event,
// type and time, redacts every webhook secret and token hash, and hands each entry on as a Line carrying the
// stream sequence, the stream timestamp, the subject and the actor. It answers "what happened to event X,
// and who changed webhook Y, between T1 and T2" from the log itself, against a running server or cluster or
// against a stopped engine's data folder (OpenOffline).
//
// Several streams are merged by stream timestamp: the entries that exist when the replay starts come out
// in time order (ties broken by stream, then sequence); with Follow, entries appended later come out in
// arrival order once every stream has caught up.
package audit

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookstream/hookstream"
	"github.com/hookstream/hookstream/broker"
)

// Stream names a stream an audit can replay.
type Stream string

// The streams an audit can replay, in the order that breaks ties between equal timestamps.
const (
	StreamWebhooks Stream = "webhooks"
	StreamTokens   Stream = "tokens"
	StreamEvents   Stream = "events"
	StreamAttempts Stream = "attempts"
	StreamDiverted Stream = "diverted"
)

// AllStreams lists every stream an audit can replay.
func AllStreams() []Stream {
	return []Stream{StreamWebhooks, StreamTokens, StreamEvents, StreamAttempts, StreamDiverted}
}

// kind is the broker's stream kind of s.
func (s Stream) kind() string {
	switch s {
	case StreamWebhooks:
		return broker.KindWebhooks
	case StreamTokens:
		return broker.KindTokens
	case StreamEvents:
		return broker.KindEvents
	case StreamAttempts:
		return broker.KindAttempts
	case StreamDiverted:
		return broker.KindDiverted
	}
	return ""
}

// ParseStreams reads a comma-separated list of stream names, in AllStreams order without repeats, or "all",
// which gives nil: every stream there is (see Options.Streams).
func ParseStreams(s string) ([]Stream, error) {
	if strings.TrimSpace(s) == "all" {
		return nil, nil
	}
	var out []Stream
	for name := range strings.SplitSeq(s, ",") {
		st := Stream(strings.TrimSpace(name))
		if !slices.Contains(AllStreams(), st) {
			return nil, &FieldError{Field: "stream", Err: fmt.Errorf("unknown stream %q: want all, or some of events, attempts, diverted, webhooks, tokens", name)}
		}
		if !slices.Contains(out, st) {
			out = append(out, st)
		}
	}
	slices.SortFunc(out, func(a, b Stream) int { return slices.Index(AllStreams(), a) - slices.Index(AllStreams(), b) })
	return out, nil
}

// FieldError reports a bad option; Field is the name of the option (tenant, webhook, event, type, since,
// until, stream).
type FieldError struct {
	Field string
	Err   error
}

// Error names the option and what is wrong with it.
func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }

// Unwrap returns what is wrong with the option.
func (e *FieldError) Unwrap() error { return e.Err }

// ParseTime reads a time bound: an RFC 3339 time, or a duration such as "24h" or "90m" meaning that long
// before now. An empty string is the zero time (no bound).
func ParseTime(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time nor a duration such as 24h", s)
	}
	if d < 0 {
		return time.Time{}, fmt.Errorf("duration %s must not be negative", d)
	}
	return now.Add(-d), nil
}

// Filter selects entries. Every filter given must match; an entry that does not carry what a filter looks at
// does not match it, so a webhook filter leaves out events and tokens, and an event filter leaves out
// webhook and token changes.
type Filter struct {
	// Tenant is a tenant UUID: events, attempts, diverted records and webhook changes of that tenant, and the
	// changes of tokens that serve it.
	Tenant string
	// Webhook is a webhook locator: its changes, attempts and diverted records.
	Webhook string
	// Event is an event locator: the event, and its attempts and diverted records.
	Event string
	// Type is the event type for events, the change or record type for the other streams
	// (webhook.updated, token.created, attempt, attempt.cancelled, diverted, diverted.deleted, …).
	Type string
	// Since and Until bound the stream timestamp (inclusive); zero means unbounded.
	Since, Until time.Time
}

// Validate checks the filter; errors are FieldErrors.
func (f *Filter) Validate() error {
	if f.Tenant != "" {
		if err := hookstream.CheckTenant("tenant", f.Tenant); err != nil {
			return fieldError("tenant", err)
		}
	}
	if f.Webhook != "" {
		if err := hookstream.CheckLocator("webhook", f.Webhook); err != nil {
			return fieldError("webhook", err)
		}
	}
	if f.Event != "" {
		if _, ok := hookstream.EventSeq(f.Event); !ok {
			return &FieldError{Field: "event", Err: fmt.Errorf("%q is not an event locator", truncate(f.Event, 64))}
		}
	}
	if f.Type != "" {
		// Types are subject tokens: this also keeps wildcards out of the subject filters.
		if err := hookstream.CheckEventType("type", f.Type); err != nil {
			return fieldError("type", err)
		}
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && f.Until.Before(f.Since) {
		return &FieldError{Field: "until", Err: fmt.Errorf("%s is before since %s", f.Until.Format(time.RFC3339Nano), f.Since.Format(time.RFC3339Nano))}
	}
	return nil
}

// fieldError strips the field name a domain error already carries, so it is not named twice.
func fieldError(field string, err error) *FieldError {
	var de *hookstream.Error
	if errors.As(err, &de) {
		return &FieldError{Field: field, Err: errors.New(de.Message)}
	}
	return &FieldError{Field: field, Err: err}
}

func (f *Filter) inTime(t time.Time) bool {
	return (f.Since.IsZero() || !t.Before(f.Since)) && (f.Until.IsZero() || !t.After(f.Until))
}

// Line is one replayed entry, written as one JSON line.
type Line struct {
	// Stream is the stream the entry comes from.
	Stream Stream `json:"stream"`
	// Sequence is the entry's stream sequence.
	Sequence uint64 `json:"sequence"`
	// Time is the stream's timestamp of the entry (UTC).
	Time time.Time `json:"time"`
	// Subject is the subject the entry was stored on.
	Subject string `json:"subject"`
	// Record numbers the attempts of an attempts batch, from 1: such a message is one line per attempt, each
	// entry the attempt record it stands for. It is absent for other messages.
	Record int `json:"record,omitempty"`
	// Actor is who made the change, for webhook and token changes and diverted deletions: a token locator,
	// "admin" or "system".
	Actor string `json:"actor,omitempty"`
	// Traceparent and Tracestate are an event's W3C trace context, which its attempts carry on: as its
	// producer gave it, or the one derived for an event that came without one.
	Traceparent string `json:"traceparent,omitempty"`
	Tracestate  string `json:"tracestate,omitempty"`
	// Invalid says why the stored message is not a valid entry; Entry then shows what is known of it.
	Invalid string `json:"invalid,omitempty"`
	// Entry is the decoded entry, secrets redacted: an EventResponse for events, the change event or record
	// as stored for the other streams.
	Entry json.RawMessage `json:"entry"`
}

// Sink receives the lines of a replay, one at a time, from a single goroutine.
type Sink interface {
	// Write takes one line.
	Write(*Line) error
	// Flush is called when the replay has caught up, after every line that follows, and at the end.
	Flush() error
}

// JSONWriter is a Sink writing one JSON object per line, buffered between flushes.
type JSONWriter struct {
	w   *bufio.Writer
	enc *json.Encoder
}

// NewJSONWriter returns a JSONWriter writing to w.
func NewJSONWriter(w io.Writer) *JSONWriter {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	return &JSONWriter{w: bw, enc: enc}
}

// Write encodes l as one line.
func (j *JSONWriter) Write(l *Line) error {
	if err := j.enc.Encode(l); err != nil {
		return fmt.Errorf("write line: %w", err)
	}
	return nil
}

// Flush writes out the buffered lines.
func (j *JSONWriter) Flush() error {
	if err := j.w.Flush(); err != nil {
		return fmt.Errorf("write lines: %w", err)
	}
	return nil
}

// Progress counts what a replay has done; it is safe to read while the replay runs.
type Progress struct {
	scanned atomic.Uint64
	written atomic.Uint64
}

// Scanned is the number of stream messages read so far, matching or not.
func (p *Progress) Scanned() uint64 { return p.scanned.Load() }

// Written is the number of lines handed to the sink so far.
func (p *Progress) Written() uint64 { return p.written.Load() }

// Options shape a replay.
type Options struct {
	// Streams are the streams to read; empty means all. Under all, a stream that does not exist (an older
	// deployment) is skipped; a stream asked for by name must exist.
	Streams []Stream
	Filter  Filter
	// Follow keeps streaming entries appended after the replay caught up, until the context ends (Run then
	// returns nil) or Until has passed.
	Follow bool
	// CaughtUp, when set, is called once every entry that existed at the start has been written.
	CaughtUp func()
	// Progress, when set, is kept up to date.
	Progress *Progress
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Replayer reads hookstream's streams through one connection.
type Replayer struct {
	streams  *broker.Reader
	subjects broker.Subjects
}

// New returns a Replayer reading through streams.
func New(streams *broker.Reader) *Replayer {
	return &Replayer{streams: streams, subjects: streams.Subjects}
}

// item is what a stream reader hands the merge: a line, or (line nil) the mark that the reader has caught
// up with the entries that existed at the start.
type item struct {
	line *Line
}

// Run replays the streams into sink. Without Follow it returns once every entry that existed at the start
// has been written; with Follow it keeps going until ctx ends, and then returns nil.
func (r *Replayer) Run(ctx context.Context, o Options, sink Sink) error {
	if err := o.Filter.Validate(); err != nil {
		return err
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	progress := o.Progress
	if progress == nil {
		progress = &Progress{}
	}
	named := len(o.Streams) > 0
	streams := AllStreams()
	if named {
		// In AllStreams order, which breaks ties between equal timestamps.
		streams = slices.DeleteFunc(streams, func(s Stream) bool { return !slices.Contains(o.Streams, s) })
		for _, s := range o.Streams {
			if !slices.Contains(streams, s) {
				return &FieldError{Field: "stream", Err: fmt.Errorf("unknown stream %q", s)}
			}
		}
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var readers []*reader
	for _, s := range streams {
		rd, err := r.newReader(runCtx, s, &o.Filter, o.Follow, progress, named)
		if err != nil {
			return err
		}
		if rd != nil {
			readers = append(readers, rd)
		}
	}
	if len(readers) == 0 && !named {
		return fmt.Errorf("no hookstream stream found under prefix %q", r.subjects.Prefix)
	}

	var (
		wg      sync.WaitGroup
		errOnce sync.Once
		readErr error
	)
	chans := make([]chan item, len(readers))
	for i, rd := range readers {
		chans[i] = make(chan item, 256)
		wg.Go(func() {
			defer close(chans[i])
			if err := rd.run(runCtx, chans[i]); err != nil && runCtx.Err() == nil {
				errOnce.Do(func() { readErr = err; cancel() })
			}
		})
	}
	err := merge(runCtx, chans, o, sink, progress, now)
	cancel()
	wg.Wait()
	if readErr != nil {
		return readErr
	}
	if err != nil && o.Follow && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		err = nil // following ends when the caller's context does
	}
	if ferr := sink.Flush(); err == nil && ferr != nil {
		err = ferr
	}
	if err != nil && ctx.Err() != nil && !o.Follow {
		return fmt.Errorf("replay interrupted: %w", err)
	}
	return err
}

// merge writes the readers' entries: first those that existed at the start, in time order across the
// streams, then (Follow) new ones in arrival order.
func merge(ctx context.Context, chans []chan item, o Options, sink Sink, progress *Progress, now func() time.Time) error {
	type source struct {
		ch       chan item
		head     *Line
		caughtUp bool
		closed   bool
	}
	sources := make([]*source, len(chans))
	for i, ch := range chans {
		sources[i] = &source{ch: ch}
	}
	write := func(l *Line) error {
		if err := sink.Write(l); err != nil {
			return err
		}
		progress.written.Add(1)
		return nil
	}
	for {
		for _, s := range sources {
			for !s.caughtUp && s.head == nil {
				select {
				case it, ok := <-s.ch:
					switch {
					case !ok:
						s.caughtUp, s.closed = true, true
					case it.line == nil:
						s.caughtUp = true
					default:
						s.head = it.line
					}
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}
		var next *source
		for i, s := range sources {
			if s.head != nil && (next == nil || s.head.Time.Before(next.head.Time)) {
				next = sources[i]
			}
		}
		if next == nil {
			break
		}
		if err := write(next.head); err != nil {
			return err
		}
		next.head = nil
	}
	if err := sink.Flush(); err != nil {
		return err
	}
	if o.CaughtUp != nil {
		o.CaughtUp()
	}
	if !o.Follow {
		return nil
	}

	live := make(chan *Line)
	var wg sync.WaitGroup
	for _, s := range sources {
		if s.closed {
			continue
		}
		wg.Go(func() {
			for it := range s.ch {
				select {
				case live <- it.line:
				case <-ctx.Done():
					return
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	var untilC <-chan time.Time
	if !o.Filter.Until.IsZero() {
		// A second's grace for entries stored just before Until that are still on their way.
		t := time.NewTimer(max(o.Filter.Until.Sub(now())+time.Second, 0))
		defer t.Stop()
		untilC = t.C
	}
	for {
		select {
		case l := <-live:
			if err := write(l); err != nil {
				return err
			}
			if err := sink.Flush(); err != nil {
				return err
			}
		case <-done:
			return nil
		case <-untilC:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
