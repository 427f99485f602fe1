// Package clientauth authenticates OAuth clients at the token, introspection and revocation
// endpoints: client_secret_basic, client_secret_post (RFC 6749 §2.3.1), client_secret_jwt and
// private_key_jwt (RFC 7523, OpenID Connect Core §9), none (public clients), and
// tls_client_auth and self_signed_tls_client_auth (RFC 8705 §2).
package clientauth

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/jwksource"

	"github.com/caddy-oauth/caddy-oauth/authserver/oautherr"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
	"github.com/caddy-oauth/caddy-oauth/outbound"
)

// Client authentication methods (RFC 7591 §2, OpenID Connect Core §9).
const (
	MethodSecretBasic   = "client_secret_basic"
	MethodSecretPost    = "client_secret_post"
	MethodSecretJWT     = "client_secret_jwt"
	MethodPrivateKeyJWT = "private_key_jwt"
	MethodNone          = "none"
)

// AssertionTypeJWT is the only client_assertion_type accepted (RFC 7523 §2.2).
const AssertionTypeJWT = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// Defaults for the zero values of Authenticator.
const (
	DefaultMaxAssertionAge = 5 * time.Minute
	DefaultSkew            = 30 * time.Second
)

// Input bounds. Real credentials are far smaller; anything larger is refused before any work.
const (
	maxAuthorizationBytes = 4 << 10
	maxClientIDBytes      = 1 << 10
	maxSecretBytes        = 1 << 10
	maxAssertionBytes     = 8 << 10
	maxJTIBytes           = 256
)

// descFailed is the one description for every failure that could tell an unknown client from
// a known one (unknown id, disabled, wrong secret, wrong method, bad signature). The precise
// reason travels in Error.Cause, which is logged and never sent.
const descFailed = "client authentication failed"

// ClientSource looks clients up by id; store.ErrNotFound means no such client.
type ClientSource interface {
	GetClient(ctx context.Context, id string) (*store.Client, error)
}

// SecretVerifier checks a presented secret against a stored hash in constant time.
type SecretVerifier interface {
	Verify(clientID, encodedHash, presented string) bool
}

// SecretOpener decrypts a sealed client secret (the HMAC key of client_secret_jwt).
type SecretOpener interface {
	Open(sealed, ad []byte) ([]byte, error)
}

// Authenticator authenticates the client of a request. Set the exported fields before first
// use and do not copy it afterwards (it holds the jwks_uri cache).
type Authenticator struct {
	// Issuer is the only aud a client assertion may carry (see EndpointAudience).
	Issuer string
	// EndpointAudience also accepts, for clients written before the issuer-only rule, the URL
	// of the endpoint receiving the assertion as its aud (still as the only value).
	EndpointAudience bool

	// AssertionAlgAllowed, when set, may refuse a client assertion's alg for a client beyond
	// the method's own list (a security profile's narrower list, FAPI 2.0 §5.4).
	AssertionAlgAllowed func(client *store.Client, alg string) bool

	Clients ClientSource
	Secrets SecretVerifier
	Sealed  SecretOpener
	// Replay records used assertion jti values; shared across instances.
	Replay store.ReplayStore
	// Fetcher fetches jwks_uri documents (see NewJWKSFetcher); nil means one that refuses
	// private and loopback addresses.
	Fetcher *outbound.Fetcher
	// MaxAssertionAge bounds exp-now and exp-iat of an assertion (default 5 min), which also
	// bounds how long a jti must be remembered.
	MaxAssertionAge time.Duration
	// Skew tolerated between the client's clock and ours (default 30 s).
	Skew time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// ClientCertificate returns the TLS client certificate of a request (RFC 8705), nil when
	// there is none; nil means the connection's own (ConnectionCertificate).
	ClientCertificate func(*http.Request) *x509.Certificate
	// TrustedCAs verifies tls_client_auth certificates whose chain the TLS handshake did not
	// verify (forwarded by a trusted proxy, or on a connection that only requested one); nil:
	// only certificates the handshake verified pass.
	TrustedCAs *x509.CertPool

	jwks jwksource.Cache
}

// Methods returns the supported client authentication methods
// (token_endpoint_auth_methods_supported).
func Methods() []string {
	return []string{MethodSecretBasic, MethodSecretPost, MethodSecretJWT, MethodPrivateKeyJWT,
		MethodTLSClientAuth, MethodSelfSignedTLSClientAuth, MethodNone}
}

