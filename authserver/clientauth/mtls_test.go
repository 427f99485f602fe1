package clientauth

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/caddy-oauth/caddy-oauth/authserver/clientauth/certtest"
	"github.com/caddy-oauth/caddy-oauth/authserver/oautherr"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// mtlsFixture is a CA, the clients registered for the certificate methods and certificates.
type mtlsFixture struct {
	ca, otherCA              *certtest.Cert
	dnCert, sanCert          *certtest.Cert
	selfSigned, unregistered *certtest.Cert
	expired, notYetValid     *certtest.Cert
	strangerFromOtherCA      *certtest.Cert
	clients                  fakeClients
}

const registeredDN = "CN=client one,OU=Payments+O=Example\\, Inc.,C=SE"

func newMTLSFixture(t *testing.T) *mtlsFixture {
	t.Helper()
	f := &mtlsFixture{ca: certtest.NewCA(t, "test CA"), otherCA: certtest.NewCA(t, "other CA")}
	subject := pkix.Name{CommonName: "client one", OrganizationalUnit: []string{"Payments"}, Organization: []string{"Example, Inc."}, Country: []string{"SE"}}
	f.dnCert = f.ca.Issue(t, certtest.Options{RDNs: multiValuedSubject()})
	f.sanCert = f.ca.Issue(t, certtest.Options{Subject: subject,
		DNS: []string{"client.example.com"}, URIs: []string{"spiffe://example.com/client"},
		IPs: []string{"2001:db8::1"}, Emails: []string{"ops@example.com"}})
	f.strangerFromOtherCA = f.otherCA.Issue(t, certtest.Options{RDNs: multiValuedSubject()})
	key := certtest.NewKey(t)
	f.selfSigned = certtest.SelfSigned(t, certtest.Options{Key: key, Subject: pkix.Name{CommonName: "self"}})
	f.unregistered = certtest.SelfSigned(t, certtest.Options{Subject: pkix.Name{CommonName: "self"}})
	f.expired = certtest.SelfSigned(t, certtest.Options{Key: key, NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	f.notYetValid = certtest.SelfSigned(t, certtest.Options{Key: key, NotBefore: time.Now().Add(time.Hour), NotAfter: time.Now().Add(48 * time.Hour)})

	jwks := jwksJSON([]jose.JSONWebKey{{Key: &keys().ec256.PublicKey, KeyID: "other"}, {Key: key.Public(), KeyID: "tls"}})
	pki := func(id string, sec store.ClientSecurity) *store.Client {
		return &store.Client{ID: id, TokenEndpointAuthMethod: MethodTLSClientAuth, Security: sec}
	}
	f.clients = fakeClients{}
	for _, c := range []*store.Client{
		pki("pki-dn", store.ClientSecurity{TLSClientAuthSubjectDN: registeredDN}),
		pki("pki-dns", store.ClientSecurity{TLSClientAuthSANDNS: "client.example.com"}),
		pki("pki-uri", store.ClientSecurity{TLSClientAuthSANURI: "spiffe://example.com/client"}),
		pki("pki-ip", store.ClientSecurity{TLSClientAuthSANIP: "2001:0db8:0:0::1"}),
		pki("pki-email", store.ClientSecurity{TLSClientAuthSANEmail: "ops@example.com"}),
		pki("pki-dns-other", store.ClientSecurity{TLSClientAuthSANDNS: "other.example.com"}),
		pki("pki-uri-other", store.ClientSecurity{TLSClientAuthSANURI: "spiffe://example.com/other"}),
		pki("pki-ip-other", store.ClientSecurity{TLSClientAuthSANIP: "192.0.2.1"}),
		pki("pki-email-other", store.ClientSecurity{TLSClientAuthSANEmail: "OPS@example.com"}),
		pki("pki-dn-other", store.ClientSecurity{TLSClientAuthSubjectDN: "CN=client two,OU=Payments+O=Example\\, Inc.,C=SE"}),
		pki("pki-nothing", store.ClientSecurity{}),
		{ID: "self", TokenEndpointAuthMethod: MethodSelfSignedTLSClientAuth, JWKS: jwks},
		{ID: "self-nokeys", TokenEndpointAuthMethod: MethodSelfSignedTLSClientAuth},
		{ID: "public", TokenEndpointAuthMethod: MethodNone},
		{ID: "basic", TokenEndpointAuthMethod: MethodSecretBasic, SecretHash: "plain:" + goodSecret},
		{ID: "pki-off", TokenEndpointAuthMethod: MethodTLSClientAuth, Disabled: true, Security: store.ClientSecurity{TLSClientAuthSANDNS: "client.example.com"}},
	} {
		f.clients[c.ID] = c
	}
	return f
}

// multiValuedSubject is C=SE / O=Example, Inc. + OU=Payments / CN=client one as an ASN.1
// sequence (least specific first), the O and OU in one RDN.
func multiValuedSubject() pkix.RDNSequence {
	return pkix.RDNSequence{
		{{Type: oidC, Value: "SE"}},
		{{Type: oidO, Value: "Example, Inc."}, {Type: oidOU, Value: "Payments"}},
		{{Type: oidCN, Value: "client one"}},
	}
}

var (
	oidCN = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidC  = asn1.ObjectIdentifier{2, 5, 4, 6}
	oidO  = asn1.ObjectIdentifier{2, 5, 4, 10}
	oidOU = asn1.ObjectIdentifier{2, 5, 4, 11}
)

// connection is how the certificate reached the server.
type connection int

const (
	noCertificate connection = iota
	verifiedChain            // Caddy verified it against its trust pool
	requestedOnly            // Caddy only requested it (client_auth mode request)
)

func certRequest(form map[string]string, cert *certtest.Cert, conn connection, ca *certtest.Cert) *http.Request {
	kv := make([]string, 0, 2*len(form))
	for k, v := range form {
		kv = append(kv, k, v)
	}
	r := newRequest(formOf(kv...))
	if conn == noCertificate || cert == nil {
		return r
	}
	state := &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert.Cert}}
	if conn == verifiedChain {
		state.VerifiedChains = [][]*x509.Certificate{{cert.Cert, ca.Cert}}
	}
	r.TLS = state
	return r
}

