package auth

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"testing"
)

// Kafka's SslPrincipalMapperTest cases.
func TestMappingRulesKafka(t *testing.T) {
	t.Parallel()
	for _, r := range []string{
		"DEFAULT",
		"RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/",
		"RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L, DEFAULT",
		"RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/",
		"RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/L",
		"RULE:^cn=(.?),ou=(.?),dc=(.?),dc=(.?)$/$1@$2/U",
		"RULE:^CN=([^,ADEFLTU,]+)(,.*|$)/$1/",
		"RULE:^CN=([^,DEFAULT,]+)(,.*|$)/$1/",
	} {
		if _, err := ParseMappingRules(r); err != nil {
			t.Errorf("%q: %v", r, err)
		}
	}
	for _, r := range []string{
		"default", "DEFAUL", "DEFAULT/L", "DEFAULT/U",
		"RULE:CN=(.*?),OU=ServiceUsers.*/$1",
		"rule:^CN=(.*?),OU=ServiceUsers.*$/$1/",
		"RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L/U",
		"RULE:^CN=(.*?),OU=ServiceUsers.*$/L",
		"RULE:^CN=(.*?),OU=ServiceUsers.*$/U",
		"RULE:^CN=(.*?),OU=ServiceUsers.*$/LU",
	} {
		if _, err := ParseMappingRules(r); !errors.Is(err, ErrMappingRule) {
			t.Errorf("%q accepted (err %v)", r, err)
		}
	}
	m, err := ParseMappingRules("RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L, " +
		"RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L, " +
		"RULE:^cn=(.*?),ou=(.*?),dc=(.*?),dc=(.*?)$/$1@$2/U, " +
		"RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/U, DEFAULT")
	if err != nil {
		t.Fatal(err)
	}
	for dn, want := range map[string]string{
		"CN=Duke,OU=ServiceUsers,O=Org,C=US":        "duke",
		"CN=Duke,OU=SME,O=mycp,L=Fulton,ST=MD,C=US": "duke@sme",
		"cn=duke,ou=sme,dc=mycp,dc=com":             "DUKE@SME",
		"cN=duke,OU=JavaSoft,O=Sun Microsystems":    "DUKE",
		"OU=JavaSoft,O=Sun Microsystems,C=US":       "OU=JavaSoft,O=Sun Microsystems,C=US",
	} {
		if got, err := m.Name(dn); err != nil || got != want {
			t.Errorf("%q -> %q (%v), want %q", dn, got, err, want)
		}
	}
	m, err = ParseMappingRules(`RULE:^CN=((\\, *|\w)+)(,.*|$)/$1/,DEFAULT`)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := m.Name(`CN=Tkac\, Adam,OU=ITZ,DC=geodis,DC=cz`); err != nil || got != `Tkac\, Adam` {
		t.Errorf("comma with whitespace: %q %v", got, err)
	}
	// The documented example of Kafka's security docs.
	m, err = ParseMappingRules("RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L,RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/L,DEFAULT")
	if err != nil {
		t.Fatal(err)
	}
	for dn, want := range map[string]string{
		"CN=serviceuser,OU=ServiceUsers,O=Unknown,L=Unknown,ST=Unknown,C=Unknown": "serviceuser",
		"CN=adminUser,OU=Admin,O=Unknown,L=Unknown,ST=Unknown,C=Unknown":          "adminuser@admin",
	} {
		if got, err := m.Name(dn); err != nil || got != want {
			t.Errorf("%q -> %q (%v), want %q", dn, got, err, want)
		}
	}
}

func TestMappingRulesSplitting(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ want, rules string }{
		{"[]", ""},
		{"[DEFAULT]", "DEFAULT"},
		{"[RULE:/]", "RULE://"},
		{"[RULE:/.*]", "RULE:/.*/"},
		{"[RULE:/.*/L]", "RULE:/.*/L"},
		{"[RULE:/, DEFAULT]", "RULE://,DEFAULT"},
		{"[RULE:/, DEFAULT]", "  RULE:// ,  DEFAULT  "},
		{"[RULE:   /     , DEFAULT]", "  RULE:   /     / ,  DEFAULT  "},
		{"[RULE:  /     /U, DEFAULT]", "  RULE:  /     /U   ,DEFAULT  "},
		{"[RULE:([A-Z]*)/$1/U, RULE:([a-z]+)/$1, DEFAULT]", "  RULE:([A-Z]*)/$1/U   ,RULE:([a-z]+)/$1/,   DEFAULT  "},
		{"[]", ",   , , ,      , , ,   "},
		{"[RULE:/, DEFAULT]", ",,RULE://,,,DEFAULT,,"},
		{"[RULE: /   , DEFAULT]", ",  , RULE: /   /    ,,,   DEFAULT, ,   "},
		{"[RULE:   /  /U, DEFAULT]", "     ,  , RULE:   /  /U    ,,  ,DEFAULT, ,"},
		{`[RULE:\/\\\(\)\n\t/\/\/]`, `RULE:\/\\\(\)\n\t/\/\//`},
		{`[RULE:\**\/+/*/L, RULE:\/*\**/**]`, `RULE:\**\/+/*/L,RULE:\/*\**/**/`},
		{`[RULE:,RULE:,/,RULE:,\//U, RULE:,/RULE:,, RULE:,RULE:,/L,RULE:,/L, RULE:, DEFAULT, /DEFAULT, DEFAULT]`,
			`RULE:,RULE:,/,RULE:,\//U,RULE:,/RULE:,/,RULE:,RULE:,/L,RULE:,/L,RULE:, DEFAULT, /DEFAULT/,DEFAULT`},
	} {
		m, err := ParseMappingRules(tc.rules)
		if err != nil {
			t.Errorf("%q: %v", tc.rules, err)
			continue
		}
		if m.String() != tc.want {
			t.Errorf("%q -> %s, want %s", tc.rules, m, tc.want)
		}
	}
}

