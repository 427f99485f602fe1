package authserver

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-oauth/caddy-oauth/authserver/keys"
	"github.com/caddy-oauth/caddy-oauth/authserver/oautherr"
	"github.com/caddy-oauth/caddy-oauth/authserver/profile"
	"github.com/caddy-oauth/caddy-oauth/authserver/requestobject"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
	"github.com/caddy-oauth/caddy-oauth/jwa"
)

// JWT-secured authorization requests (RFC 9101): the request parameter carries the
// authorization request as a JWT signed by the client (package requestobject). By value at the
// authorization endpoint or inside a pushed request; by reference only as a PAR request_uri.

// RequestObjectConfig configures request objects.
type RequestObjectConfig struct {
	// Disabled refuses the request parameter (request_not_supported).
	Disabled bool
	// Required makes every client send signed request objects (require_signed_request_object).
	Required bool
	// MaxLifetime bounds how far ahead a request object's exp may be (default 60 minutes, the
	// most FAPI 2.0 Message Signing allows).
	MaxLifetime time.Duration
	// Encryption accepts request objects encrypted to the server (JWE, RFC 9101 §6.1): the
	// server then keeps RSA-OAEP-256 and ECDH-ES keys, rotated like its signing keys and
	// published in the JWKS with use "enc".
	Encryption bool
}

func (c *RequestObjectConfig) withDefaults() error {
	if c.MaxLifetime == 0 {
		c.MaxLifetime = requestobject.DefaultMaxLifetime
	}
	if c.MaxLifetime < time.Minute || c.MaxLifetime > 24*time.Hour {
		return fmt.Errorf("request_objects max_lifetime %s: want 1m to 24h", c.MaxLifetime)
	}
	if c.Disabled && (c.Required || c.Encryption) {
		return errors.New("request_objects: off contradicts required and encryption")
	}
	return nil
}

// jarMetadata are the request object discovery fields (RFC 9101 §10.5, OIDC Discovery §3).
type jarMetadata struct {
	RequestParameterSupported              bool     `json:"request_parameter_supported"`
	RequestURIParameterSupported           bool     `json:"request_uri_parameter_supported"`
	RequestObjectSigningAlgValuesSupported []string `json:"request_object_signing_alg_values_supported,omitempty"`
	RequireSignedRequestObject             bool     `json:"require_signed_request_object,omitempty"`
	// Only with encryption on.
	RequestObjectEncryptionAlgValuesSupported []string `json:"request_object_encryption_alg_values_supported,omitempty"`
	RequestObjectEncryptionEncValuesSupported []string `json:"request_object_encryption_enc_values_supported,omitempty"`
}

func (s *Server) jarDiscovery() jarMetadata {
	if s.cfg.RequestObjects.Disabled {
		return jarMetadata{}
	}
	server := profile.Resolve(s.cfg.Profile, "")
	m := jarMetadata{
		RequestParameterSupported: true,
		// request_uri is only ever a PAR URN here; RFC 9101 §10.5 means fetching by reference.
		RequestURIParameterSupported:           false,
		RequestObjectSigningAlgValuesSupported: slices.DeleteFunc(jwa.Asymmetric(), func(a string) bool { return !server.AllowsAlg(a) }),
		RequireSignedRequestObject:             s.cfg.RequestObjects.Required,
	}
	if s.cfg.RequestObjects.Encryption {
		m.RequestObjectEncryptionAlgValuesSupported = s.keys.EncAlgs()
		m.RequestObjectEncryptionEncValuesSupported = jwa.ContentEncryption()
	}
	return m
}

// encryptionKeyAlgs are the encryption keys the server keeps: only when some feature decrypts.
func (c Config) encryptionKeyAlgs() []string {
	if c.RequestObjects.Encryption {
		return keys.EncryptionAlgs()
	}
	return nil
}

func (s *Server) newRequestObjects() *requestobject.Verifier {
	v := &requestobject.Verifier{Issuer: s.cfg.Issuer, Keys: s.auth, Replay: s.st, Now: s.now, MaxLifetime: s.cfg.RequestObjects.MaxLifetime}
	if s.cfg.RequestObjects.Encryption {
		v.Decrypter = s.keys
	}
	return v
}

// signedRequestRequired reports whether client's authorization requests must be request objects.
func (s *Server) signedRequestRequired(client *store.Client) bool {
	return s.cfg.RequestObjects.Required || client.Security.RequireSignedRequestObject || s.policy(client).RequireSignedRequestObject
}

// requestObject verifies q's request parameter and returns the object's parameters (RFC 9101
// §6.3: only those count; the query's other parameters are dropped).
func (s *Server) requestObject(ctx context.Context, client *store.Client, q url.Values) (url.Values, *oautherr.Error) {
	if s.cfg.RequestObjects.Disabled {
		return nil, oautherr.New(oautherr.RequestNotSupported, "request objects are not accepted by this server")
	}
	params, err := s.requestObjects.Verify(ctx, client, s.policy(client), q.Get("request"))
	if err != nil {
		e := oautherr.As(err)
		if e.Code == oautherr.ServerError {
			s.log.Error("verifying a request object failed", zap.Error(err))
		}
		return nil, e
	}
	// OIDC Core §6.1: the query's response_type, when it repeats one, must be the object's.
	if rt := q.Get("response_type"); rt != "" && params.Get("response_type") != "" && rt != params.Get("response_type") {
		return nil, oautherr.New(oautherr.InvalidRequestObject, "the request's response_type differs from the request object's")
	}
	return params, nil
}