func formOf(kv ...string) map[string][]string { return form(kv...) }

func TestCertificateMethods(t *testing.T) {
	f := newMTLSFixture(t)
	a := &Authenticator{Issuer: testIssuer, Clients: f.clients, Secrets: fakeVerifier{}}
	withCAs := &Authenticator{Issuer: testIssuer, Clients: f.clients, Secrets: fakeVerifier{}, TrustedCAs: f.ca.Pool()}
	noIntrospectNone := slices.DeleteFunc(Methods(), func(m string) bool { return m == MethodNone })
	cases := []struct {
		name    string
		auth    *Authenticator
		client  string
		cert    *certtest.Cert
		conn    connection
		methods []string
		extra   map[string]string
		ok      bool
		code    string
	}{
		{name: "PKI subject DN, chain verified by TLS", auth: a, client: "pki-dn", cert: f.dnCert, conn: verifiedChain, ok: true},
		{name: "PKI SAN dns", auth: a, client: "pki-dns", cert: f.sanCert, conn: verifiedChain, ok: true},
		{name: "PKI SAN uri", auth: a, client: "pki-uri", cert: f.sanCert, conn: verifiedChain, ok: true},
		{name: "PKI SAN ip, other spelling", auth: a, client: "pki-ip", cert: f.sanCert, conn: verifiedChain, ok: true},
		{name: "PKI SAN email", auth: a, client: "pki-email", cert: f.sanCert, conn: verifiedChain, ok: true},
		{name: "PKI at introspection (no none)", auth: a, client: "pki-dns", cert: f.sanCert, conn: verifiedChain, methods: noIntrospectNone, ok: true},
		{name: "PKI chain verified against trusted_ca", auth: withCAs, client: "pki-dns", cert: f.sanCert, conn: requestedOnly, ok: true},
		{name: "self-signed key in JWKS", auth: a, client: "self", cert: f.selfSigned, conn: requestedOnly, ok: true},
		{name: "public client with a certificate", auth: a, client: "public", cert: f.selfSigned, conn: requestedOnly, ok: true},

		{name: "no certificate (PKI)", auth: a, client: "pki-dns", conn: noCertificate, code: badClient},
		{name: "no certificate (self-signed)", auth: a, client: "self", conn: noCertificate, code: badClient},
		{name: "no certificate at introspection", auth: a, client: "pki-dns", conn: noCertificate, methods: noIntrospectNone, code: badClient},
		{name: "wrong DN", auth: a, client: "pki-dn-other", cert: f.dnCert, conn: verifiedChain, code: badClient},
		{name: "wrong SAN dns", auth: a, client: "pki-dns-other", cert: f.sanCert, conn: verifiedChain, code: badClient},
		{name: "wrong SAN uri", auth: a, client: "pki-uri-other", cert: f.sanCert, conn: verifiedChain, code: badClient},
		{name: "wrong SAN ip", auth: a, client: "pki-ip-other", cert: f.sanCert, conn: verifiedChain, code: badClient},
		{name: "SAN email differs in case", auth: a, client: "pki-email-other", cert: f.sanCert, conn: verifiedChain, code: badClient},
		{name: "DN registered, only SANs match", auth: a, client: "pki-dn", cert: f.sanCert, conn: verifiedChain, code: badClient},
		{name: "nothing registered", auth: a, client: "pki-nothing", cert: f.sanCert, conn: verifiedChain, code: badClient},
		{name: "unverified chain for PKI", auth: a, client: "pki-dns", cert: f.sanCert, conn: requestedOnly, code: badClient},
		{name: "PKI certificate of an untrusted CA", auth: withCAs, client: "pki-dn", cert: f.strangerFromOtherCA, conn: requestedOnly, code: badClient},
		{name: "self-signed certificate for a PKI client", auth: withCAs, client: "pki-dns", cert: f.selfSigned, conn: requestedOnly, code: badClient},
		{name: "key not in JWKS", auth: a, client: "self", cert: f.unregistered, conn: requestedOnly, code: badClient},
		{name: "expired certificate", auth: a, client: "self", cert: f.expired, conn: requestedOnly, code: badClient},
		{name: "certificate not yet valid", auth: a, client: "self", cert: f.notYetValid, conn: requestedOnly, code: badClient},
		{name: "self-signed client without keys", auth: a, client: "self-nokeys", cert: f.selfSigned, conn: requestedOnly, code: badClient},
		{name: "disabled client", auth: a, client: "pki-off", cert: f.sanCert, conn: verifiedChain, code: badClient},
		{name: "unknown client", auth: a, client: "nobody", cert: f.sanCert, conn: verifiedChain, code: badClient},
		{name: "secret client with only a certificate", auth: a, client: "basic", cert: f.sanCert, conn: verifiedChain, code: badClient},
		{name: "public client with a certificate at introspection", auth: a, client: "public", cert: f.selfSigned, conn: requestedOnly, methods: noIntrospectNone, code: badClient},
		{name: "endpoint without certificate methods", auth: a, client: "pki-dns", cert: f.sanCert, conn: verifiedChain, methods: []string{MethodSecretBasic}, code: badClient},
		{name: "certificate and a secret", auth: a, client: "pki-dns", cert: f.sanCert, conn: verifiedChain, extra: map[string]string{"client_secret": goodSecret}, code: badClient},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			form := map[string]string{"client_id": c.client}
			for k, v := range c.extra {
				form[k] = v
			}
			methods := c.methods
			if methods == nil {
				methods = Methods()
			}
			client, err := c.auth.Authenticate(certRequest(form, c.cert, c.conn, f.ca), tokenURL, methods)
			if c.ok {
				if err != nil {
					t.Fatalf("want %q authenticated, got %v (cause %v)", c.client, err, errors.Unwrap(err))
				}
				if client.ID != c.client {
					t.Fatalf("authenticated %q, want %q", client.ID, c.client)
				}
				return
			}
			var e *oautherr.Error
			if !errors.As(err, &e) {
				t.Fatalf("got client %v, error %v; want %s", client, err, c.code)
			}
			if e.Code != c.code || e.Status != http.StatusUnauthorized {
				t.Fatalf("got %s %d (%q, cause %v), want %s 401", e.Code, e.Status, e.Description, e.Cause, c.code)
			}
			// Once a certificate is looked at, a known client's refusal reads like an
			// unknown client's.
			if c.conn != noCertificate && slices.ContainsFunc(methods, IsCertificateMethod) && e.Description != descFailed {
				t.Errorf("description %q, want %q", e.Description, descFailed)
			}
		})
	}
}

