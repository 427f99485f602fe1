// Package requestobject verifies JWT-secured authorization requests (RFC 9101): a request
// object signed by the client with one of its keys, whose claims are the authorization
// request's parameters. Only the object's parameters count (§6.3), so what the client signed is
// what the server acts on, whatever the browser's URL says.
package requestobject

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/caddy-oauth/caddy-oauth/authserver/oautherr"
	"github.com/caddy-oauth/caddy-oauth/authserver/profile"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
	"github.com/caddy-oauth/caddy-oauth/jwa"
)

// Defaults and bounds.
const (
	// DefaultMaxLifetime bounds exp - now (and, under a profile, exp - nbf): FAPI 2.0 Message
	// Signing allows 60 minutes at most.
	DefaultMaxLifetime = 60 * time.Minute
	// maxBytes refuses an object before any parsing; real ones are a few KiB.
	maxBytes = 16 << 10
	skew     = 30 * time.Second
)

// KeySource returns a client's public keys (clientauth.Authenticator.ClientKeys); refresh
// fetches a jwks_uri again.
type KeySource interface {
	ClientKeys(ctx context.Context, client *store.Client, refresh bool) ([]jose.JSONWebKey, error)
}

// Decrypter opens a JWE encrypted to one of the server's keys (keys.Manager.Decrypt), with a
// key-management alg in algs and a content encryption in encs.
type Decrypter interface {
	Decrypt(compact string, algs, encs []string) ([]byte, error)
}

// Verifier checks request objects. Set the fields before first use.
type Verifier struct {
	// Decrypter opens encrypted request objects; nil refuses them.
	Decrypter Decrypter
	// Issuer is the only audience a request object may name (RFC 9101 §4).
	Issuer string
	Keys   KeySource
	// Replay makes a jti single use across instances.
	Replay store.ReplayStore
	Now    func() time.Time
	// MaxLifetime bounds how far ahead exp may be; 0 means DefaultMaxLifetime.
	MaxLifetime time.Duration
}

// Typ values a request object may carry in its header (RFC 9101 §10.8 registers
// oauth-authz-req+jwt); any other typ names another kind of JWT and is refused.
var acceptedTyps = []string{"", "JWT", "oauth-authz-req+jwt"}

// claimsNotParameters are the JWT claims of the object itself, not authorization parameters.
var claimsNotParameters = []string{"iss", "aud", "exp", "nbf", "iat", "jti"}

func invalid(format string, args ...any) *oautherr.Error {
	return oautherr.New(oautherr.InvalidRequestObject, fmt.Sprintf(format, args...))
}

// Verify checks raw, the request parameter of client's authorization request under policy, and
// returns the authorization parameters it carries (with client_id). Every refusal is an
// *oautherr.Error invalid_request_object; a store failure is a server error.
func (v *Verifier) Verify(ctx context.Context, client *store.Client, policy profile.Policy, raw string) (url.Values, error) {
	if len(raw) > maxBytes {
		return nil, invalid("the request object is larger than %d bytes", maxBytes)
	}
	if strings.Count(raw, ".") == 4 {
		plain, err := v.decrypt(client, raw)
		if err != nil {
			return nil, err
		}
		raw = plain
	}
	algs := v.algs(client, policy)
	jws, err := jose.ParseSigned(raw, jwa.Jose(algs))
	if err != nil || len(jws.Signatures) != 1 {
		return nil, invalid("the request object must be a JWS signed with one of %s", strings.Join(algs, ", "))
	}
	header := jws.Signatures[0].Header
	if typ, _ := header.ExtraHeaders["typ"].(string); !slices.Contains(acceptedTyps, typ) {
		return nil, invalid("the request object's typ must be oauth-authz-req+jwt or JWT")
	}
	payload, err := v.verifySignature(ctx, client, jws)
	if err != nil {
		return nil, err
	}
	claims, err := decodeClaims(payload)
	if err != nil {
		return nil, err
	}
	exp, err := v.checkClaims(client, policy, claims)
	if err != nil {
		return nil, err
	}
	if err := v.spendJTI(ctx, client, policy, claims, exp); err != nil {
		return nil, err
	}
	return parameters(client, claims)
}

