package jwa

import "slices"

// JSON Web Encryption algorithm names (RFC 7518 §4, §5): key management ("alg") and content
// encryption ("enc"). The server decrypts request objects with them and encrypts JARM and
// introspection responses to clients with them. RSA1_5 is left out on purpose (RFC 9700 §2.6
// and RFC 8725 §3.2: padding-oracle attacks), as is "dir" (it would need a shared secret).
var (
	keyManagement     = []string{"RSA-OAEP-256", "RSA-OAEP", "ECDH-ES", "ECDH-ES+A128KW", "ECDH-ES+A256KW"}
	contentEncryption = []string{"A128GCM", "A256GCM", "A128CBC-HS256", "A256CBC-HS512"}
)

// KeyManagement returns the JWE "alg" values (a copy).
func KeyManagement() []string { return slices.Clone(keyManagement) }

// ContentEncryption returns the JWE "enc" values (a copy).
func ContentEncryption() []string { return slices.Clone(contentEncryption) }

// IsKeyManagement reports whether alg is a JWE key management algorithm of the list.
func IsKeyManagement(alg string) bool { return slices.Contains(keyManagement, alg) }

// IsContentEncryption reports whether enc is a JWE content encryption algorithm of the list.
func IsContentEncryption(enc string) bool { return slices.Contains(contentEncryption, enc) }

// DefaultContentEncryption is the enc used when a client names an alg but no enc (OIDC
// Registration §2: A128CBC-HS256).
const DefaultContentEncryption = "A128CBC-HS256"
