package clientauth

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// A registered tls_client_auth_subject_dn is an RFC 4514 string; a certificate's subject is
// an ASN.1 RDN sequence. They are compared as DNs, not as strings: the registered string is
// parsed (escapes, hex values, spaces, multi-valued RDNs), attribute types compare by OID
// whatever their spelling (CN, cn, 2.5.4.3), RDNs compare in RFC 4514 order (most specific
// first, the reverse of the certificate's sequence), the attributes of a multi-valued RDN in
// any order. Values compare exactly (case and inner spaces count): a stricter rule than
// LDAP's caseIgnoreMatch, so two certificates that differ only in case are never confused.

// attributeNames maps the RFC 4514 §3 names (and common extensions) to their OIDs.
var attributeNames = map[string]string{
	"cn":                     "2.5.4.3",
	"sn":                     "2.5.4.4",
	"serialnumber":           "2.5.4.5",
	"c":                      "2.5.4.6",
	"l":                      "2.5.4.7",
	"st":                     "2.5.4.8",
	"street":                 "2.5.4.9",
	"o":                      "2.5.4.10",
	"ou":                     "2.5.4.11",
	"title":                  "2.5.4.12",
	"postalcode":             "2.5.4.17",
	"givenname":              "2.5.4.42",
	"organizationidentifier": "2.5.4.97",
	"dc":                     "0.9.2342.19200300.100.1.25",
	"uid":                    "0.9.2342.19200300.100.1.1",
	"emailaddress":           "1.2.840.113549.1.9.1",
	"e":                      "1.2.840.113549.1.9.1",
}

// ParseSubjectDN parses an RFC 4514 distinguished name as tls_client_auth_subject_dn
// registers it; an empty or malformed DN is an error.
func ParseSubjectDN(s string) (*ldap.DN, error) {
	dn, err := ldap.ParseDN(s)
	if err != nil {
		return nil, fmt.Errorf("not an RFC 4514 distinguished name: %w", err)
	}
	if len(dn.RDNs) == 0 {
		return nil, fmt.Errorf("the distinguished name is empty")
	}
	for _, rdn := range dn.RDNs {
		for _, attr := range rdn.Attributes {
			oid, ok := attributeOID(attr.Type)
			if !ok {
				return nil, fmt.Errorf("unknown attribute type %q: use its dotted OID", attr.Type)
			}
			attr.Type = oid
		}
	}
	return dn, nil
}

// SubjectDNMatches reports whether cert's subject is the distinguished name registered.
func SubjectDNMatches(registered string, cert *x509.Certificate) bool {
	want, err := ParseSubjectDN(registered)
	if err != nil {
		return false
	}
	// The raw subject, not cert.Subject: pkix.Name flattens multi-valued RDNs.
	var seq pkix.RDNSequence
	if rest, err := asn1.Unmarshal(cert.RawSubject, &seq); err != nil || len(rest) > 0 {
		return false
	}
	got, ok := certificateDN(seq)
	return ok && want.Equal(got)
}

// attributeOID is the dotted OID of an attribute type given by name or OID.
func attributeOID(typ string) (string, bool) {
	typ = strings.ToLower(strings.TrimSpace(typ))
	if oid, ok := attributeNames[typ]; ok {
		return oid, true
	}
	typ = strings.TrimPrefix(typ, "oid.")
	if _, err := parseOID(typ); err != nil {
		return "", false
	}
	return typ, true
}

func parseOID(s string) (asn1.ObjectIdentifier, error) {
	var oid asn1.ObjectIdentifier
	for part := range strings.SplitSeq(s, ".") {
		var n int
		if part == "" || (len(part) > 1 && part[0] == '0') {
			return nil, fmt.Errorf("malformed OID")
		}
		for _, c := range part {
			if c < '0' || c > '9' || n > 1<<24 {
				return nil, fmt.Errorf("malformed OID")
			}
			n = n*10 + int(c-'0')
		}
		oid = append(oid, n)
	}
	if len(oid) < 2 {
		return nil, fmt.Errorf("malformed OID")
	}
	return oid, nil
}

// certificateDN turns a certificate's RDN sequence into a DN in RFC 4514 order with OID
// types; false when a value is not a string (no registered DN can name it).
func certificateDN(seq pkix.RDNSequence) (*ldap.DN, bool) {
	dn := &ldap.DN{RDNs: make([]*ldap.RelativeDN, 0, len(seq))}
	for i := len(seq) - 1; i >= 0; i-- {
		rdn := &ldap.RelativeDN{}
		for _, atv := range seq[i] {
			value, ok := atv.Value.(string)
			if !ok {
				return nil, false
			}
			rdn.Attributes = append(rdn.Attributes, &ldap.AttributeTypeAndValue{Type: atv.Type.String(), Value: value})
		}
		dn.RDNs = append(dn.RDNs, rdn)
	}
	return dn, true
}
