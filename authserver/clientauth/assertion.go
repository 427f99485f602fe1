package clientauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/caddy-oauth/caddy-oauth/authserver/oautherr"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
	"github.com/caddy-oauth/caddy-oauth/jwa"
)

// hmacAlgs are only for client_secret_jwt and asymmetricAlgs only for private_key_jwt, so a
// public key can never be used as an HMAC secret. "none" is in neither.
var (
	hmacAlgs       = jwa.Jose(jwa.HMAC())
	asymmetricAlgs = jwa.Jose(jwa.Asymmetric())
	assertionAlgs  = slices.Concat(hmacAlgs, asymmetricAlgs)
)

// minRSABits refuses RSA keys too weak for a credential (RFC 7518 §3.3 requires 2048).
const minRSABits = 2048

// AssertionAlgs returns the algorithms accepted for client assertions
// (token_endpoint_auth_signing_alg_values_supported).
func AssertionAlgs() []string { return jwa.ClientAssertion() }

// assertionClaims are the claims RFC 7523 §3 defines for a client assertion. jwt.Audience
// accepts a string or an array.
type assertionClaims struct {
	Issuer    string           `json:"iss"`
	Subject   string           `json:"sub"`
	Audience  jwt.Audience     `json:"aud"`
	Expiry    *jwt.NumericDate `json:"exp"`
	NotBefore *jwt.NumericDate `json:"nbf"`
	IssuedAt  *jwt.NumericDate `json:"iat"`
	ID        string           `json:"jti"`
}

// authenticateAssertion verifies a client_assertion. Checks that do not depend on the client
// come first with precise descriptions; everything after the lookup fails with descFailed
// until the signature proves the caller holds the client's key. The jti is recorded last so
// that unsigned garbage cannot fill the replay store.
func (a *Authenticator) authenticateAssertion(ctx context.Context, cred credentials, endpointURL string, methods []string) (*store.Client, error) {
	if len(cred.assertion) > maxAssertionBytes {
		return nil, oautherr.Client("client_assertion is too large", false)
	}
	jws, err := jose.ParseSignedCompact(cred.assertion, assertionAlgs)
	if err != nil {
		e := oautherr.Client("client_assertion is not a JWT signed with a supported algorithm", false)
		e.Cause = err
		return nil, e
	}
	alg := jose.SignatureAlgorithm(jws.Signatures[0].Header.Algorithm)
	method := MethodPrivateKeyJWT
	if slices.Contains(hmacAlgs, alg) {
		method = MethodSecretJWT
	}
	if err := methodAccepted(methods, method, false); err != nil {
		return nil, err
	}

	var claims assertionClaims
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &claims); err != nil {
		e := oautherr.Client("the claims of client_assertion are malformed", false)
		e.Cause = err
		return nil, e
	}
	if err := a.checkClaims(&claims, cred.clientID, endpointURL); err != nil {
		return nil, err
	}

	client, err := a.lookup(ctx, claims.Subject, false)
	if err != nil {
		return nil, err
	}
	if m := registeredMethod(client); m != method {
		return nil, failed(false, fmt.Sprintf("client %q is registered for %s, assertion signed with %s", client.ID, m, alg))
	}
	if want := client.TokenEndpointAuthSigningAlg; want != "" && want != string(alg) {
		return nil, failed(false, fmt.Sprintf("client %q requires %s, assertion signed with %s", client.ID, want, alg))
	}
	if a.AssertionAlgAllowed != nil && !a.AssertionAlgAllowed(client, string(alg)) {
		return nil, failed(false, fmt.Sprintf("client %q: its security profile does not allow assertions signed with %s", client.ID, alg))
	}
	if err := a.verifySignature(ctx, jws, client, method); err != nil {
		return nil, err
	}

	if a.Replay == nil {
		return nil, oautherr.Server(errors.New("clientauth: no replay store"))
	}
	// Remember the jti for as long as checkClaims would still accept the assertion.
	until := claims.Expiry.Time().Add(a.skew())
	err = a.Replay.UseOnce(ctx, "client_assertion:"+client.ID+":"+claims.ID, until)
	switch {
	case errors.Is(err, store.ErrConflict):
		return nil, oautherr.Client("client_assertion has already been used", false)
	case err != nil:
		return nil, oautherr.Server(fmt.Errorf("recording client assertion jti: %w", err))
	}
	return client, nil
}

