package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrWrongLastSequence reports an append that lost an optimistic-concurrency race: another writer appended to
// the aggregate's subject first. Reload the aggregate and try again.
var ErrWrongLastSequence = errors.New("aggregate changed concurrently")

// Header names hookstream sets on the messages it appends.
const (
	HeaderActor     = "Hookstream-Actor"
	HeaderEventType = "Hookstream-Type"
)

// AppendOptions qualify one append.
type AppendOptions struct {
	// ExpectedVersion, when not nil, is the stream sequence the subject's last message must have (0: none yet).
	ExpectedVersion *uint64
	// MsgID dedupes the append within the stream's duplicate window.
	MsgID string
	// Header adds headers to the message.
	Header nats.Header
}

// AppendJSON marshals v and appends it to subject, returning its stream sequence.
func (b *Broker) AppendJSON(ctx context.Context, subject string, v any, o AppendOptions) (uint64, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return 0, fmt.Errorf("encode %s: %w", subject, err)
	}
	msg := &nats.Msg{Subject: subject, Data: data, Header: o.Header}
	var opts []jetstream.PublishOpt
	if o.ExpectedVersion != nil {
		opts = append(opts, jetstream.WithExpectLastSequencePerSubject(*o.ExpectedVersion))
	}
	if o.MsgID != "" {
		opts = append(opts, jetstream.WithMsgID(o.MsgID))
	}
	ack, err := b.JS.PublishMsg(ctx, msg, opts...)
	if err != nil {
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
			return 0, fmt.Errorf("append to %s: %w", subject, ErrWrongLastSequence)
		}
		return 0, fmt.Errorf("append to %s: %w", subject, unavailable(err))
	}
	return ack.Sequence, nil
}
