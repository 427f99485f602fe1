package authserver

import (
	"context"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/signedresponse"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
	"github.com/caddy-oauth/caddy-oauth/jwa"
)

// JWT-secured authorization responses (JARM) and JWT introspection responses (RFC 9701): the
// answer goes out as a JWT signed by the server (package signedresponse), so the client can
// check where it came from and that nobody changed it on the way.

// JARM response modes (JARM §2.3). "jwt" is the default JWT mode of the response type: for
// code, query.jwt.
const (
	modeJWT         = "jwt"
	modeQueryJWT    = "query.jwt"
	modeFragmentJWT = "fragment.jwt"
	modeFormPostJWT = "form_post.jwt"
)

// jarmLifetime is how long a JARM response JWT is valid. The code inside expires sooner (60 s by
// default); the margin only absorbs clock differences between the client and the server.
const jarmLifetime = 5 * time.Minute

// Media type and JWT typ of RFC 9701 introspection responses.
const introspectionJWTType = "token-introspection+jwt"

// responseModes are the response modes discovery advertises and parseAuthRequest accepts.
func responseModes() []string {
	return []string{modeQuery, modeFragment, modeFormPost, modeJWT, modeQueryJWT, modeFragmentJWT, modeFormPostJWT}
}

// jwtModeBase returns the plain mode that carries a JWT mode's response parameter, and whether
// mode is a JWT mode at all.
func jwtModeBase(mode string) (string, bool) {
	switch mode {
	case modeQueryJWT:
		return modeQuery, true
	case modeFragmentJWT:
		return modeFragment, true
	case modeFormPostJWT:
		return modeFormPost, true
	}
	return mode, false
}

// jarmMetadata are the JARM and RFC 9701 discovery fields.
type jarmMetadata struct {
	AuthorizationSigningAlgValuesSupported    []string `json:"authorization_signing_alg_values_supported,omitempty"`
	AuthorizationEncryptionAlgValuesSupported []string `json:"authorization_encryption_alg_values_supported,omitempty"`
	AuthorizationEncryptionEncValuesSupported []string `json:"authorization_encryption_enc_values_supported,omitempty"`
	IntrospectionSigningAlgValuesSupported    []string `json:"introspection_signing_alg_values_supported,omitempty"`
	IntrospectionEncryptionAlgValuesSupported []string `json:"introspection_encryption_alg_values_supported,omitempty"`
	IntrospectionEncryptionEncValuesSupported []string `json:"introspection_encryption_enc_values_supported,omitempty"`
}

func (s *Server) jarmDiscovery() jarmMetadata {
	algs := s.keys.Algs()
	return jarmMetadata{
		AuthorizationSigningAlgValuesSupported:    algs,
		AuthorizationEncryptionAlgValuesSupported: jwa.KeyManagement(),
		AuthorizationEncryptionEncValuesSupported: jwa.ContentEncryption(),
		IntrospectionSigningAlgValuesSupported:    algs,
		IntrospectionEncryptionAlgValuesSupported: jwa.KeyManagement(),
		IntrospectionEncryptionEncValuesSupported: jwa.ContentEncryption(),
	}
}

func (s *Server) signedResponses() *signedresponse.Maker {
	return &signedresponse.Maker{Signer: s.keys, Keys: s.auth}
}

// responseAlg is the JWS alg of a signed response to client: the one it registered, else RS256
// (the default of JARM §3 and RFC 9701 §6) when the client's profile allows it and the server
// holds an RS256 key, else the first alg the server holds that the profile allows.
func (s *Server) responseAlg(client *store.Client, registered string) (string, error) {
	if registered != "" {
		return registered, nil
	}
	policy, held := s.policy(client), s.keys.Algs()
	for _, alg := range append([]string{"RS256"}, held...) {
		if policy.AllowsAlg(alg) && slices.Contains(held, alg) {
			return alg, nil
		}
	}
	return "", fmt.Errorf("no signing key for a signed response to client %q: add an allowed alg to signing_algs", client.ID)
}

// jarmResponse is the JARM response JWT carrying params (JARM §2.1): iss, aud and exp beside
// the authorization response parameters.
func (s *Server) jarmResponse(ctx context.Context, to *responseTarget, params url.Values) (string, error) {
	client, err := s.lookups.GetClient(ctx, to.ClientID)
	if err != nil {
		return "", err
	}
	sec := client.Security
	alg, err := s.responseAlg(client, sec.AuthorizationSignedResponseAlg)
	if err != nil {
		return "", err
	}
	claims := map[string]any{"aud": client.ID, "exp": s.now().Add(jarmLifetime).Unix()}
	for k := range params {
		claims[k] = params.Get(k)
	}
	spec := signedresponse.Spec{SignAlg: alg, EncAlg: sec.AuthorizationEncryptedResponseAlg, Enc: sec.AuthorizationEncryptedResponseEnc}
	return s.signedResponses().Make(ctx, client, spec, claims)
}

// wantsIntrospectionJWT reports whether the caller asked for an RFC 9701 response (§4).
func wantsIntrospectionJWT(r *http.Request) bool {
	for _, accept := range r.Header.Values("Accept") {
		for _, part := range strings.Split(accept, ",") {
			if mt, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && mt == "application/"+introspectionJWTType {
				return true
			}
		}
	}
	return false
}

// writeIntrospectionJWT answers an introspection as an RFC 9701 JWT to caller (§5): iss, aud,
// iat and the usual response under token_introspection.
func (s *Server) writeIntrospectionJWT(w http.ResponseWriter, r *http.Request, caller *store.Client, resp map[string]any) {
	sec := caller.Security
	alg, err := s.responseAlg(caller, sec.IntrospectionSignedResponseAlg)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	claims := map[string]any{"iss": s.cfg.Issuer, "aud": caller.ID, "iat": s.now().Unix(), "token_introspection": resp}
	spec := signedresponse.Spec{SignAlg: alg, Typ: introspectionJWTType, EncAlg: sec.IntrospectionEncryptedResponseAlg, Enc: sec.IntrospectionEncryptedResponseEnc}
	token, err := s.signedResponses().Make(r.Context(), caller, spec, claims)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/"+introspectionJWTType)
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(token))
}
