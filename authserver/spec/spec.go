// Package spec is the one validation contract of the authorization server: every rule about
// what a client, a resource, a client–resource link, an account and a URI may be is written
// here once. The Caddyfile and JSON provisioning, `caddy adapt`/`caddy validate`, the admin
// API, dynamic registration (RFC 7591), client ID metadata documents and the CLI all call it,
// so one invalid input is refused the same way, with the same words, wherever it comes from.
//
// The package holds rules and the mapping to stored rows, nothing else: no HTTP, no store
// access, no Caddy.
package spec

import (
	"fmt"
	"strings"
)

// RFC 7591 §3.2.2 error codes. Every Error carries one, so registration answers with it as is
// and the other entry points can show it.
const (
	CodeInvalidRedirectURI    = "invalid_redirect_uri"
	CodeInvalidClientMetadata = "invalid_client_metadata"
	// CodeInvalidValue is for inputs that are not client metadata (resources, links, accounts,
	// server settings).
	CodeInvalidValue = "invalid_value"
)

// Error is one refused input.
type Error struct {
	// Subject names what was refused: `client "web"`, `resource "https://api.example"`,
	// `account "alice"`; empty when the caller has no name for it yet.
	Subject string
	// Field is the setting, by its JSON name (RFC 7591 names for client metadata).
	Field string
	// Value is the offending value, for operators (logs, config errors, the admin API). It is
	// never sent to an OAuth client: Description leaves it out.
	Value string
	// Code is the RFC 7591 error code (or CodeInvalidValue).
	Code string
	// Msg says what is wrong, without quoting the value.
	Msg string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Subject != "" {
		b.WriteString(e.Subject)
		b.WriteString(": ")
	}
	b.WriteString(e.Field)
	if e.Value != "" {
		fmt.Fprintf(&b, " %q", e.Value)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// Description is the error for an OAuth client (RFC 7591 error_description): the field and
// what is wrong, never the value it sent.
func (e *Error) Description() string { return e.Field + ": " + e.Msg }

// Env is what the rules need to know about the server the input is for.
type Env struct {
	// SigningAlgs are the algorithms the server keeps signing keys for; nil skips the checks
	// that need them (e.g. a tool validating a client on its own).
	SigningAlgs []string
	// EnforceLinks is enforce_per_client_resources: a client's default resource must then be
	// one it is linked to.
	EnforceLinks bool
	// Placeholders tolerates Caddy placeholders ({env.X}) in values that are only resolved at
	// run time (`caddy adapt` checks a configuration before they are known).
	Placeholders bool
	// Profile is the server's security profile (package profile names; "" is none): the
	// clients that inherit it must meet its rules.
	Profile string
	// ExtensionGrantTypes are the grant types extension grants serve (package extension):
	// clients may be given them besides the built-in ones.
	ExtensionGrantTypes []string
}

// hasPlaceholder reports whether v holds a Caddy placeholder.
func hasPlaceholder(v string) bool {
	i := strings.IndexByte(v, '{')
	return i >= 0 && strings.IndexByte(v[i:], '}') > 0
}

// errorf builds an Error for field with a message that never includes the value.
func errorf(code, field, value, format string, args ...any) *Error {
	return &Error{Field: field, Value: value, Code: code, Msg: fmt.Sprintf(format, args...)}
}

// about sets the Subject of err when it is an *Error without one, and wraps other errors.
func about(subject string, err error) error {
	if err == nil {
		return nil
	}
	if e, ok := err.(*Error); ok {
		if e.Subject == "" {
			c := *e
			c.Subject = subject
			return &c
		}
		return e
	}
	return fmt.Errorf("%s: %w", subject, err)
}
