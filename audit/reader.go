package audit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hookstream/hookstream"
	"github.com/hookstream/hookstream/broker"
	"github.com/oklog/ulid/v2"
)

// clockSkew is how far apart the clocks of two stream leaders may be: an event's attempts are looked for
// from this long before the event's own timestamp.
const clockSkew = 5 * time.Minute

// reader replays one stream through an ordered consumer.
type reader struct {
	r        *Replayer
	stream   Stream
	filter   *Filter
	follow   bool
	progress *Progress

	// subject narrows the consumer on the server (empty: the whole stream).
	subject string
	// startSeq, when not 0, starts the consumer there; startTime, when not zero, starts it at that time.
	startSeq  uint64
	startTime time.Time
	// single stops the reader after the message at startSeq (an event looked up by its locator).
	single bool
	// tokenTenants caches the tenants of the tokens seen, for the tenant filter on the tokens stream.
	tokenTenants map[string][]string
	// last is the stream's last sequence when the reader was planned.
	last uint64
}

// newReader plans the replay of stream s under f: the narrowest subject filter and start position the
// filter allows. It returns nil when no entry of s can match f, or when s does not exist and was not asked
// for by name.
func (r *Replayer) newReader(ctx context.Context, s Stream, f *Filter, follow bool, progress *Progress, named bool) (*reader, error) {
	rd := &reader{r: r, stream: s, filter: f, follow: follow, progress: progress, startTime: f.Since}
	p := r.subjects.Prefix
	tenant, webhook := orStar(f.Tenant), orStar(f.Webhook)
	switch s {
	case StreamEvents:
		if f.Webhook != "" {
			return nil, nil
		}
		if f.Tenant != "" || f.Type != "" {
			typ := ">"
			if f.Type != "" {
				typ = f.Type
			}
			rd.subject = p + ".events." + tenant + "." + typ
		}
		if f.Event != "" {
			rd.startSeq, _ = hookstream.EventSeq(f.Event)
			rd.startTime, rd.single = time.Time{}, true
		}
	case StreamWebhooks:
		if f.Event != "" {
			return nil, nil
		}
		if f.Tenant != "" || f.Webhook != "" {
			rd.subject = p + ".webhooks." + tenant + "." + webhook
		}
	case StreamTokens:
		if f.Event != "" || f.Webhook != "" {
			return nil, nil
		}
		rd.tokenTenants = map[string][]string{}
	case StreamAttempts, StreamDiverted:
		if f.Tenant != "" || f.Webhook != "" {
			rd.subject = p + "." + string(s) + "." + tenant + "." + webhook
		}
		if f.Event != "" {
			// Records of an event are written after it was stored: no need to read what came before.
			if id, err := ulid.ParseStrict(f.Event); err == nil {
				if from := ulid.Time(id.Time()).Add(-clockSkew); from.After(rd.startTime) {
					rd.startTime = from
				}
			}
		}
	default:
		return nil, fmt.Errorf("unknown stream %q", s)
	}
	last, err := r.streams.LastSeq(ctx, s.kind())
	if errors.Is(err, broker.ErrNoStream) && !named {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", s, err)
	}
	rd.last = last
	return rd, nil
}

func orStar(s string) string {
	if s == "" {
		return "*"
	}
	return s
}

// run sends the matching entries to out: those up to the stream's last sequence as of the start, then the
// caught-up mark (a nil line), then, when following, every new one. It returns when done, or when ctx ends
// (then with ctx's error).
func (rd *reader) run(ctx context.Context, out chan<- item) error {
	last := rd.last
	send := func(l *Line) error {
		select {
		case out <- item{line: l}:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if last == 0 && !rd.follow {
		return send(nil)
	}
	cursor, err := rd.r.streams.Read(ctx, rd.stream.kind(), broker.ReadFrom{Subject: rd.subject, Seq: rd.startSeq, Time: rd.startTime})
	if err != nil {
		return fmt.Errorf("stream %s: %w", rd.stream, err)
	}
	defer cursor.Close()

	caughtUp := false
	markCaughtUp := func() error {
		caughtUp = true
		return send(nil)
	}
	if cursor.Pending() == 0 {
		if err := markCaughtUp(); err != nil || !rd.follow {
			return err
		}
	}
	for {
		msg, err := cursor.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("stream %s: %w", rd.stream, err)
		}
		rd.progress.scanned.Add(1)
		seq := msg.Seq
		if !caughtUp && seq > last {
			// Appended after the start.
			if err := markCaughtUp(); err != nil || !rd.follow {
				return err
			}
		}
		if !rd.filter.Until.IsZero() && msg.Time.After(rd.filter.Until) {
			// Stream timestamps grow with the sequence: nothing further can be in the window.
			if !caughtUp {
				return markCaughtUp()
			}
			return nil
		}
		if rd.single && seq != rd.startSeq {
			if !caughtUp {
				return markCaughtUp()
			}
			return nil
		}
		lines, err := rd.decode(ctx, msg.Subject, seq, msg.Time, msg.Header, msg.Data)
		if err != nil {
			return err
		}
		for _, line := range lines {
			if err := send(line); err != nil {
				return err
			}
		}
		if rd.single {
			if !caughtUp {
				return markCaughtUp()
			}
			return nil
		}
		if !caughtUp && (msg.Pending == 0 || seq >= last) {
			if err := markCaughtUp(); err != nil || !rd.follow {
				return err
			}
		}
	}
}

// tenantsOfToken returns the tenants a token serves, from its token.created event.
func (rd *reader) tenantsOfToken(ctx context.Context, subject, token string) ([]string, error) {
	if tenants, ok := rd.tokenTenants[token]; ok {
		return tenants, nil
	}
	first, err := rd.r.streams.FirstOnSubject(ctx, rd.stream.kind(), subject)
	if err != nil {
		return nil, fmt.Errorf("first change of token %s: %w", token, err)
	}
	if first == nil {
		rd.tokenTenants[token] = nil
		return nil, nil
	}
	var created tokenHead
	if err := unmarshal(first.Data, &created); err != nil || created.Create == nil {
		rd.tokenTenants[token] = nil
		return nil, nil // an unreadable first change serves no tenant
	}
	rd.tokenTenants[token] = created.Create.Tenants
	return created.Create.Tenants, nil
}
