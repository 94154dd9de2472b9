package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/hookstream/hookstream"
	"github.com/hookstream/hookstream/broker"
	"github.com/hookstream/hookstream/tracing"
	"go.opentelemetry.io/otel/attribute"
)

// MaxBatchEvents bounds the events of one POST /event/{tenantLocator}/events/batch.
const MaxBatchEvents = 1000

// MaxBatchBodyBytes bounds the body of a batch ingest, in place of MaxBodyBytes: room for a full batch of
// typical events, while a single event's data keeps its own bound.
const MaxBatchBodyBytes = 8 << 20

// batchPathSuffix ends the batch ingest route's path; the body limit is chosen by it before routing.
const batchPathSuffix = "/events/batch"

// bodyLimit is the body bound of a request: MaxBatchBodyBytes for a batch ingest, MaxBodyBytes otherwise.
func bodyLimit(r *http.Request) int64 {
	if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, batchPathSuffix) {
		return MaxBatchBodyBytes
	}
	return MaxBodyBytes
}

// ingestInput checks a decoded ingest body for tenant and turns it into what the broker appends; msgID is
// the event's idempotency message id, if any.
func ingestInput(tenant string, req *eventRequest, msgID string) (broker.EventInput, error) {
	if req.Type == "" {
		return broker.EventInput{}, hookstream.Invalid("type", "is required")
	}
	if len(req.Data) == 0 || string(req.Data) == "null" {
		return broker.EventInput{}, hookstream.Invalid("data", "is required and must be a JSON object")
	}
	if err := hookstream.CheckDecodedEvent(tenant, req.Type, req.Data); err != nil {
		return broker.EventInput{}, err
	}
	if err := hookstream.CheckRequestID("requestId", req.RequestID); err != nil {
		return broker.EventInput{}, err
	}
	return broker.EventInput{Tenant: tenant, Type: req.Type, Data: req.Data, RequestID: req.RequestID, MsgID: msgID}, nil
}

// idempotencyKey reads and bounds the Idempotency-Key header.
func idempotencyKey(r *request) (string, error) {
	key := r.Header.Get("Idempotency-Key")
	if len(key) > MaxIdempotencyKeyLength {
		return "", hookstream.Invalid("Idempotency-Key", "must be at most %d characters", MaxIdempotencyKeyLength)
	}
	return key, nil
}

// batchRequest is the body of POST /event/{tenantLocator}/events/batch.
type batchRequest struct {
	Events []json.RawMessage `json:"events"`
}

// batchResult is one event's answer in a batch: the EventResponse of the single route's 202, or the error
// body of its 4xx/5xx.
type batchResult struct {
	*hookstream.Event
	Error *errorBody `json:"error,omitempty"`
}

// batchResponse answers a batch: one result per event, in the order given.
type batchResponse struct {
	Results []batchResult `json:"results"`
}