// credentials is what a request presented, before any lookup.
type credentials struct {
	method    string
	clientID  string
	secret    string
	assertion string
	// basic is set when the Authorization header was used: every invalid_client then
	// carries a Basic challenge (RFC 6749 §5.2).
	basic bool
}

// Authenticate reads r.PostForm (already parsed by the caller) and the Authorization header
// and returns the authenticated client, or an *oautherr.Error. endpointURL is the URL of the
// endpoint the request came to and methods the authentication methods it accepts (the list
// its discovery metadata advertises). The returned client may be shared with a cache and must
// not be modified.
func (a *Authenticator) Authenticate(r *http.Request, endpointURL string, methods []string) (*store.Client, error) {
	cred, err := readCredentials(r)
	if err != nil {
		return nil, err
	}
	ctx := r.Context()
	if cred.method == MethodSecretJWT || cred.method == MethodPrivateKeyJWT {
		return a.authenticateAssertion(ctx, cred, endpointURL, methods)
	}
	if cred.method == MethodNone {
		// A bare client_id with a TLS client certificate: the certificate is the credential.
		if cert := a.certificate(r); cert != nil && slices.ContainsFunc(methods, IsCertificateMethod) {
			return a.authenticateCertificate(r, cred, cert, methods)
		}
	}
	if err := methodAccepted(methods, cred.method, cred.basic); err != nil {
		return nil, err
	}
	client, err := a.lookup(ctx, cred.clientID, cred.basic)
	if err != nil {
		return nil, err
	}
	if m := registeredMethod(client); m != cred.method {
		return nil, failed(cred.basic, fmt.Sprintf("client %q is registered for %s, request used %s", client.ID, m, cred.method))
	}
	if cred.method == MethodNone {
		return client, nil
	}
	if a.Secrets == nil {
		return nil, oautherr.Server(errors.New("clientauth: no secret verifier"))
	}
	if cred.secret == "" || !a.secretMatches(client, cred.secret) {
		return nil, failed(cred.basic, fmt.Sprintf("wrong secret for client %q", client.ID))
	}
	return client, nil
}

// secretMatches checks a presented secret against the client's current secret (unless it
// has expired) and, during a rotation's overlap, its previous one, so deployed clients keep
// working until they switch.
func (a *Authenticator) secretMatches(client *store.Client, presented string) bool {
	now := a.now()
	if client.SecretHash != "" && !expired(client.SecretExpiresAt, now) && a.Secrets.Verify(client.ID, client.SecretHash, presented) {
		return true
	}
	return client.PreviousSecretHash != "" && inOverlap(client, now) &&
		a.Secrets.Verify(client.ID, client.PreviousSecretHash, presented)
}

// expired reports whether an optional end time has passed.
func expired(end *time.Time, now time.Time) bool { return end != nil && !now.Before(*end) }

// inOverlap reports whether the client's previous secret is still valid: only until its
// PreviousSecretExpiresAt, which a rotation always sets.
func inOverlap(client *store.Client, now time.Time) bool {
	return client.PreviousSecretExpiresAt != nil && now.Before(*client.PreviousSecretExpiresAt)
}

// readCredentials works out which single method the request used.
func readCredentials(r *http.Request) (credentials, error) {
	form := r.PostForm
	for _, name := range []string{"client_id", "client_secret", "client_assertion", "client_assertion_type"} {
		if len(form[name]) > 1 {
			return credentials{}, oautherr.Request("parameter " + name + " is repeated")
		}
	}
	headers := r.Header.Values("Authorization")
	if len(headers) > 1 {
		return credentials{}, oautherr.Request("the Authorization header is repeated")
	}
	header := ""
	if len(headers) == 1 {
		header = headers[0]
	}
	bodyID := form.Get("client_id")
	secret := form.Get("client_secret")
	assertion := form.Get("client_assertion")
	assertionType := form.Get("client_assertion_type")

	used := 0
	for _, present := range []bool{header != "", secret != "", assertion != "" || assertionType != ""} {
		if present {
			used++
		}
	}
	if used > 1 {
		return credentials{}, oautherr.Request("the request uses more than one client authentication method")
	}

	switch {
	case header != "":
		id, sec, err := parseBasic(header)
		if err != nil {
			return credentials{}, err
		}
		if bodyID != "" && bodyID != id {
			return credentials{}, oautherr.Request("client_id in the body does not match the Authorization header")
		}
		return credentials{method: MethodSecretBasic, clientID: id, secret: sec, basic: true}, nil
	case secret != "":
		if len(secret) > maxSecretBytes {
			return credentials{}, failed(false, "client_secret too long")
		}
		if bodyID == "" {
			return credentials{}, oautherr.Client("client_id is required with client_secret", false)
		}
		return credentials{method: MethodSecretPost, clientID: bodyID, secret: secret}, nil
	case assertion != "" || assertionType != "":
		switch {
		case assertionType == "":
			return credentials{}, oautherr.Request("client_assertion_type is required with client_assertion")
		case assertionType != AssertionTypeJWT:
			return credentials{}, oautherr.Request("client_assertion_type must be " + AssertionTypeJWT)
		case assertion == "":
			return credentials{}, oautherr.Request("client_assertion is required with client_assertion_type")
		}
		// The method (secret or private key JWT) follows from the alg; settled once parsed.
		return credentials{method: MethodPrivateKeyJWT, clientID: bodyID, assertion: assertion}, nil
	case bodyID != "":
		return credentials{method: MethodNone, clientID: bodyID}, nil
	default:
		return credentials{}, oautherr.Client("client authentication is required", false)
	}
}

