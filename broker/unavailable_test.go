package broker

import (
	"errors"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestUnavailableCoversAsyncPublishing: an ingest whose asynchronous publish stalled or was never acked is
// answered 503 with Retry-After, as a synchronous one that timed out is, never 500.
func TestUnavailableCoversAsyncPublishing(t *testing.T) {
	for _, err := range []error{jetstream.ErrTooManyStalledMsgs, jetstream.ErrAsyncPublishTimeout, nats.ErrReconnectBufExceeded, nats.ErrTimeout} {
		wrapped := fmt.Errorf("publish event: %w", err)
		if !Unavailable(wrapped) {
			t.Errorf("%v is not counted as NATS being unavailable", err)
		}
		if e := unavailable(wrapped); !errors.Is(e, err) {
			t.Errorf("marking %v lost it: %v", err, e)
		}
	}
	if Unavailable(errors.New("stream not found")) {
		t.Error("an answer counted as NATS being unavailable")
	}
}
