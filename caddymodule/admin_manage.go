package caddymodule

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-oauth/caddy-oauth/authserver/manage"
	"github.com/caddy-oauth/caddy-oauth/authserver/spec"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// The management routes of the admin API (clients, resources, links, consents, grants,
// sessions, initial access tokens) translate HTTP to the issuer's manage.Service and back.
// Every rule and every write is the service's; this file holds what they share: bodies,
// paging, errors.

// maxManageBody bounds a client or resource document: a client's inline JWK Set alone may
// be 64 KiB.
const maxManageBody = 256 << 10

// Paging of list routes: ?limit= (default and maximum below) and ?after= (the "next" of the
// previous page).
const (
	defaultPageSize = 100
	maxPageSize     = 1000
)

// apiError is a caddy.APIError: the admin endpoint answers {"error": message} with status.
func apiError(status int, format string, args ...any) error {
	return caddy.APIError{HTTPStatus: status, Err: fmt.Errorf(format, args...)}
}

// manageError maps the service's errors to statuses: invalid input 400, missing 404, taken
// or owned by the configuration 409, anything else 500.
func manageError(err error) error {
	var specErr *spec.Error
	status := http.StatusInternalServerError
	switch {
	case errors.As(err, &specErr), errors.Is(err, store.ErrInvalidCursor):
		status = http.StatusBadRequest
	case errors.Is(err, manage.ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, manage.ErrExists), errors.Is(err, manage.ErrConfigured):
		status = http.StatusConflict
	}
	return caddy.APIError{HTTPStatus: status, Err: err}
}

// methodNotAllowed answers a method a route does not serve.
func methodNotAllowed(r *http.Request) error {
	return apiError(http.StatusMethodNotAllowed, "method not allowed: %s", r.Method)
}

// service finds the management service of the issuer named by ?issuer= (may be left out
// with one issuer).
func (a *adminAPI) service(r *http.Request) (*manage.Service, error) {
	srv, err := a.issuer(r.URL.Query().Get("issuer"))
	if err != nil {
		return nil, err
	}
	return srv.Manage(), nil
}

// readBody reads a request body of the media type want (parameters such as charset are
// allowed), at most maxManageBody bytes.
func readBody(w http.ResponseWriter, r *http.Request, want string) ([]byte, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != want {
		return nil, apiError(http.StatusUnsupportedMediaType, "Content-Type must be %s", want)
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxManageBody))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, apiError(http.StatusRequestEntityTooLarge, "request body is larger than %d bytes", maxManageBody)
	} else if err != nil {
		return nil, apiError(http.StatusBadRequest, "reading request: %v", err)
	}
	return b, nil
}

// decodeJSONBody decodes one JSON object of b into v; strict refuses unknown members (our own
// shapes; client metadata ignores them, like RFC 7591).
func decodeJSONBody(b []byte, v any, strict bool) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		return apiError(http.StatusBadRequest, "decoding request: %v", err)
	}
	if dec.Decode(&struct{}{}) != io.EOF {
		return apiError(http.StatusBadRequest, "decoding request: data after the JSON object")
	}
	return nil
}

// readJSON reads an application/json body into v.
func readJSON(w http.ResponseWriter, r *http.Request, v any, strict bool) error {
	b, err := readBody(w, r, "application/json")
	if err != nil {
		return err
	}
	return decodeJSONBody(b, v, strict)
}

// mergePatched applies the RFC 7396 merge patch in r's body (application/merge-patch+json)
// to the JSON of current and decodes the result into out.
func mergePatched(w http.ResponseWriter, r *http.Request, current, out any, strict bool) error {
	patchBytes, err := readBody(w, r, mergePatchType)
	if err != nil {
		return err
	}
	var patch any
	if err := json.Unmarshal(patchBytes, &patch); err != nil {
		return apiError(http.StatusBadRequest, "decoding merge patch: %v", err)
	}
	if _, ok := patch.(map[string]any); !ok {
		return apiError(http.StatusBadRequest, "a merge patch must be a JSON object")
	}
	base, err := json.Marshal(current)
	if err != nil {
		return err
	}
	var doc any
	if err := json.Unmarshal(base, &doc); err != nil {
		return err
	}
	merged, err := json.Marshal(mergePatch(doc, patch))
	if err != nil {
		return err
	}
	return decodeJSONBody(merged, out, strict)
}

// mergePatch is RFC 7396 §2: objects merge member by member, null removes, anything else
// replaces.
func mergePatch(target, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	t, ok := target.(map[string]any)
	if !ok {
		t = map[string]any{}
	}
	for k, v := range p {
		if v == nil {
			delete(t, k)
		} else {
			t[k] = mergePatch(t[k], v)
		}
	}
	return t
}

// page reads ?limit= and ?after=. It asks the store for one more than the limit, to know
// whether there is a next page.
func page(r *http.Request) (limit int, after string, err error) {
	q := r.URL.Query()
	limit = defaultPageSize
	if s := q.Get("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil || limit < 1 || limit > maxPageSize {
			return 0, "", apiError(http.StatusBadRequest, "limit must be 1 to %d", maxPageSize)
		}
	}
	return limit, q.Get("after"), nil
}

// nextCursor trims a page fetched with limit+1 rows and returns the cursor of the next page
// ("" when this is the last).
func nextCursor[T any](rows []T, limit int, cursor func(T) string) ([]T, string) {
	if len(rows) <= limit {
		return rows, ""
	}
	rows = rows[:limit]
	return rows, cursor(rows[limit-1])
}

// pathID returns the unescaped path segment after prefix and the rest of the path: IDs and
// resource identifiers are path-escaped, so "https:%2F%2Fapi.example" is one segment.
func pathID(r *http.Request, prefix string) (id, rest string, err error) {
	tail := strings.TrimPrefix(r.URL.EscapedPath(), prefix)
	seg, rest, _ := strings.Cut(tail, "/")
	if id, err = url.PathUnescape(seg); err != nil || id == "" {
		return "", "", apiError(http.StatusNotFound, "not found")
	}
	return id, rest, nil
}
