package authserver

// Mutual-TLS client authentication and certificate-bound tokens (RFC 8705). STUB: the mtls
// piece of issue 11 replaces this file's bodies.

// MTLSConfig configures mutual TLS.
type MTLSConfig struct {
	// EndpointAliases is the base URL (scheme, host, port and the issuer's path) where the
	// endpoints that accept client certificates are also served, when they live on another
	// host or port than the issuer (RFC 8705 §5, mtls_endpoint_aliases); empty: none.
	EndpointAliases string
}

func (c *MTLSConfig) withDefaults() error { return nil }

// mtlsMetadata are RFC 8705's discovery fields (§3.3, §5).
type mtlsMetadata struct {
	TLSClientCertificateBoundAccessTokens bool              `json:"tls_client_certificate_bound_access_tokens,omitempty"`
	MTLSEndpointAliases                   map[string]string `json:"mtls_endpoint_aliases,omitempty"`
}

func (s *Server) mtlsDiscovery() mtlsMetadata { return mtlsMetadata{} }
