package authserver

import (
	"encoding/json"
	"net/http"

	"github.com/caddy-oauth/caddy-oauth/authserver/clientauth"
)

// Endpoint paths, relative to the issuer URL.
const (
	pathToken      = "/token"
	pathIntrospect = "/introspect"
	pathRevoke     = "/revoke"
	pathJWKS       = "/jwks"
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
}

func (s *Server) buildMetadata() ([]byte, error) {
	grantTypes := make([]string, 0, len(s.grantHandlers))
	for _, g := range grantOrder {
		if _, ok := s.grantHandlers[g]; ok {
			grantTypes = append(grantTypes, g)
		}
	}
	// Introspection and revocation are for confidential callers: a public client has no
	// credentials that would make it a legitimate introspector.
	var confidential []string
	for _, m := range clientauth.Methods() {
		if m != "none" {
			confidential = append(confidential, m)
		}
	}
	algs := clientauth.AssertionAlgs()
	return json.Marshal(metadata{
		Issuer:                                    s.cfg.Issuer,
		TokenEndpoint:                             s.endpoint(pathToken),
		JWKSURI:                                   s.endpoint(pathJWKS),
		IntrospectionEndpoint:                     s.endpoint(pathIntrospect),
		RevocationEndpoint:                        s.endpoint(pathRevoke),
		ResponseTypesSupported:                    []string{}, // no authorization endpoint yet
		GrantTypesSupported:                       grantTypes,
		TokenEndpointAuthMethodsSupported:         clientauth.Methods(),
		TokenEndpointAuthSigningAlgValues:         algs,
		IntrospectionEndpointAuthMethodsSupported: confidential,
		IntrospectionEndpointAuthSigningAlgValues: algs,
		RevocationEndpointAuthMethodsSupported:    confidential,
		RevocationEndpointAuthSigningAlgValues:    algs,
		DPoPSigningAlgValuesSupported:             s.dpopAlgs(),
	})
}

// grantOrder fixes the order grant types are advertised in.
var grantOrder = []string{"authorization_code", "refresh_token", "client_credentials"}

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