// checkClaims validates the claims that do not depend on the client (RFC 7523 §3).
func (a *Authenticator) checkClaims(c *assertionClaims, bodyID, endpointURL string) error {
	invalid := func(desc string) error { return oautherr.Client(desc, false) }
	now, skew, maxAge := a.now(), a.skew(), a.maxAssertionAge()
	switch {
	case c.Issuer == "" || c.Subject == "":
		return invalid("client_assertion must have iss and sub")
	case c.Issuer != c.Subject:
		return invalid("iss and sub of client_assertion must both be the client_id")
	case bodyID != "" && bodyID != c.Subject:
		return oautherr.Request("client_id does not match the sub of client_assertion")
	case !a.audienceIsThisServer(c.Audience, endpointURL):
		if a.EndpointAudience {
			return invalid("the aud of client_assertion must be the issuer identifier or the endpoint URL, as its only value")
		}
		return invalid("the aud of client_assertion must be the issuer identifier, as its only value")
	case c.Expiry == nil:
		return invalid("client_assertion must have exp")
	case c.ID == "":
		return invalid("client_assertion must have jti")
	case len(c.ID) > maxJTIBytes:
		return invalid("the jti of client_assertion is too long")
	}
	exp := c.Expiry.Time()
	switch {
	case !now.Before(exp.Add(skew)):
		return invalid("client_assertion has expired")
	case exp.After(now.Add(maxAge + skew)):
		return invalid(fmt.Sprintf("the exp of client_assertion is more than %s ahead", maxAge))
	case c.NotBefore != nil && c.NotBefore.Time().After(now.Add(skew)):
		return invalid("client_assertion is not valid yet (nbf)")
	case c.IssuedAt != nil && c.IssuedAt.Time().After(now.Add(skew)):
		return invalid("the iat of client_assertion is in the future")
	case c.IssuedAt != nil && exp.Sub(c.IssuedAt.Time()) > maxAge:
		return invalid(fmt.Sprintf("client_assertion lives longer than %s (exp - iat)", maxAge))
	}
	return nil
}

// audienceIsThisServer accepts the issuer identifier as the single aud value
// (draft-ietf-oauth-rfc7523bis; the OpenID Foundation's 2025 advisory on audience injection).
// An array naming other audiences too, or the token endpoint URL that another server's
// metadata can claim as its own, would let an assertion a client made for that server be
// replayed here. EndpointAudience restores the endpoint URL for legacy clients, still alone.
func (a *Authenticator) audienceIsThisServer(aud jwt.Audience, endpointURL string) bool {
	if len(aud) != 1 || aud[0] == "" {
		return false
	}
	return aud[0] == a.Issuer || (a.EndpointAudience && aud[0] == endpointURL)
}

// verifySignature checks the assertion with the client's HMAC secret or public keys.
func (a *Authenticator) verifySignature(ctx context.Context, jws *jose.JSONWebSignature, client *store.Client, method string) error {
	if method == MethodSecretJWT {
		return a.verifyHMAC(jws, client)
	}

	header := jws.Signatures[0].Header
	alg := jose.SignatureAlgorithm(header.Algorithm)
	set, err := a.clientKeys(ctx, client, false)
	if err != nil {
		return err
	}
	keys := candidateKeys(set, header.KeyID, alg)
	if len(keys) == 0 && client.JWKS == "" {
		// The client may have rotated its keys since we cached its jwks_uri.
		if set, err = a.clientKeys(ctx, client, true); err != nil {
			return err
		}
		keys = candidateKeys(set, header.KeyID, alg)
	}
	if len(keys) == 0 {
		return failed(false, fmt.Sprintf("no key of client %q matches kid %q and alg %s", client.ID, header.KeyID, alg))
	}
	for _, k := range keys {
		if _, err := jws.Verify(k); err == nil {
			return nil
		}
	}
	return failed(false, fmt.Sprintf("client_assertion signature of client %q does not verify", client.ID))
}

