// Package certtest makes X.509 certificates for tests of mutual-TLS client authentication
// (RFC 8705): a CA that issues client certificates, and self-signed client certificates.
package certtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net"
	"net/url"
	"testing"
	"time"
)

// Options describe a client certificate. Zero values: a fresh P-256 key, valid from an hour
// ago for a day, client-auth usage, no SANs.
type Options struct {
	Subject pkix.Name
	// RDNs, when set, is the subject as an ASN.1 RDN sequence instead of Subject (for
	// multi-valued RDNs, which pkix.Name cannot express).
	RDNs      pkix.RDNSequence
	DNS       []string
	URIs      []string
	IPs       []string
	Emails    []string
	NotBefore time.Time
	NotAfter  time.Time
	// Key is the certificate's key pair; nil generates one.
	Key crypto.Signer
}

// Cert is a certificate with its private key.
type Cert struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// TLS is the certificate as a tls.Certificate for a client's tls.Config.
func (c *Cert) TLS() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{c.Cert.Raw}, PrivateKey: c.Key, Leaf: c.Cert}
}

// Thumbprint is base64url(SHA-256(DER)): the cnf x5t#S256 of tokens bound to it.
func (c *Cert) Thumbprint() string {
	sum := sha256.Sum256(c.Cert.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// PEM is the certificate PEM-encoded.
func (c *Cert) PEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Cert.Raw})
}

// NewKey generates a P-256 key.
func NewKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// NewCA makes a self-signed CA certificate.
func NewCA(t testing.TB, name string) *Cert {
	t.Helper()
	key := NewKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	return create(t, tmpl, tmpl, key, key)
}

// Pool is a pool holding the CA.
func (c *Cert) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.Cert)
	return p
}

// Issue makes a client certificate signed by the CA c.
func (c *Cert) Issue(t testing.TB, o Options) *Cert {
	t.Helper()
	return create(t, template(t, o), c.Cert, key(t, o), c.Key)
}

// SelfSigned makes a self-signed client certificate.
func SelfSigned(t testing.TB, o Options) *Cert {
	t.Helper()
	k := key(t, o)
	tmpl := template(t, o)
	return create(t, tmpl, tmpl, k, k)
}

func key(t testing.TB, o Options) crypto.Signer {
	if o.Key != nil {
		return o.Key
	}
	return NewKey(t)
}

func template(t testing.TB, o Options) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber:   serial(t),
		Subject:        o.Subject,
		DNSNames:       o.DNS,
		EmailAddresses: o.Emails,
		NotBefore:      o.NotBefore,
		NotAfter:       o.NotAfter,
		KeyUsage:       x509.KeyUsageDigitalSignature,
		ExtKeyUsage:    []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if o.RDNs != nil {
		raw, err := asn1.Marshal(o.RDNs)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.RawSubject = raw
	}
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = time.Now().Add(-time.Hour)
	}
	if tmpl.NotAfter.IsZero() {
		tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	}
	for _, s := range o.URIs {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, u)
	}
	for _, s := range o.IPs {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(s))
	}
	return tmpl
}

func create(t testing.TB, tmpl, parent *x509.Certificate, k, signer crypto.Signer) *Cert {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, k.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &Cert{Cert: cert, Key: k}
}

func serial(t testing.TB) *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		t.Fatal(err)
	}
	return n
}