// publishBatch ingests up to MaxBatchEvents events in one request. Each event is checked, stored and answered
// on its own: an invalid one fails alone, with its index in the field named, and the others are stored. The
// publishes go out together and the answer waits for every ack, so each locator answered is stored. An
// Idempotency-Key makes the whole batch repeatable: event i of a repeat returns event i of the first.
func (a *API) publishBatch(w http.ResponseWriter, r *request) error {
	body, err := readBody(r.Request)
	if err != nil {
		return err
	}
	elems, err := decodeBatch(body)
	if err != nil {
		return err
	}
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	given, _ := tracing.Parse(r.Header.Get("Traceparent"), r.Header.Get("Tracestate"))
	span := a.tracer.Start(r.Context(), "hookstream.ingest", tracing.KindServer, given)
	defer span.End()
	trace := span.Context(given)

	results := make([]batchResult, len(elems))
	inputs := make([]broker.EventInput, 0, len(elems))
	index := make([]int, 0, len(elems)) // inputs[k] is event index[k] of the batch
	for i, elem := range elems {
		var req eventRequest
		err := decodeIngest(elem, &req, true) // the batch's decoding has checked its syntax
		var in broker.EventInput
		if err == nil {
			var msgID string
			if key != "" {
				msgID = broker.BatchIdempotencyMsgID(r.tenant, key, i)
			}
			in, err = ingestInput(r.tenant, &req, msgID)
		}
		if err != nil {
			results[i].Error = a.batchError(r, err, i)
			continue
		}
		in.Trace = trace
		inputs = append(inputs, in)
		index = append(index, i)
	}
	events, errs := a.deliveries.PublishEvents(r.Context(), inputs)
	stored := 0
	for k, i := range index {
		if errs[k] != nil {
			results[i].Error = a.batchError(r, errs[k], i)
			continue
		}
		results[i].Event = events[k]
		stored++
	}
	if span.Recording() {
		span.SetAttributes(attribute.String("hookstream.tenant", r.tenant), attribute.Int("hookstream.batch.events", len(elems)),
			attribute.Int("hookstream.batch.stored", stored))
	}
	if stored < len(elems) {
		span.Fail("not every event ingested")
	}
	writeJSON(w, http.StatusAccepted, batchResponse{Results: results})
	return nil
}

// batchError is the error body of event i of a batch: the single route's, with the field prefixed by the
// event's place in the batch. An error that is not a domain error is logged and answered without its text.
func (a *API) batchError(r *request, err error, i int) *errorBody {
	var de *hookstream.Error
	if !errors.As(brokerError(err), &de) {
		a.log.ErrorContext(r.Context(), "batch event failed", "request_id", requestID(r.Request), "index", i, "err", err)
		return &errorBody{Code: hookstream.CodeInternal, Message: "internal error; request id " + requestID(r.Request), Field: eventField(i, "")}
	}
	return &errorBody{Code: de.Code, Message: de.Message, Field: eventField(i, de.Field)}
}

// eventField names field of event i of a batch: "events[3].type"; the event as a whole for "body" or none.
func eventField(i int, field string) string {
	if field == "" || field == "body" {
		return fmt.Sprintf("events[%d]", i)
	}
	return fmt.Sprintf("events[%d].%s", i, field)
}

// decodeBatch splits a batch body into its events' raw bodies, in one pass over a well-formed body; anything
// else is refused by the strict decoder, which names the field at fault.
func decodeBatch(body []byte) ([]json.RawMessage, error) {
	elems, ok := scanBatch(body)
	if !ok {
		// Counted before the strict decoder copies them: millions of tiny elements fit in the body limit.
		if n := countBatch(body); n > MaxBatchEvents {
			return nil, hookstream.Invalid("events", "must hold at most %d events", MaxBatchEvents)
		}
		var req batchRequest
		if err := decodeJSON(body, &req); err != nil {
			return nil, err
		}
		elems = req.Events
	}
	if len(elems) == 0 {
		return nil, hookstream.Invalid("events", "is required: 1 to %d events", MaxBatchEvents)
	}
	if len(elems) > MaxBatchEvents {
		return nil, hookstream.Invalid("events", "must hold at most %d events", MaxBatchEvents)
	}
	return elems, nil
}

// countBatch counts the elements of a body's top-level "events" array, up to one past MaxBatchEvents, without
// keeping them; 0 when the body has no such array or is not valid JSON (the strict decoder then says why).
func countBatch(body []byte) int {
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return 0
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return 0
		}
		if k, _ := key.(string); !strings.EqualFold(k, "events") { // the strict decoder matches names so too
			var skip json.RawMessage
			if dec.Decode(&skip) != nil {
				return 0
			}
			continue
		}
		if t, err := dec.Token(); err != nil || t != json.Delim('[') {
			return 0
		}
		n := 0
		for dec.More() && n <= MaxBatchEvents {
			var skip json.RawMessage
			if dec.Decode(&skip) != nil {
				return 0
			}
			n++
		}
		return n
	}
	return 0
}

