package registration_test

import (
	"context"
	"net/http"
	"testing"
)

// The secured-request, mTLS and profile metadata (store.ClientSecurity) register, come back
// under their RFC names, and are stored; their rules refuse with invalid_client_metadata.
func TestSecurityMetadataRegisters(t *testing.T) {
	f := newFixture(t, nil)
	reg := f.mustRegister(map[string]any{
		"client_name": "Payments", "token_endpoint_auth_method": "tls_client_auth",
		"tls_client_auth_subject_dn": "CN=payments,O=Example", "tls_client_certificate_bound_access_tokens": true,
		"grant_types": []string{"client_credentials"}, "require_pushed_authorization_requests": true,
		"authorization_signed_response_alg": "ES256",
	})
	for key, want := range map[string]any{
		"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": "CN=payments,O=Example",
		"tls_client_certificate_bound_access_tokens": true, "require_pushed_authorization_requests": true,
		"authorization_signed_response_alg": "ES256",
	} {
		if reg.body[key] != want {
			t.Errorf("%s = %v, want %v", key, reg.body[key], want)
		}
	}
	stored, err := f.st.GetClient(context.Background(), reg.str("client_id"))
	if err != nil {
		t.Fatal(err)
	}
	if s := stored.Security; s.TLSClientAuthSubjectDN != "CN=payments,O=Example" || !s.TLSClientCertificateBoundAccessTokens || !s.RequirePushedAuthorizationRequests {
		t.Errorf("stored %+v", s)
	}

	for name, metadata := range map[string]map[string]any{
		"tls_client_auth without a name": {"token_endpoint_auth_method": "tls_client_auth", "grant_types": []string{"client_credentials"}},
		"RSA1_5":                         {"token_endpoint_auth_method": "none", "redirect_uris": []string{"https://app.example/cb"}, "introspection_encrypted_response_alg": "RSA1_5"},
		"unknown profile":                {"token_endpoint_auth_method": "none", "redirect_uris": []string{"https://app.example/cb"}, "profile": "fapi9"},
		"public FAPI client":             {"token_endpoint_auth_method": "none", "redirect_uris": []string{"https://app.example/cb"}, "profile": "fapi2"},
	} {
		if r := f.register(staticToken, metadata); r.status != http.StatusBadRequest || r.str("error") != "invalid_client_metadata" {
			t.Errorf("%s: %d %s", name, r.status, r.raw)
		}
	}
}
