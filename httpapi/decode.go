package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"

	"github.com/hookstream/hookstream"
)

// MaxBodyBytes bounds every request body.
const MaxBodyBytes = 1 << 20

// decodeStrict decodes exactly one JSON value from the body into v, refusing unknown fields, wrong types and
// trailing data, with an error that names the field at fault.
func decodeStrict(r *http.Request, v any) error {
	data, err := readBody(r)
	if err != nil {
		return err
	}
	return decodeJSON(data, v)
}

func readBody(r *http.Request) ([]byte, error) {
	data, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, &hookstream.Error{Code: hookstream.CodeTooLarge, Field: "body", Message: fmt.Sprintf("request body exceeds %d bytes", tooBig.Limit)}
		}
		return nil, hookstream.Invalid("body", "could not read the request body")
	}
	return data, nil
}

// decodeLenient is decodeStrict that tolerates unknown fields, as Lithic's API does.
func decodeLenient(r *http.Request, v any) error {
	data, err := readBody(r)
	if err != nil {
		return err
	}
	return decodeJSONWith(data, v, true)
}

// decodeJSON is decodeStrict on bytes; fuzz targets call it directly.
func decodeJSON(data []byte, v any) error { return decodeJSONWith(data, v, false) }

func decodeJSONWith(data []byte, v any, allowUnknown bool) error {
	if trimmed := bytes.TrimSpace(data); len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		return hookstream.Invalid("body", "a JSON object is required")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if !allowUnknown {
		dec.DisallowUnknownFields()
	}
	err := dec.Decode(v)
	if err == nil {
		if _, err := dec.Token(); err != io.EOF {
			return hookstream.Invalid("body", "unexpected data after the JSON object")
		}
	} else if !json.Valid(data) {
		return jsonError(err)
	}
	// The document is valid JSON: walk it against the target type to name the field at fault, and to refuse
	// field names that encoding/json would have matched case-insensitively.
	if field, problem := fieldProblem(data, reflect.TypeOf(v), "", allowUnknown); field != "" {
		return hookstream.Invalid(field, "%s", problem)
	}
	if err != nil {
		return jsonError(err)
	}
	return nil
}

func jsonError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return hookstream.Invalid("body", "must be a JSON object")
		}
		return hookstream.Invalid(field, "must be %s, got JSON %s", typeName(typeErr.Type.String()), typeErr.Value)
	case errors.As(err, &syntaxErr):
		return hookstream.Invalid("body", "malformed JSON at byte %d: %v", syntaxErr.Offset, syntaxErr)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return hookstream.Invalid("body", "malformed JSON: unexpected end")
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name = strings.Trim(name, `"`)
		return hookstream.Invalid(name, "unknown field")
	}
	return hookstream.Invalid("body", "malformed JSON: %v", err)
}

// typeName turns a Go type into the JSON type a client would recognize.
func typeName(goType string) string {
	switch {
	case goType == "string" || goType == "*string":
		return "a string"
	case goType == "bool" || goType == "*bool":
		return "a boolean"
	case strings.Contains(goType, "int"):
		return "an integer"
	case strings.HasPrefix(goType, "[]") || strings.HasPrefix(goType, "*[]"):
		return "an array"
	case strings.HasPrefix(goType, "map"):
		return "an object"
	case strings.Contains(goType, "time.Time"):
		return "an RFC 3339 timestamp"
	default:
		return "an object"
	}
}
