package broker

import (
	"context"
	"errors"

	"github.com/hookstream/hookstream"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Unavailable reports whether err says NATS could not be reached or could not answer in time (disconnected,
// reconnecting, no responders, a timeout, JetStream electing leaders), as opposed to an answer.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	for _, e := range []error{nats.ErrTimeout, nats.ErrNoResponders, nats.ErrConnectionClosed, nats.ErrConnectionDraining,
		nats.ErrConnectionReconnecting, nats.ErrDisconnected, nats.ErrReconnectBufExceeded, jetstream.ErrNoStreamResponse,
		jetstream.ErrJetStreamNotEnabled, jetstream.ErrTooManyStalledMsgs, jetstream.ErrAsyncPublishTimeout,
		context.DeadlineExceeded} {
		if errors.Is(err, e) {
			return true
		}
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.Code == 503
}

// unavailable marks an error of an operation on NATS that failed for want of NATS, so that the API faces
// answer it as a domain error of code unavailable (503, try again) rather than an internal one. Other errors
// are returned as they are.
func unavailable(err error) error {
	if !Unavailable(err) {
		return err
	}
	return &unavailableError{err: err}
}

type unavailableError struct{ err error }

func (e *unavailableError) Error() string { return e.err.Error() }
func (e *unavailableError) Unwrap() error { return e.err }

// As lets errors.As find a *hookstream.Error of code unavailable in the chain, without the cause's text,
// which names internals.
func (e *unavailableError) As(target any) bool {
	t, ok := target.(**hookstream.Error)
	if ok {
		*t = &hookstream.Error{Code: hookstream.CodeUnavailable, Message: "the message broker is unavailable; try again shortly"}
	}
	return ok
}
