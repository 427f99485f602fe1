package authserver

import (
	"slices"
	"strings"

	"github.com/caddy-oauth/caddy-oauth/authserver/spec"
)

// parseScope splits a scope parameter into distinct tokens in request order. ok is false when a
// token is malformed (which includes doubled or leading spaces, as the grammar has single SPs).
func parseScope(param string) (scopes []string, ok bool) {
	if param == "" {
		return nil, true
	}
	for _, s := range strings.Split(param, " ") {
		if !spec.ValidScopeToken(s) {
			return nil, false
		}
		if !slices.Contains(scopes, s) {
			scopes = append(scopes, s)
		}
	}
	return scopes, true
}

// allowedBy reports whether scope is permitted by an allowlist; a nil list allows everything.
func allowedBy(list []string, scope string) bool {
	return list == nil || slices.Contains(list, scope)
}

// defaultScopes is what a request without scope gets: everything both the client and the
// resource allow (a nil list on both sides means no scope at all, rather than "everything").
func defaultScopes(clientScopes, resourceScopes []string) []string {
	switch {
	case clientScopes == nil && resourceScopes == nil:
		return nil
	case clientScopes == nil:
		return resourceScopes
	case resourceScopes == nil:
		return clientScopes
	}
	var out []string
	for _, s := range clientScopes {
		if slices.Contains(resourceScopes, s) {
			out = append(out, s)
		}
	}
	return out
}
