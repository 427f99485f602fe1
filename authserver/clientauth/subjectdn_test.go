package clientauth

import (
	"testing"

	"github.com/caddy-oauth/caddy-oauth/authserver/clientauth/certtest"
)

func TestSubjectDNMatches(t *testing.T) {
	cert := certtest.NewCA(t, "ca").Issue(t, certtest.Options{RDNs: multiValuedSubject()})
	cases := []struct {
		registered string
		want       bool
	}{
		{registeredDN, true},
		{"cn=client one, o=Example\\, Inc. + ou=Payments, c=SE", true},                // case of types, spaces, RDN attribute order
		{"2.5.4.3=client one,2.5.4.11=Payments+2.5.4.10=Example\\2C Inc.,C=SE", true}, // OIDs, hex escape
		{"OID.2.5.4.3=client one,OU=Payments+O=Example\\, Inc.,C=SE", true},
		{"CN=#130a636c69656e74206f6e65,OU=Payments+O=Example\\, Inc.,C=SE", true}, // BER-encoded value
		{"CN=Client One,OU=Payments+O=Example\\, Inc.,C=SE", false},               // values compare exactly
		{"CN=client one,OU=Payments,O=Example\\, Inc.,C=SE", false},               // not one RDN
		{"C=SE,OU=Payments+O=Example\\, Inc.,CN=client one", false},               // certificate order, not RFC 4514's
		{"CN=client one,OU=Payments+O=Example\\, Inc.", false},                    // missing RDN
		{"CN=client one,OU=Payments+O=Example\\, Inc.,C=SE,DC=extra", false},
		{"CN=client one,XX=Payments+O=Example\\, Inc.,C=SE", false}, // unknown type name
		{"", false},
		{"not a dn", false},
	}
	for _, c := range cases {
		if got := SubjectDNMatches(c.registered, cert.Cert); got != c.want {
			t.Errorf("SubjectDNMatches(%q) = %v, want %v", c.registered, got, c.want)
		}
	}
}

func FuzzParseSubjectDN(f *testing.F) {
	f.Add(registeredDN)
	f.Add("CN=#130a636c69656e74206f6e65")
	f.Add("1.2.3=\\")
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = ParseSubjectDN(s) // never panics
	})
}