// decrypt opens an encrypted request object (RFC 9101 §6.1): to the server's encryption keys,
// with the client's registered alg and enc when it named them, and holding a signed request
// object (an encrypted but unsigned one proves nothing about who sent it).
func (v *Verifier) decrypt(client *store.Client, raw string) (string, error) {
	if v.Decrypter == nil {
		return "", invalid("encrypted request objects are not accepted by this server: sign the request object")
	}
	algs, encs := jwa.KeyManagement(), jwa.ContentEncryption()
	if a := client.Security.RequestObjectEncryptionAlg; a != "" {
		algs = []string{a}
	}
	if e := client.Security.RequestObjectEncryptionEnc; e != "" {
		encs = []string{e}
	}
	plain, err := v.Decrypter.Decrypt(raw, algs, encs)
	if err != nil {
		return "", invalid("the encrypted request object cannot be decrypted with this server's keys and the client's algorithms")
	}
	if strings.Count(string(plain), ".") != 2 {
		return "", invalid("an encrypted request object must hold a signed request object")
	}
	return string(plain), nil
}

// algs are the JWS algorithms client's request objects may use: asymmetric only (HMAC would
// need the client secret in clear; none proves nothing), narrowed by the client's
// request_object_signing_alg and its profile.
func (v *Verifier) algs(client *store.Client, policy profile.Policy) []string {
	return slices.DeleteFunc(jwa.Asymmetric(), func(alg string) bool {
		want := client.Security.RequestObjectSigningAlg
		return (want != "" && alg != want) || !policy.AllowsAlg(alg)
	})
}

func (v *Verifier) verifySignature(ctx context.Context, client *store.Client, jws *jose.JSONWebSignature) ([]byte, error) {
	for _, refresh := range []bool{false, true} {
		if refresh && client.JWKSURI == "" {
			break
		}
		keys, err := v.Keys.ClientKeys(ctx, client, refresh)
		if err != nil {
			return nil, invalid("the client's keys cannot be read to verify the request object")
		}
		for _, k := range fittingKeys(keys, jws.Signatures[0].Header) {
			if payload, err := jws.Verify(k); err == nil {
				return payload, nil
			}
		}
	}
	return nil, invalid("the request object's signature does not verify with the client's keys")
}

// fittingKeys are the client's keys that may have made the signature: signing keys (or keys
// without a use) of the header's kid, if it names one, and of the alg's key type.
func fittingKeys(keys []jose.JSONWebKey, h jose.Header) []jose.JSONWebKey {
	var out []jose.JSONWebKey
	for _, k := range keys {
		if (h.KeyID != "" && k.KeyID != h.KeyID) || k.Use == "enc" || (k.Algorithm != "" && k.Algorithm != h.Algorithm) {
			continue
		}
		pub := k.Public()
		switch pub.Key.(type) {
		case *rsa.PublicKey:
			if strings.HasPrefix(h.Algorithm, "RS") || strings.HasPrefix(h.Algorithm, "PS") {
				out = append(out, pub)
			}
		case *ecdsa.PublicKey:
			if strings.HasPrefix(h.Algorithm, "ES") {
				out = append(out, pub)
			}
		case ed25519.PublicKey:
			if h.Algorithm == "EdDSA" {
				out = append(out, pub)
			}
		}
	}
	return out
}

func decodeClaims(payload []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var claims map[string]any
	if err := dec.Decode(&claims); err != nil || claims == nil || dec.More() {
		return nil, invalid("the request object's payload must be a JSON object")
	}
	return claims, nil
}

