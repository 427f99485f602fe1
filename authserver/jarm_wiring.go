package authserver

// JWT-secured authorization responses (JARM) and JWT introspection responses (RFC 9701).
// STUB: the jarm piece of issue 11 replaces this file's bodies (and adds its package).

// jarmMetadata are the JARM and RFC 9701 discovery fields.
type jarmMetadata struct {
	AuthorizationSigningAlgValuesSupported    []string `json:"authorization_signing_alg_values_supported,omitempty"`
	AuthorizationEncryptionAlgValuesSupported []string `json:"authorization_encryption_alg_values_supported,omitempty"`
	AuthorizationEncryptionEncValuesSupported []string `json:"authorization_encryption_enc_values_supported,omitempty"`
	IntrospectionSigningAlgValuesSupported    []string `json:"introspection_signing_alg_values_supported,omitempty"`
	IntrospectionEncryptionAlgValuesSupported []string `json:"introspection_encryption_alg_values_supported,omitempty"`
	IntrospectionEncryptionEncValuesSupported []string `json:"introspection_encryption_enc_values_supported,omitempty"`
}

func (s *Server) jarmDiscovery() jarmMetadata { return jarmMetadata{} }

// responseModes are the response modes discovery advertises and parseAuthRequest accepts.
func responseModes() []string { return []string{modeQuery, modeFragment, modeFormPost} }
