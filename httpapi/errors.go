package httpapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/hookstream/hookstream"
)

// statusOf maps a domain error code to an HTTP status, once for every route.
func statusOf(code hookstream.ErrorCode) int {
	switch code {
	case hookstream.CodeInvalid:
		return http.StatusBadRequest
	case hookstream.CodeNotFound:
		return http.StatusNotFound
	case hookstream.CodeConflict:
		return http.StatusConflict
	case hookstream.CodeUnauthorized:
		return http.StatusUnauthorized
	case hookstream.CodeForbidden:
		return http.StatusForbidden
	case hookstream.CodeTooLarge:
		return http.StatusRequestEntityTooLarge
	case hookstream.CodeUnavailable:
		return http.StatusServiceUnavailable
	case "method_not_allowed":
		return http.StatusMethodNotAllowed
	default:
		return http.StatusInternalServerError
	}
}

// errorBody is the Socotra-face error: {code, message, field}.
type errorBody struct {
	Code    hookstream.ErrorCode `json:"code"`
	Message string               `json:"message"`
	Field   string               `json:"field,omitempty"`
}

// writeError answers err. Errors that are not domain errors are internal: logged with the request id, and
// answered without their text, which may name internals.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var de *hookstream.Error
	if !errors.As(err, &de) {
		log.ErrorContext(r.Context(), "request failed", "request_id", requestID(r), "method", r.Method, "path", r.URL.Path, "err", err)
		de = &hookstream.Error{Code: hookstream.CodeInternal, Message: "internal error; request id " + requestID(r)}
	}
	status := statusOf(de.Code)
	if status < 500 {
		log.InfoContext(r.Context(), "request refused", "request_id", requestID(r), "method", r.Method, "status", status,
			"field", de.Field, "message", de.Message)
	}
	writeJSON(w, status, errorBody{Code: de.Code, Message: de.Message, Field: de.Field})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		status, data = http.StatusInternalServerError, []byte(`{"code":"internal","message":"encode response"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(data, '\n'))
}