func TestMappingNoRule(t *testing.T) {
	t.Parallel()
	m, err := ParseMappingRules("RULE:^CN=(.*)$/$1/")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Name("O=x"); !errors.Is(err, ErrNoMatchingRule) {
		t.Fatalf("err %v", err)
	}
	if got, _ := m.Name("CN=a$b"); got != "a$b" {
		t.Fatalf("got %q", got)
	}
	// $2 with one group is literal text, \$ a literal dollar.
	m, _ = ParseMappingRules(`RULE:^CN=(.*)$/$2-$1-\$1/`)
	if got, _ := m.Name("CN=x"); got != "$2-x-$1" {
		t.Fatalf("got %q", got)
	}
	if _, err := ParseMappingRules("RULE:^(?=x)$/a/"); !errors.Is(err, ErrMappingRule) {
		t.Fatalf("lookahead accepted: %v", err)
	}
}

func mustDN(t *testing.T, rdns ...[]dnAttr) []byte {
	t.Helper()
	seq := make([]dnAttrSET, len(rdns))
	for i, r := range rdns {
		seq[i] = dnAttrSET(r)
	}
	b, err := asn1.Marshal(seq)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func attr(t *testing.T, oid asn1.ObjectIdentifier, tag int, v string) dnAttr {
	t.Helper()
	b, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: tag, Bytes: []byte(v)})
	if err != nil {
		t.Fatal(err)
	}
	return dnAttr{Type: oid, Value: asn1.RawValue{FullBytes: b}}
}

func TestFormatDN(t *testing.T) {
	t.Parallel()
	cn, o, ou, c := asn1.ObjectIdentifier{2, 5, 4, 3}, asn1.ObjectIdentifier{2, 5, 4, 10}, asn1.ObjectIdentifier{2, 5, 4, 11}, asn1.ObjectIdentifier{2, 5, 4, 6}
	email := asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}
	dc := asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}
	serial := asn1.ObjectIdentifier{2, 5, 4, 5}
	for _, tc := range []struct {
		name string
		der  []byte
		want string
	}{
		{"reverse order", mustDN(t, []dnAttr{attr(t, c, asn1.TagPrintableString, "US")}, []dnAttr{attr(t, o, asn1.TagUTF8String, "Org")},
			[]dnAttr{attr(t, ou, asn1.TagUTF8String, "ServiceUsers")}, []dnAttr{attr(t, cn, asn1.TagUTF8String, "Duke")}),
			"CN=Duke,OU=ServiceUsers,O=Org,C=US"},
		{"escapes", mustDN(t, []dnAttr{attr(t, o, asn1.TagUTF8String, `Apache, Inc+"x"<y>;a=b\c`)}, []dnAttr{attr(t, cn, asn1.TagUTF8String, "#lead ")}),
			`CN=\#lead\ ,O=Apache\, Inc\+\"x\"\<y\>\;a\=b\\c`},
		{"leading spaces", mustDN(t, []dnAttr{attr(t, cn, asn1.TagUTF8String, "  a b  ")}), `CN=\ \ a b\ \ `},
		{"unicode", mustDN(t, []dnAttr{attr(t, cn, asn1.TagUTF8String, "Jürgen")}), "CN=Jürgen"},
		{"email as hex", mustDN(t, []dnAttr{attr(t, email, asn1.TagIA5String, "a@b")}, []dnAttr{attr(t, cn, asn1.TagUTF8String, "x")}),
			"CN=x,1.2.840.113549.1.9.1=#1603614062"},
		{"serial as hex", mustDN(t, []dnAttr{attr(t, serial, asn1.TagPrintableString, "42")}), "2.5.4.5=#13023432"},
		{"dc", mustDN(t, []dnAttr{attr(t, dc, asn1.TagIA5String, "com")}, []dnAttr{attr(t, dc, asn1.TagIA5String, "example")}), "DC=example,DC=com"},
		{"multi-valued", mustDN(t, []dnAttr{attr(t, cn, asn1.TagUTF8String, "a"), attr(t, ou, asn1.TagUTF8String, "b")}), "CN=a+OU=b"},
		{"empty", mustDN(t), ""},
	} {
		got, err := FormatDN(tc.der)
		if err != nil || got != tc.want {
			t.Errorf("%s: %q (%v), want %q", tc.name, got, err, tc.want)
		}
	}
	if _, err := FormatDN([]byte{0x30, 0x05, 1}); err == nil {
		t.Error("bad DER accepted")
	}
}

func TestSSLPrincipal(t *testing.T) {
	t.Parallel()
	name := pkix.Name{CommonName: "Duke", OrganizationalUnit: []string{"ServiceUsers"}, Organization: []string{"Org"}, Country: []string{"US"}}
	raw, err := asn1.Marshal(name.ToRDNSequence())
	if err != nil {
		t.Fatal(err)
	}
	cert := &x509.Certificate{RawSubject: raw}
	m, _ := ParseMappingRules("RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L")
	if p, err := SSLPrincipal(m, []*x509.Certificate{cert}); err != nil || p != User("duke") {
		t.Fatalf("%v %v", p, err)
	}
	if p, err := SSLPrincipal(nil, []*x509.Certificate{cert}); err != nil || p.String() != "User:CN=Duke,OU=ServiceUsers,O=Org,C=US" {
		t.Fatalf("%v %v", p, err)
	}
	if p, _ := SSLPrincipal(m, nil); p != Anonymous || p.String() != "User:ANONYMOUS" {
		t.Fatalf("%v", p)
	}
}