// scanBatch reads {"events":[...]} when the body is valid JSON of exactly that shape (whitespace aside),
// returning the elements as slices of body.
func scanBatch(body []byte) ([]json.RawMessage, bool) {
	if !json.Valid(body) {
		return nil, false
	}
	i := skipSpace(body, 0)
	if body[i] != '{' {
		return nil, false
	}
	i = skipSpace(body, i+1)
	key, end, ok := plainString(body, i)
	if !ok || key != "events" {
		return nil, false
	}
	i = skipSpace(body, skipSpace(body, end)+1) // past the colon
	if body[i] != '[' {
		return nil, false
	}
	var elems []json.RawMessage
	i = skipSpace(body, i+1)
	for body[i] != ']' {
		if len(elems) == MaxBatchEvents {
			return append(elems, nil), true // one too many: refused by its count, with no more read
		}
		end := skipValue(body, i)
		elems = append(elems, body[i:end:end])
		i = skipSpace(body, end)
		if body[i] == ',' {
			i = skipSpace(body, i+1)
		}
	}
	i = skipSpace(body, i+1)
	return elems, body[i] == '}' // a second key is left to the strict decoder
}

// decodeIngest decodes one ingest body into req; valid says a decoder has already found it to be valid JSON.
// A body that is valid JSON of the plain shape (an object with
// at most the fields type, requestId and data, each once and spelled exactly, the strings without escapes or
// non-ASCII bytes, data an object) is read in one pass; any other goes to the strict decoder, which decides
// and names the field at fault, so both paths answer alike.
func decodeIngest(body []byte, req *eventRequest, valid bool) error {
	if (valid || json.Valid(body)) && scanIngest(body, req) {
		return nil
	}
	*req = eventRequest{}
	return decodeJSON(body, req)
}

// scanIngest reads a body known to be valid JSON when it has the plain shape decodeIngest describes.
func scanIngest(body []byte, req *eventRequest) bool {
	i := skipSpace(body, 0)
	if body[i] != '{' {
		return false
	}
	i = skipSpace(body, i+1)
	if body[i] == '}' {
		return false
	}
	var seenType, seenData, seenID bool
	for {
		key, end, ok := plainString(body, i)
		if !ok {
			return false
		}
		i = skipSpace(body, skipSpace(body, end)+1) // past the colon
		vend := skipValue(body, i)
		switch key {
		case "type", "requestId":
			s, _, ok := plainString(body, i)
			if !ok || (key == "type" && seenType) || (key == "requestId" && seenID) {
				return false
			}
			if key == "type" {
				req.Type, seenType = s, true
			} else {
				req.RequestID, seenID = s, true
			}
		case "data":
			if seenData || body[i] != '{' {
				return false
			}
			req.Data, seenData = json.RawMessage(body[i:vend:vend]), true
		default:
			return false
		}
		i = skipSpace(body, vend)
		if body[i] == '}' {
			return true
		}
		i = skipSpace(body, i+1) // past the comma
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// plainString reads the string starting at b[i] when it has no escape and only ASCII (so its bytes are its
// value), returning it and the index past its closing quote.
func plainString(b []byte, i int) (string, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return "", 0, false
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return string(b[i+1 : j]), j + 1, true
		case c == '\\' || c >= 0x80:
			return "", 0, false
		}
	}
	return "", 0, false
}

// skipValue returns the index past the JSON value starting at b[i], in a document known to be valid.
func skipValue(b []byte, i int) int {
	depth := 0
	for ; i < len(b); i++ {
		switch b[i] {
		case '"':
			for i++; b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
			if depth == 0 {
				return i + 1
			}
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return i
			}
			if depth--; depth == 0 {
				return i + 1
			}
		case ',', ' ', '\t', '\n', '\r':
			if depth == 0 {
				return i
			}
		}
	}
	return i
}