// checkClaims applies RFC 9101 §4 and §6.3 (and FAPI 2.0 Message Signing's time window under a
// profile); it returns exp.
func (v *Verifier) checkClaims(client *store.Client, policy profile.Policy, c map[string]any) (time.Time, error) {
	now := v.now()
	if iss, _ := c["iss"].(string); iss != client.ID {
		return time.Time{}, invalid("the request object's iss must be the client_id")
	}
	if !audienceIs(c["aud"], v.Issuer) {
		return time.Time{}, invalid("the request object's aud must be this server's issuer identifier")
	}
	if id, ok := c["client_id"]; ok && id != client.ID {
		return time.Time{}, invalid("the request object's client_id differs from the request's")
	}
	exp, ok := numericDate(c["exp"])
	if !ok {
		return time.Time{}, invalid("the request object needs an exp")
	}
	maxLife := cmp.Or(v.MaxLifetime, DefaultMaxLifetime)
	switch {
	case !now.Before(exp.Add(skew)):
		return time.Time{}, invalid("the request object has expired")
	case exp.After(now.Add(maxLife + skew)):
		return time.Time{}, invalid("the request object's exp is more than %s ahead", maxLife)
	}
	nbf, hasNBF := numericDate(c["nbf"])
	if _, present := c["nbf"]; present && !hasNBF {
		return time.Time{}, invalid("the request object's nbf must be a number")
	}
	switch {
	case hasNBF && nbf.After(now.Add(skew)):
		return time.Time{}, invalid("the request object is not valid yet (nbf)")
	case policy.Active() && !hasNBF:
		return time.Time{}, invalid("the request object needs an nbf under profile %s", policy.Name)
	case policy.Active() && (now.Sub(nbf) > maxLife || exp.Sub(nbf) > maxLife):
		return time.Time{}, invalid("the request object may be valid for %s at most from its nbf", maxLife)
	}
	if iat, ok := numericDate(c["iat"]); ok && iat.After(now.Add(skew)) {
		return time.Time{}, invalid("the request object's iat is in the future")
	}
	return exp, nil
}

// spendJTI makes a jti single use until the object expires (required under a profile).
func (v *Verifier) spendJTI(ctx context.Context, client *store.Client, policy profile.Policy, c map[string]any, exp time.Time) error {
	jti, _ := c["jti"].(string)
	if jti == "" {
		if policy.Active() {
			return invalid("the request object needs a jti under profile %s", policy.Name)
		}
		return nil
	}
	if len(jti) > 256 {
		return invalid("the request object's jti is too long")
	}
	err := v.Replay.UseOnce(ctx, "request_object:"+client.ID+":"+jti, exp.Add(skew))
	switch {
	case errors.Is(err, store.ErrConflict):
		return invalid("the request object has already been used")
	case err != nil:
		return oautherr.Server(fmt.Errorf("recording a request object jti: %w", err))
	}
	return nil
}

// parameters turns the claims into authorization parameters: strings as they are, numbers in
// decimal, the claims parameter (an object) as its JSON, resource as one value per string.
func parameters(client *store.Client, c map[string]any) (url.Values, error) {
	out := url.Values{}
	for name, value := range c {
		if slices.Contains(claimsNotParameters, name) {
			continue
		}
		if name == "request" || name == "request_uri" {
			return nil, invalid("a request object must not contain %s", name)
		}
		switch val := value.(type) {
		case string:
			out.Set(name, val)
		case json.Number:
			out.Set(name, val.String())
		case map[string]any:
			if name != "claims" {
				return nil, invalid("the request object's %s must be a string", name)
			}
			b, err := json.Marshal(val)
			if err != nil {
				return nil, invalid("the request object's claims cannot be read")
			}
			out.Set(name, string(b))
		case []any:
			if name != "resource" {
				return nil, invalid("the request object's %s must be a string", name)
			}
			for _, r := range val {
				s, ok := r.(string)
				if !ok {
					return nil, invalid("the request object's resource must be strings")
				}
				out.Add(name, s)
			}
		default:
			return nil, invalid("the request object's %s must be a string", name)
		}
	}
	out.Set("client_id", client.ID)
	return out, nil
}

func audienceIs(aud any, issuer string) bool {
	switch a := aud.(type) {
	case string:
		return a == issuer
	case []any:
		for _, v := range a {
			if v == issuer {
				return true
			}
		}
	}
	return false
}

func numericDate(v any) (time.Time, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return time.Time{}, false
	}
	f, err := n.Float64()
	if err != nil || f < 0 || f > 1e11 {
		return time.Time{}, false
	}
	return time.Unix(int64(f), 0), true
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}
