package authserver

import (
	"context"
	"net/url"

	"github.com/caddy-oauth/caddy-oauth/authserver/oautherr"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// JWT-secured authorization requests (RFC 9101). STUB: the jar piece of issue 11 replaces
// this file's bodies (and adds its package and the server's encryption keys).

// RequestObjectConfig configures request objects.
type RequestObjectConfig struct {
	// Disabled refuses the request parameter (request_not_supported).
	Disabled bool
	// Required makes every client send signed request objects (require_signed_request_object).
	Required bool
	// Encryption accepts request objects encrypted to the server's encryption keys (JWE),
	// which are then kept, rotated and published in the JWKS with use "enc".
	Encryption bool
}

func (c *RequestObjectConfig) withDefaults() error { return nil }

// jarMetadata are the request object discovery fields (RFC 9101 §10.5, OIDC Discovery §3).
type jarMetadata struct {
	RequestParameterSupported                 bool     `json:"request_parameter_supported"`
	RequestURIParameterSupported              bool     `json:"request_uri_parameter_supported"`
	RequestObjectSigningAlgValuesSupported    []string `json:"request_object_signing_alg_values_supported,omitempty"`
	RequestObjectEncryptionAlgValuesSupported []string `json:"request_object_encryption_alg_values_supported,omitempty"`
	RequestObjectEncryptionEncValuesSupported []string `json:"request_object_encryption_enc_values_supported,omitempty"`
	RequireSignedRequestObject                bool     `json:"require_signed_request_object,omitempty"`
}

func (s *Server) jarDiscovery() jarMetadata { return jarMetadata{} }

// signedRequestRequired reports whether client's authorization requests must be request objects.
func (s *Server) signedRequestRequired(client *store.Client) bool {
	return s.cfg.RequestObjects.Required || client.Security.RequireSignedRequestObject || s.policy(client).RequireSignedRequestObject
}

// requestObject verifies q's request parameter and returns the object's parameters.
func (s *Server) requestObject(ctx context.Context, client *store.Client, q url.Values) (url.Values, *oautherr.Error) {
	return nil, oautherr.New(oautherr.RequestNotSupported, "request objects are not supported")
}
