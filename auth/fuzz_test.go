package auth

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"strings"
	"testing"
	"time"
)

// The fuzz targets feed client- or operator-supplied bytes to every parser;
// they must return an error or a value, never panic.

func FuzzPlain(f *testing.F) {
	for _, s := range []string{"\x00alice\x00alice-secret", "a\x00b\x00c", "", "\x00\x00", "\x00\x00\x00\x00"} {
		f.Add([]byte(s))
	}
	m := Plain{Users: PlainUsers{"alice": "alice-secret"}}
	f.Fuzz(func(t *testing.T, b []byte) {
		s := m.NewSession()
		_, done, err := s.Step(b)
		if done == (err != nil) {
			t.Fatalf("done %v err %v", done, err)
		}
		if done && s.Principal() != User("alice") {
			t.Fatalf("principal %v from %q", s.Principal(), b)
		}
	})
}

func FuzzScram(f *testing.F) {
	f.Add([]byte("n,,n=user,r=rOprNGfwEbeRWgbNEkqO"), []byte("c=biws,r=rOprNGfwEbeRWgbNEkqOSRV,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="))
	f.Add([]byte("n,a=user,m=x,n=us=2Cer,r=abc,tokenauth=true"), []byte("c=bixhPXVzZXIs,r=abcSRV,ext=1,p=AAAA"))
	f.Add([]byte("y,,n=user,r=a"), []byte(""))
	cred, _ := ScramCredentialFromPassword(ScramSHA256, "pencil", []byte("salt"), 4096)
	m := Scram{Hash: ScramSHA256, Users: memScram{"SCRAM-SHA-256/user": cred, "SCRAM-SHA-256/us,er": cred},
		Tokens: memTokens{cred: cred}, Nonce: func() (string, error) { return "SRV", nil }}
	f.Fuzz(func(t *testing.T, first, final []byte) {
		_, _ = ParseScramClientFirst(first)
		_, _ = ParseScramClientFinal(final)
		s := m.NewSession()
		if _, _, err := s.Step(first); err != nil {
			return
		}
		if _, done, err := s.Step(final); done || err == nil {
			// Only a correct proof over this nonce can succeed, and the
			// fuzzer cannot forge one.
			t.Fatalf("accepted first %q final %q", first, final)
		}
	})
}

func FuzzOAuthBearer(f *testing.F) {
	for _, s := range []string{"n,,\x01auth=Bearer abc.def.ghi\x01\x01", "n,a=alice,\x01auth=bearer x\x01k=v\x01\x01", "n,,\x01\x01", "\x01"} {
		f.Add([]byte(s))
	}
	m := OAuthBearer{Validator: rejectAll{}}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ParseOAuthBearer(b)
		s := m.NewSession()
		out, done, err := s.Step(b)
		if done {
			t.Fatalf("accepted %q", b)
		}
		if err == nil {
			if _, _, err := s.Step([]byte{1}); err == nil || ClientMessage(err, false) != string(out) {
				t.Fatalf("after challenge %q: %v", out, err)
			}
		}
	})
}

type rejectAll struct{}

func (rejectAll) ValidateToken(string) (string, time.Time, error) {
	return "", time.Time{}, ErrInvalidJWT
}

func FuzzJWT(f *testing.F) {
	rk, ek := testKeys(f)
	now := time.Unix(1_700_000_000, 0)
	claims := map[string]any{"sub": "a", "exp": now.Unix() + 60, "iat": now.Unix()}
	f.Add(signJWT(f, "RS256", "rsa1", rk, claims))
	f.Add(signJWT(f, "ES256", "ec1", ek, claims))
	f.Add("e30.e30.")
	f.Add("a.b.c.d")
	v := &JWTValidator{cfg: JWTConfig{SubClaimName: "sub", ScopeClaimName: "scope", Now: func() time.Time { return now }, ClockSkew: 30 * time.Second},
		keys: mustJWKS(f, jwksJSON(&rk.PublicKey, &ek.PublicKey)), checked: now.Add(time.Hour)}
	f.Fuzz(func(t *testing.T, tok string) {
		_, _, _, _, _ = ParseJWT(tok)
		_, _, _ = v.ValidateToken(tok)
	})
}

func mustJWKS(f *testing.F, b []byte) []JWK {
	keys, err := ParseJWKS(b)
	if err != nil {
		f.Fatal(err)
	}
	return keys
}

func FuzzJWKS(f *testing.F) {
	rk, ek := testKeys(f)
	f.Add(jwksJSON(&rk.PublicKey, &ek.PublicKey))
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-521","x":"","y":""}]}`))
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = ParseJWKS(b) })
}

func FuzzJAAS(f *testing.F) {
	for _, s := range []string{kafkaPlainJAAS, `M optional a="x\"y\\z\n" b='q' c=w.1 d="\101\0";`, "// c\nM required /* x */;", `M required a="`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		entries, err := ParseJAAS(s)
		if err == nil && len(entries) == 0 {
			t.Fatal("no entries and no error")
		}
		_, _ = PlainUsersFromJAAS(s)
	})
}

func FuzzMappingRules(f *testing.F) {
	for _, s := range []string{"DEFAULT", "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L, DEFAULT", `RULE:\/\\\(\)\n\t/\/\//`, "RULE:(a)/$9$1$$\\/U", ",,RULE://,,,DEFAULT,,"} {
		f.Add(s, "CN=Duke,OU=ServiceUsers,O=Org,C=US")
	}
	f.Fuzz(func(t *testing.T, rules, dn string) {
		m, err := ParseMappingRules(rules)
		if err != nil {
			return
		}
		_ = m.String()
		_, _ = m.Name(dn)
	})
}

func FuzzFormatDN(f *testing.F) {
	name := pkix.Name{CommonName: "a,b+c", Organization: []string{" #x "}, Country: []string{"US"}}
	der, _ := asn1.Marshal(name.ToRDNSequence())
	f.Add(der)
	f.Add([]byte{0x30, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := FormatDN(b)
		if err == nil && len(b) > 2 && strings.Count(s, "=") == 0 && s != "" {
			t.Fatalf("%q rendered without attributes: %q", b, s)
		}
	})
}

func FuzzDecryptPKCS8(f *testing.F) {
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x00}, "pw")
	f.Fuzz(func(t *testing.T, der []byte, pw string) { _, _ = DecryptPKCS8(der, pw) })
}
