package auth

import (
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"strings"
	"unicode/utf16"
)

// Attribute keywords Java's X500Principal.getName() (RFC 2253 form) prints;
// every other attribute type is printed as its dotted OID with a #hex value.
var rfc2253Keywords = map[string]string{
	"2.5.4.3":                    "CN",
	"2.5.4.6":                    "C",
	"2.5.4.7":                    "L",
	"2.5.4.8":                    "ST",
	"2.5.4.10":                   "O",
	"2.5.4.11":                   "OU",
	"2.5.4.9":                    "STREET",
	"0.9.2342.19200300.100.1.25": "DC",
	"0.9.2342.19200300.100.1.1":  "UID",
}

type dnAttr struct {
	Type  asn1.ObjectIdentifier
	Value asn1.RawValue
}

// dnAttrSET is an RDN: a SET OF attributes (encoding/asn1 reads a slice
// type named ...SET as SET OF).
type dnAttrSET []dnAttr

// SubjectDN returns the certificate's subject as Java's
// X500Principal.getName() prints it, the string Kafka's
// ssl.principal.mapping.rules are applied to.
func SubjectDN(cert *x509.Certificate) (string, error) {
	return FormatDN(cert.RawSubject)
}

// FormatDN renders a DER Name in Java's RFC 2253 form: RDNs last to first,
// separated by ','; attributes of one RDN joined by '+'; known keywords
// with string values escaped (',', '=', '+', '<', '>', '#', ';', '"', '\'
// with a backslash, NUL as \00, leading and trailing spaces escaped); other
// attributes as OID=#hex of the DER value.
func FormatDN(der []byte) (string, error) {
	var rdns []dnAttrSET
	rest, err := asn1.Unmarshal(der, &rdns)
	if err != nil {
		return "", fmt.Errorf("%w: bad distinguished name: %v", ErrTLSConfig, err)
	}
	if len(rest) != 0 {
		return "", fmt.Errorf("%w: trailing bytes after distinguished name", ErrTLSConfig)
	}
	var b strings.Builder
	for i := len(rdns) - 1; i >= 0; i-- {
		if i != len(rdns)-1 {
			b.WriteByte(',')
		}
		for j, a := range rdns[i] {
			if j > 0 {
				b.WriteByte('+')
			}
			kw, known := rfc2253Keywords[a.Type.String()]
			s, isString := derString(a.Value)
			if known && isString {
				b.WriteString(kw)
				b.WriteByte('=')
				b.WriteString(escapeDNValue(s))
				continue
			}
			if known {
				b.WriteString(kw)
			} else {
				b.WriteString(a.Type.String())
			}
			b.WriteString("=#")
			b.WriteString(hex.EncodeToString(a.Value.FullBytes))
		}
	}
	return b.String(), nil
}

// derString decodes the string types Java prints as text.
func derString(v asn1.RawValue) (string, bool) {
	if v.Class != asn1.ClassUniversal {
		return "", false
	}
	switch v.Tag {
	case asn1.TagPrintableString, asn1.TagUTF8String, asn1.TagIA5String, asn1.TagT61String, 27 /* GeneralString */ :
		return string(v.Bytes), true
	case asn1.TagBMPString:
		if len(v.Bytes)%2 != 0 {
			return "", false
		}
		u := make([]uint16, len(v.Bytes)/2)
		for i := range u {
			u[i] = uint16(v.Bytes[2*i])<<8 | uint16(v.Bytes[2*i+1])
		}
		return string(utf16.Decode(u)), true
	}
	return "", false
}

func escapeDNValue(s string) string {
	const escapees = ",=+<>#;\"\\"
	var b strings.Builder
	for _, c := range s {
		switch {
		case c == 0:
			b.WriteString("\\00")
		case c < 0x80 && strings.IndexByte(escapees, byte(c)) >= 0:
			b.WriteByte('\\')
			b.WriteRune(c)
		default:
			b.WriteRune(c)
		}
	}
	out := []rune(b.String())
	lead := 0
	for lead < len(out) && (out[lead] == ' ' || out[lead] == '\r') {
		lead++
	}
	trail := len(out) - 1
	for trail >= 0 && (out[trail] == ' ' || out[trail] == '\r') {
		trail--
	}
	if lead == 0 && trail == len(out)-1 {
		return string(out)
	}
	b.Reset()
	for i, c := range out {
		if i < lead || i > trail {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}
