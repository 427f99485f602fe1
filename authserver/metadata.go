package authserver

import (
	"encoding/json"
	"net/http"
	"slices"

	"github.com/caddy-oauth/caddy-oauth/authserver/account"
	"github.com/caddy-oauth/caddy-oauth/authserver/ciba"
	"github.com/caddy-oauth/caddy-oauth/authserver/clientauth"
	"github.com/caddy-oauth/caddy-oauth/authserver/device"
	"github.com/caddy-oauth/caddy-oauth/authserver/exchange"
	"github.com/caddy-oauth/caddy-oauth/authserver/jwtbearer"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
	"github.com/caddy-oauth/caddy-oauth/authserver/ui"
)

// Endpoint paths, relative to the issuer URL.
const (
	pathToken      = "/token"
	pathIntrospect = "/introspect"
	pathRevoke     = "/revoke"
	pathJWKS       = "/jwks"
	pathAuthorize  = "/authorize"
	pathResume     = "/authorize/resume"
	pathLogin      = "/login"
	pathConsent    = "/consent"
	pathUserinfo   = "/userinfo"
	pathEndSession = "/end_session"
)

// metadata is the RFC 8414 / OIDC Discovery document. It lists only what this server
// implements and has enabled; a field appears when the feature does.
type metadata struct {
	Issuer                                    string   `json:"issuer"`
	TokenEndpoint                             string   `json:"token_endpoint"`
	JWKSURI                                   string   `json:"jwks_uri"`
	IntrospectionEndpoint                     string   `json:"introspection_endpoint"`
	RevocationEndpoint                        string   `json:"revocation_endpoint"`
	ResponseTypesSupported                    []string `json:"response_types_supported"`
	GrantTypesSupported                       []string `json:"grant_types_supported"`
	TokenEndpointAuthMethodsSupported         []string `json:"token_endpoint_auth_methods_supported"`
	TokenEndpointAuthSigningAlgValues         []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	IntrospectionEndpointAuthMethodsSupported []string `json:"introspection_endpoint_auth_methods_supported"`
	IntrospectionEndpointAuthSigningAlgValues []string `json:"introspection_endpoint_auth_signing_alg_values_supported"`
	RevocationEndpointAuthMethodsSupported    []string `json:"revocation_endpoint_auth_methods_supported"`
	RevocationEndpointAuthSigningAlgValues    []string `json:"revocation_endpoint_auth_signing_alg_values_supported"`
	DPoPSigningAlgValuesSupported             []string `json:"dpop_signing_alg_values_supported"`
	// RegistrationEndpoint appears only when registration is on (its policy is not off).
	RegistrationEndpoint string `json:"registration_endpoint,omitempty"`

	// End-user flows (OIDC Discovery §3, RFC 8414 §2, RFC 9207, RP-Initiated Logout §2.1).
	AuthorizationEndpoint             string   `json:"authorization_endpoint"`
	UserinfoEndpoint                  string   `json:"userinfo_endpoint"`
	EndSessionEndpoint                string   `json:"end_session_endpoint"`
	ResponseModesSupported            []string `json:"response_modes_supported"`
	CodeChallengeMethodsSupported     []string `json:"code_challenge_methods_supported"`
	ScopesSupported                   []string `json:"scopes_supported"`
	SubjectTypesSupported             []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported  []string `json:"id_token_signing_alg_values_supported"`
	ClaimsSupported                   []string `json:"claims_supported"`
	PromptValuesSupported             []string `json:"prompt_values_supported"`
	ACRValuesSupported                []string `json:"acr_values_supported,omitempty"`
	UILocalesSupported                []string `json:"ui_locales_supported,omitempty"`
	AuthorizationResponseISSParameter bool     `json:"authorization_response_iss_parameter_supported"`
	ClaimsParameterSupported          bool     `json:"claims_parameter_supported"`
	// Back-Channel Logout 1.0 §2.1: always on (clients opt in with a backchannel_logout_uri).
	BackchannelLogoutSupported        bool `json:"backchannel_logout_supported"`
	BackchannelLogoutSessionSupported bool `json:"backchannel_logout_session_supported"`

	// OpenID Connect Front-Channel Logout 1.0 §3.
	frontchannelMetadata

	// Secured requests and responses (secured.go): PAR, request objects, JARM and JWT
	// introspection responses, mutual TLS.
	parMetadata
	jarMetadata
	jarmMetadata
	mtlsMetadata

	// RFC 8628 §4: present when the device authorization grant is on.
	deviceMetadata
	// CIBA Core §4: present when CIBA is on.
	cibaMetadata

	// draft-ietf-oauth-client-id-metadata-document §6: present (true) only when enabled.
	ClientIDMetadataDocumentSupported bool `json:"client_id_metadata_document_supported,omitempty"`
}