func TestCertificateFromConfiguredSource(t *testing.T) {
	f := newMTLSFixture(t)
	// A proxy-forwarded certificate: nothing on the connection, the source returns it.
	a := &Authenticator{Issuer: testIssuer, Clients: f.clients, TrustedCAs: f.ca.Pool(),
		ClientCertificate: func(*http.Request) *x509.Certificate { return f.sanCert.Cert }}
	r := certRequest(map[string]string{"client_id": "pki-dns"}, nil, noCertificate, nil)
	if _, err := a.Authenticate(r, tokenURL, Methods()); err != nil {
		t.Fatalf("forwarded certificate refused: %v (cause %v)", err, errors.Unwrap(err))
	}
	// The connection's verified chain does not vouch for a different, forwarded certificate.
	a.TrustedCAs = nil
	r = certRequest(map[string]string{"client_id": "pki-dns"}, f.dnCert, verifiedChain, f.ca)
	if _, err := a.Authenticate(r, tokenURL, Methods()); err == nil {
		t.Fatal("a forwarded certificate passed on the strength of the connection's own chain")
	}
}

func TestMethodsAdvertiseCertificateMethods(t *testing.T) {
	for _, m := range []string{MethodTLSClientAuth, MethodSelfSignedTLSClientAuth} {
		if !slices.Contains(Methods(), m) {
			t.Errorf("Methods() lacks %s", m)
		}
		if !IsCertificateMethod(m) {
			t.Errorf("IsCertificateMethod(%s) = false", m)
		}
	}
	if IsCertificateMethod(MethodNone) {
		t.Error("none is not a certificate method")
	}
}
