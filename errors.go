// Package hookstream is the domain of the webhook delivery engine: webhooks, tokens and events, the change
// events that record every change to them, the rules that validate commands and the folds that turn change
// events back into state. It imports no NATS, bbolt or HTTP code so that the rules can be tested alone and
// reused by every API face.
package hookstream

import (
	"errors"
	"fmt"
)

// ErrorCode classifies an Error so that each API face can map it to a status code in one place.
type ErrorCode string

// The error codes the domain returns.
const (
	CodeInvalid      ErrorCode = "invalid"
	CodeNotFound     ErrorCode = "not_found"
	CodeConflict     ErrorCode = "conflict"
	CodeUnauthorized ErrorCode = "unauthorized"
	CodeForbidden    ErrorCode = "forbidden"
	CodeTooLarge     ErrorCode = "too_large"
	CodeUnavailable  ErrorCode = "unavailable"
	CodeInternal     ErrorCode = "internal"
)

// Error is a domain error: a code, a message for humans and, when one input is at fault, its field path
// (for example "endpoint.url" or "failureHandling.retryStrategy.attempts").
type Error struct {
	Code    ErrorCode
	Message string
	Field   string
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s", e.Field, e.Message)
	}
	return e.Message
}

// Invalid reports bad input in field.
func Invalid(field, format string, args ...any) *Error {
	return &Error{Code: CodeInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// NotFound reports that the named thing does not exist (or is not visible to the caller).
func NotFound(format string, args ...any) *Error {
	return &Error{Code: CodeNotFound, Message: fmt.Sprintf(format, args...)}
}

// Forbidden reports a caller that lacks a permission or a tenant.
func Forbidden(format string, args ...any) *Error {
	return &Error{Code: CodeForbidden, Message: fmt.Sprintf(format, args...)}
}

// Unauthorized reports a missing, unknown, revoked or expired token.
func Unauthorized(format string, args ...any) *Error {
	return &Error{Code: CodeUnauthorized, Message: fmt.Sprintf(format, args...)}
}

// Conflict reports a write that lost a race and could not be retried.
func Conflict(format string, args ...any) *Error {
	return &Error{Code: CodeConflict, Message: fmt.Sprintf(format, args...)}
}

// ErrorCodeOf returns the code of the first *Error in err's chain, or CodeInternal.
func ErrorCodeOf(err error) ErrorCode {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}
