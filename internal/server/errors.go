package server

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// apiError is an error answered in the OpenAI error-body shape:
//
//	{"error": {"message": "...", "type": "...", "param": "...", "code": "..."}}
type apiError struct {
	Status  int    `json:"-"`
	Message string `json:"message"`
	Type    string `json:"type"`
	Param   any    `json:"param"` // the offending request field, or null
	Code    any    `json:"code"`  // a short machine-readable code, or null
}

func (e *apiError) Error() string { return e.Message }

// badRequest is a 400 about the request field param ("" for the whole body).
func badRequest(param, format string, args ...any) *apiError {
	e := &apiError{Status: http.StatusBadRequest, Message: fmt.Sprintf(format, args...), Type: "invalid_request_error"}
	if param != "" {
		e.Param = param
	}
	return e
}

func errNotFound(format string, args ...any) *apiError {
	return &apiError{Status: http.StatusNotFound, Message: fmt.Sprintf(format, args...), Type: "invalid_request_error", Code: "not_found"}
}

func errModelNotFound(name, served string) *apiError {
	return &apiError{Status: http.StatusNotFound, Type: "invalid_request_error", Param: "model", Code: "model_not_found",
		Message: fmt.Sprintf("the model %q does not exist; this server serves %q (see GET /v1/models)", name, served)}
}

func errMethod(method, path, allowed string) *apiError {
	return &apiError{Status: http.StatusMethodNotAllowed, Type: "invalid_request_error", Code: "method_not_allowed",
		Message: fmt.Sprintf("method %s is not allowed on %s (use %s)", method, path, allowed)}
}

func errTooLarge(limit int64) *apiError {
	return &apiError{Status: http.StatusRequestEntityTooLarge, Type: "invalid_request_error", Code: "request_too_large",
		Message: fmt.Sprintf("request body is larger than the limit of %d bytes", limit)}
}

func errUnauthorized() *apiError {
	return &apiError{Status: http.StatusUnauthorized, Type: "invalid_request_error", Code: "invalid_api_key",
		Message: "missing or incorrect API key: send the header 'Authorization: Bearer KEY' with the key given to --api-key"}
}

func errQueueFull(parallel, queue int) *apiError {
	return &apiError{Status: http.StatusTooManyRequests, Type: "rate_limit_error", Code: "queue_full",
		Message: fmt.Sprintf("server is busy: %d sequences are generating and the queue of %d is full; retry later", parallel, queue)}
}

func errShuttingDown() *apiError {
	return &apiError{Status: http.StatusServiceUnavailable, Type: "server_error", Code: "shutting_down",
		Message: "server is shutting down and takes no new work"}
}

func errDeadline(timeout fmt.Stringer, while string) *apiError {
	return &apiError{Status: http.StatusGatewayTimeout, Type: "server_error", Code: "timeout",
		Message: fmt.Sprintf("request exceeded the deadline of %s while %s", timeout, while)}
}

func errInternal(err error) *apiError {
	return &apiError{Status: http.StatusInternalServerError, Type: "server_error", Code: "internal_error",
		Message: "generation failed: " + err.Error()}
}

// writeError answers e as JSON with its status.
func writeError(w http.ResponseWriter, e *apiError) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	switch e.Status {
	case http.StatusTooManyRequests:
		h.Set("Retry-After", "1")
	case http.StatusUnauthorized:
		h.Set("WWW-Authenticate", `Bearer realm="unswift"`)
	}
	w.WriteHeader(e.Status)
	json.NewEncoder(w).Encode(struct {
		Error *apiError `json:"error"`
	}{e})
}