// verifyHMAC checks a client_secret_jwt assertion with the client's current secret (unless it
// has expired) or, during a rotation's overlap, its previous one.
func (a *Authenticator) verifyHMAC(jws *jose.JSONWebSignature, client *store.Client) error {
	now := a.now()
	var sealed [][]byte
	if len(client.SecretSealed) > 0 && !expired(client.SecretExpiresAt, now) {
		sealed = append(sealed, client.SecretSealed)
	}
	if len(client.PreviousSecretSealed) > 0 && inOverlap(client, now) {
		sealed = append(sealed, client.PreviousSecretSealed)
	}
	if len(sealed) == 0 {
		return failed(false, fmt.Sprintf("client %q has no valid sealed secret for client_secret_jwt", client.ID))
	}
	if a.Sealed == nil {
		return oautherr.Server(errors.New("clientauth: no secret opener"))
	}
	var verr error
	for _, s := range sealed {
		key, err := a.Sealed.Open(s, []byte(client.ID))
		if err != nil {
			return oautherr.Server(fmt.Errorf("opening the secret of client %q: %w", client.ID, err))
		}
		_, verr = jws.Verify(key)
		clear(key)
		if verr == nil {
			return nil
		}
	}
	return failed(false, fmt.Sprintf("client_assertion signature of client %q: %v", client.ID, verr))
}

// ClientKeys returns the client's public keys: its registered JWKS, or its jwks_uri document
// (cached; refresh fetches it again, e.g. for an unknown kid). Request objects, and responses
// encrypted to the client, use the same keys and the same cache as client assertions.
func (a *Authenticator) ClientKeys(ctx context.Context, client *store.Client, refresh bool) ([]jose.JSONWebKey, error) {
	return a.clientKeys(ctx, client, refresh)
}

// clientKeys returns the client's registered JWKS, or its jwks_uri document.
func (a *Authenticator) clientKeys(ctx context.Context, client *store.Client, refresh bool) ([]jose.JSONWebKey, error) {
	switch {
	case client.JWKS != "":
		keys, err := parseJWKS([]byte(client.JWKS))
		if err != nil {
			return nil, failed(false, fmt.Sprintf("registered jwks of client %q: %v", client.ID, err))
		}
		return keys, nil
	case client.JWKSURI != "":
		keys, err := a.remoteKeys(ctx, client.JWKSURI, refresh)
		if err != nil {
			return nil, failed(false, fmt.Sprintf("jwks_uri of client %q: %v", client.ID, err))
		}
		return keys, nil
	default:
		return nil, failed(false, fmt.Sprintf("client %q has neither jwks nor jwks_uri", client.ID))
	}
}

// candidateKeys are the keys that may have produced a signature with alg and kid: an empty
// kid tries every fitting key.
func candidateKeys(keys []jose.JSONWebKey, kid string, alg jose.SignatureAlgorithm) []jose.JSONWebKey {
	var out []jose.JSONWebKey
	for _, k := range keys {
		if kid != "" && k.KeyID != kid {
			continue
		}
		if (k.Use != "" && k.Use != "sig") || (k.Algorithm != "" && k.Algorithm != string(alg)) {
			continue
		}
		if keyFits(k.Key, alg) {
			out = append(out, k)
		}
	}
	return out
}

// keyFits reports whether a public key can verify alg, so the wrong curve or a weak RSA key
// is never tried.
func keyFits(key any, alg jose.SignatureAlgorithm) bool {
	switch k := key.(type) {
	case *rsa.PublicKey:
		switch alg {
		case jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512:
			return k.N.BitLen() >= minRSABits
		}
	case *ecdsa.PublicKey:
		switch alg {
		case jose.ES256:
			return k.Curve == elliptic.P256()
		case jose.ES384:
			return k.Curve == elliptic.P384()
		case jose.ES512:
			return k.Curve == elliptic.P521()
		}
	case ed25519.PublicKey:
		return alg == jose.EdDSA
	}
	return false
}
