package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/kassa/kassa"
)

// WriteJSON answers with v as JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, err = w.Write(append(b, '\n'))
	return err
}

// DecodeJSON reads the request body into v. It insists on a JSON content
// type, one object, no unknown fields, and the route's size limit; each
// failure is its own problem.
func DecodeJSON(r *http.Request, v any) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return kassa.Errorf(kassa.EInvalid, "unsupported_media_type",
			"the body must be JSON, sent with 'Content-Type: application/json'")
	}
	// The body is read whole (the route's limit bounds it) to look for
	// NUL characters first: no field has a use for them, and PostgreSQL
	// refuses them in text (the request would end in a 500).
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return jsonError(err)
	}
	if hasNULEscape(body) {
		return kassa.Errorf(kassa.EInvalid, "malformed_json", "the body's strings may not contain NUL characters (\\u0000)")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err != nil {
			return jsonError(err)
		}
		return kassa.Errorf(kassa.EInvalid, "malformed_json", "the body must hold exactly one JSON value")
	}
	return nil
}

// hasNULEscape reports whether JSON text holds the escape \u0000 (a raw
// NUL byte is not valid JSON): a backslash-u-0000 preceded by an even
// number of further backslashes.
func hasNULEscape(b []byte) bool {
	for {
		i := bytes.Index(b, []byte(`\u0000`))
		if i < 0 {
			return false
		}
		n := 1
		for j := i - 1; j >= 0 && b[j] == '\\'; j-- {
			n++
		}
		if n%2 == 1 {
			return true
		}
		b = b[i+1:]
	}
}

func jsonError(err error) error {
	var maxErr *http.MaxBytesError
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &maxErr):
		return kassa.Errorf(kassa.ETooLarge, "body_too_large", "the body is larger than %d bytes", maxErr.Limit)
	case errors.As(err, &syntaxErr):
		return kassa.Errorf(kassa.EInvalid, "malformed_json", "the body is not valid JSON (at byte %d)", syntaxErr.Offset)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return kassa.Errorf(kassa.EInvalid, "malformed_json", "the body is empty or cut short")
	case errors.As(err, &typeErr):
		return kassa.Invalid(typeErr.Field, "invalid_type", "%s must be %s", fieldName(typeErr.Field), jsonKind(typeErr.Type.Kind().String()))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return kassa.Invalid(field, "unknown_field", "unknown field %q", field)
	}
	return kassa.Errorf(kassa.EInvalid, "malformed_json", "the body could not be read as JSON")
}

func fieldName(f string) string {
	if f == "" {
		return "the body"
	}
	return f
}

func jsonKind(k string) string {
	switch k {
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer"
	case "float32", "float64":
		return "a number"
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "an array"
	case "map", "struct":
		return "an object"
	}
	return "of another type"
}