// parseBasic decodes HTTP Basic credentials whose id and secret are each form-urlencoded
// before base64 (RFC 6749 §2.3.1), so ':' inside them arrives as %3A and '+' means space.
func parseBasic(header string) (id, secret string, err error) {
	if len(header) > maxAuthorizationBytes {
		return "", "", oautherr.Client("the Authorization header is too large", true)
	}
	scheme, encoded, _ := strings.Cut(header, " ")
	if !strings.EqualFold(scheme, "Basic") {
		return "", "", oautherr.Client("unsupported authentication scheme: use Basic or credentials in the body", true)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(encoded))
	if err != nil {
		return "", "", oautherr.Client("malformed Basic credentials", true)
	}
	rawID, rawSecret, ok := strings.Cut(string(raw), ":")
	if !ok {
		return "", "", oautherr.Client("malformed Basic credentials", true)
	}
	id, errID := url.QueryUnescape(rawID)
	secret, errSecret := url.QueryUnescape(rawSecret)
	if errID != nil || errSecret != nil || id == "" {
		return "", "", oautherr.Client("malformed Basic credentials", true)
	}
	return id, secret, nil
}

// lookup finds an enabled client; unknown and disabled clients fail alike.
func (a *Authenticator) lookup(ctx context.Context, id string, basic bool) (*store.Client, error) {
	if id == "" || len(id) > maxClientIDBytes {
		return nil, failed(basic, "client_id empty or too long")
	}
	if a.Clients == nil {
		return nil, oautherr.Server(errors.New("clientauth: no client source"))
	}
	client, err := a.Clients.GetClient(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound) || (err == nil && client == nil):
		return nil, failed(basic, fmt.Sprintf("unknown client %q", id))
	case err != nil:
		return nil, oautherr.Server(fmt.Errorf("looking up client: %w", err))
	case client.Disabled:
		return nil, failed(basic, fmt.Sprintf("client %q is disabled", id))
	}
	return client, nil
}

// methodAccepted refuses a method the endpoint does not accept before any client lookup, so
// the answer says nothing about the client. A bare client_id (none) is the usual case: it is
// no credential, and endpoints that reveal token contents do not take it.
func methodAccepted(methods []string, method string, basic bool) error {
	if slices.Contains(methods, method) {
		return nil
	}
	if method == MethodNone {
		return oautherr.Client("this endpoint requires client authentication", basic)
	}
	return oautherr.Client("this endpoint does not accept "+method, basic)
}

// registeredMethod is the client's method, client_secret_basic when unset (RFC 7591 §2).
func registeredMethod(c *store.Client) string {
	if c.TokenEndpointAuthMethod == "" {
		return MethodSecretBasic
	}
	return c.TokenEndpointAuthMethod
}

// failed is the uniform invalid_client answer; cause is for the log only.
func failed(basic bool, cause string) *oautherr.Error {
	e := oautherr.Client(descFailed, basic)
	e.Cause = errors.New(cause)
	return e
}

func (a *Authenticator) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *Authenticator) maxAssertionAge() time.Duration {
	if a.MaxAssertionAge > 0 {
		return a.MaxAssertionAge
	}
	return DefaultMaxAssertionAge
}

func (a *Authenticator) skew() time.Duration {
	if a.Skew > 0 {
		return a.Skew
	}
	return DefaultSkew
}