func (s *Server) buildMetadata() ([]byte, error) {
	grantTypes := make([]string, 0, len(s.grantHandlers))
	for _, g := range grantOrder {
		if _, ok := s.grantHandlers[g]; ok {
			grantTypes = append(grantTypes, g)
		}
	}
	grantTypes = append(grantTypes, s.cfg.extensionGrantTypes()...)
	algs := clientauth.AssertionAlgs()
	m := metadata{
		Issuer:                                    s.cfg.Issuer,
		TokenEndpoint:                             s.endpoint(pathToken),
		JWKSURI:                                   s.endpoint(pathJWKS),
		IntrospectionEndpoint:                     s.endpoint(pathIntrospect),
		RevocationEndpoint:                        s.endpoint(pathRevoke),
		ResponseTypesSupported:                    []string{"code"},
		ClientIDMetadataDocumentSupported:         s.cfg.ClientIDMetadataDocuments.Enabled,
		GrantTypesSupported:                       grantTypes,
		TokenEndpointAuthMethodsSupported:         clientAuthMethods(pathToken),
		TokenEndpointAuthSigningAlgValues:         algs,
		IntrospectionEndpointAuthMethodsSupported: clientAuthMethods(pathIntrospect),
		IntrospectionEndpointAuthSigningAlgValues: algs,
		RevocationEndpointAuthMethodsSupported:    clientAuthMethods(pathRevoke),
		RevocationEndpointAuthSigningAlgValues:    algs,
		DPoPSigningAlgValuesSupported:             s.dpopAlgs(),
		RegistrationEndpoint:                      s.registrationEndpoint(),

		AuthorizationEndpoint:             s.endpoint(pathAuthorize),
		UserinfoEndpoint:                  s.endpoint(pathUserinfo),
		EndSessionEndpoint:                s.endpoint(pathEndSession),
		ResponseModesSupported:            responseModes(),
		CodeChallengeMethodsSupported:     s.pkceMethods(),
		ScopesSupported:                   identityScopes,
		SubjectTypesSupported:             []string{"public", "pairwise"},
		IDTokenSigningAlgValuesSupported:  s.keys.Algs(),
		ClaimsSupported:                   append([]string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "azp", "sid", "at_hash"}, account.SupportedClaims()...),
		PromptValuesSupported:             validPrompts,
		ACRValuesSupported:                s.cfg.ACRValues,
		UILocalesSupported:                ui.Languages(),
		AuthorizationResponseISSParameter: true,
		ClaimsParameterSupported:          true,
		BackchannelLogoutSupported:        true,
		BackchannelLogoutSessionSupported: true,
		frontchannelMetadata:              frontchannelDiscovery(),
		parMetadata:                       s.parDiscovery(),
		jarMetadata:                       s.jarDiscovery(),
		jarmMetadata:                      s.jarmDiscovery(),
		mtlsMetadata:                      s.mtlsDiscovery(),
		deviceMetadata:                    s.deviceDiscovery(),
		cibaMetadata:                      s.cibaDiscovery(),
	}
	s.profileDiscovery(&m)
	return json.Marshal(m)

}

// clientAuthMethods are the client authentication methods the endpoint at path accepts.
// Discovery advertises these lists and authenticateClient enforces them: one rule, one place.
func clientAuthMethods(path string) []string {
	all := clientauth.Methods()
	if path == pathIntrospect {
		// Introspection reveals what a token carries, so only a client that proves who it is
		// may ask (RFC 7662 §2.1, §4): a public client's bare client_id proves nothing.
		return slices.DeleteFunc(all, func(m string) bool { return m == clientauth.MethodNone })
	}
	// Token and revocation endpoints serve public clients too (RFC 7009 §2.1: they revoke
	// their own tokens).
	return all
}

// authenticateClient authenticates the caller of the endpoint at path with the methods that
// endpoint accepts.
func (s *Server) authenticateClient(r *http.Request, path string) (*store.Client, error) {
	client, err := s.auth.Authenticate(r, s.endpoint(path), clientAuthMethods(path))
	if err != nil {
		return nil, err
	}
	if err := checkProfileMethod(r, client, s.policy(client)); err != nil {
		return nil, err
	}
	return client, nil
}

func (s *Server) pkceMethods() []string {
	if s.cfg.AllowPlainPKCE {
		return []string{"S256", "plain"}
	}
	return []string{"S256"}
}

// grantOrder fixes the order grant types are advertised in.
var grantOrder = []string{"authorization_code", "refresh_token", "client_credentials", device.GrantType,
	ciba.GrantType, exchange.GrantType, jwtbearer.GrantType}

func (s *Server) handleMetadata(w http.ResponseWriter, r *http.Request) {
	servePublicJSON(w, r, "application/json", s.metadataJSON)
}

func (s *Server) handleJWKS(w http.ResponseWriter, r *http.Request) {
	servePublicJSON(w, r, "application/jwk-set+json", s.keys.JWKS())
}

// servePublicJSON serves a public document: cacheable for a short while and readable from
// browsers of any origin (SPAs run discovery themselves).
func servePublicJSON(w http.ResponseWriter, r *http.Request, contentType string, body []byte) {
	h := w.Header()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", "public, max-age=300")
	h.Set("Access-Control-Allow-Origin", "*")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(body)
	}
}
