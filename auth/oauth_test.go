package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sasl/oauth"
)

var (
	testKeysOnce sync.Once
	testRSA      *rsa.PrivateKey
	testEC       *ecdsa.PrivateKey
)

func testKeys(t testing.TB) (*rsa.PrivateKey, *ecdsa.PrivateKey) {
	t.Helper()
	testKeysOnce.Do(func() {
		var err error
		if testRSA, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if testEC, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
	})
	return testRSA, testEC
}

func b64u(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func jwksJSON(rk *rsa.PublicKey, ek *ecdsa.PublicKey) []byte {
	var keys []map[string]string
	if rk != nil {
		keys = append(keys, map[string]string{"kty": "RSA", "kid": "rsa1", "use": "sig",
			"n": b64u(rk.N.Bytes()), "e": b64u(big.NewInt(int64(rk.E)).Bytes())})
	}
	if ek != nil {
		pt, _ := ek.Bytes()
		keys = append(keys, map[string]string{"kty": "EC", "kid": "ec1", "crv": "P-256",
			"x": b64u(pt[1:33]), "y": b64u(pt[33:])})
	}
	keys = append(keys, map[string]string{"kty": "oct", "k": "c2VjcmV0"}) // skipped
	b, _ := json.Marshal(map[string]any{"keys": keys})
	return b
}

// signJWT signs claims with alg using key (an *rsa.PrivateKey or
// *ecdsa.PrivateKey); kid may be empty.
func signJWT(t testing.TB, alg, kid string, key crypto.Signer, claims map[string]any) string {
	t.Helper()
	hdr := map[string]string{"alg": alg, "typ": "JWT"}
	if kid != "" {
		hdr["kid"] = kid
	}
	h, _ := json.Marshal(hdr)
	c, _ := json.Marshal(claims)
	input := b64u(h) + "." + b64u(c)
	d := sha256.Sum256([]byte(input))
	var sig []byte
	var err error
	switch alg {
	case "RS256":
		sig, err = rsa.SignPKCS1v15(rand.Reader, key.(*rsa.PrivateKey), crypto.SHA256, d[:])
	case "PS256":
		sig, err = rsa.SignPSS(rand.Reader, key.(*rsa.PrivateKey), crypto.SHA256, d[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	case "ES256":
		var r, s *big.Int
		r, s, err = ecdsa.Sign(rand.Reader, key.(*ecdsa.PrivateKey), d[:])
		if err == nil {
			sig = append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
		}
	default:
		sig = []byte("x")
	}
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + b64u(sig)
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newTestValidator(t *testing.T, props map[string]string) (*JWTValidator, *fakeClock, string) {
	t.Helper()
	rk, ek := testKeys(t)
	path := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, jwksJSON(&rk.PublicKey, &ek.PublicKey), 0o600); err != nil {
		t.Fatal(err)
	}
	p := map[string]string{KeyJWKSEndpointURL: "file://" + path}
	for k, v := range props {
		p[k] = v
	}
	cfg, err := JWTConfigFromKafka(p)
	if err != nil {
		t.Fatal(err)
	}
	clk := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	cfg.Now = clk.Now
	v, err := NewJWTValidator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v, clk, path
}

func TestJWTValidator(t *testing.T) {
	t.Parallel()
	rk, ek := testKeys(t)
	v, clk, _ := newTestValidator(t, map[string]string{
		KeyExpectedAudience: "kafka, other",
		KeyExpectedIssuer:   "https://idp",
	})
	now := clk.Now().Unix()
	good := func() map[string]any {
		return map[string]any{"sub": "alice", "exp": now + 60, "iat": now, "aud": "kafka", "iss": "https://idp", "scope": "a b"}
	}
	with := func(k string, val any) map[string]any {
		c := good()
		if val == nil {
			delete(c, k)
		} else {
			c[k] = val
		}
		return c
	}
	for _, tc := range []struct {
		name  string
		alg   string
		kid   string
		key   crypto.Signer
		claim map[string]any
		err   string
	}{
		{"rs256", "RS256", "rsa1", rk, good(), ""},
		{"rs256 no kid", "RS256", "", rk, good(), ""},
		{"ps256", "PS256", "rsa1", rk, good(), ""},
		{"es256", "ES256", "ec1", ek, good(), ""},
		{"aud list", "ES256", "ec1", ek, with("aud", []string{"x", "other"}), ""},
		{"expired within skew", "RS256", "rsa1", rk, with("exp", now-20), ""},
		{"expired", "RS256", "rsa1", rk, with("exp", now-30), "expired"},
		{"no exp", "RS256", "rsa1", rk, with("exp", nil), "no exp claim"},
		{"no iat", "RS256", "rsa1", rk, with("iat", nil), "no iat claim"},
		{"iat future", "RS256", "rsa1", rk, with("iat", now+31), "issued in the future"},
		{"nbf future", "RS256", "rsa1", rk, with("nbf", now+31), "not valid before"},
		{"nbf within skew", "RS256", "rsa1", rk, with("nbf", now+29), ""},
		{"exp string", "RS256", "rsa1", rk, with("exp", "soon"), "not a numeric date"},
		{"wrong aud", "RS256", "rsa1", rk, with("aud", "nope"), "holds none of"},
		{"no aud", "RS256", "rsa1", rk, with("aud", nil), "no aud claim"},
		{"wrong iss", "RS256", "rsa1", rk, with("iss", "https://evil"), "issuer is not"},
		{"empty sub", "RS256", "rsa1", rk, with("sub", " "), "sub claim missing"},
		{"bad scope", "RS256", "rsa1", rk, with("scope", []string{""}), "scope claim"},
		{"unknown kid", "RS256", "nokey", rk, good(), "no key in the JWKS"},
		{"kid of other key type", "RS256", "ec1", rk, good(), "no key in the JWKS"},
		{"alg none", "none", "", rk, good(), `algorithm "none" is not allowed`},
		{"hs256", "HS256", "", rk, good(), "unsupported algorithm"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tok := signJWT(t, tc.alg, tc.kid, tc.key, tc.claim)
			sub, exp, err := v.ValidateToken(tok)
			if tc.err != "" {
				if err == nil || !errors.Is(err, ErrInvalidJWT) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || sub != "alice" || exp.Unix() != tc.claim["exp"].(int64) {
				t.Fatalf("sub %q exp %v err %v", sub, exp, err)
			}
		})
	}
	t.Run("tampered", func(t *testing.T) {
		t.Parallel()
		tok := signJWT(t, "RS256", "rsa1", rk, good())
		parts := strings.Split(tok, ".")
		c, _ := json.Marshal(with("sub", "admin"))
		if _, _, err := v.ValidateToken(parts[0] + "." + b64u(c) + "." + parts[2]); err == nil {
			t.Fatal("tampered token accepted")
		}
	})
}

func TestJWTValidatorDefaults(t *testing.T) {
	t.Parallel()
	rk, _ := testKeys(t)
	v, clk, _ := newTestValidator(t, map[string]string{KeySubClaimName: "client_id", KeyClockSkewSeconds: "0"})
	now := clk.Now().Unix()
	if sub, _, err := v.ValidateToken(signJWT(t, "RS256", "rsa1", rk, map[string]any{"client_id": "svc", "exp": now + 1, "iat": now})); err != nil || sub != "svc" {
		t.Fatalf("sub %q err %v", sub, err)
	}
	// No expected audience configured: a token naming one is refused.
	if _, _, err := v.ValidateToken(signJWT(t, "RS256", "rsa1", rk, map[string]any{"client_id": "svc", "exp": now + 1, "iat": now, "aud": "x"})); err == nil {
		t.Fatal("aud accepted with no expected audience")
	}
	if _, _, err := v.ValidateToken(signJWT(t, "RS256", "rsa1", rk, map[string]any{"client_id": "svc", "exp": now, "iat": now})); err == nil {
		t.Fatal("token expiring now accepted with no skew")
	}
}

func TestJWKSReload(t *testing.T) {
	t.Parallel()
	rk, ek := testKeys(t)
	v, clk, path := newTestValidator(t, nil)
	now := clk.Now().Unix()
	tok := signJWT(t, "ES256", "ec1", ek, map[string]any{"sub": "a", "exp": now + 600, "iat": now})
	if _, _, err := v.ValidateToken(tok); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, jwksJSON(&rk.PublicKey, nil), 0o600); err != nil {
		t.Fatal(err)
	}
	clk.Add(2 * time.Second)
	if _, _, err := v.ValidateToken(tok); err == nil {
		t.Fatal("key removed from the JWKS file still verifies")
	}
}

func TestJWKSErrors(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		`{`,
		`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`,
		`{"keys":[{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA"}]}`,
		`{"keys":[{"kty":"EC","crv":"P-192","x":"AAAA","y":"AAAA"}]}`,
		`{"keys":[{"kty":"EC","crv":"P-256","x":"` + b64u(make([]byte, 32)) + `","y":"` + b64u(make([]byte, 32)) + `"}]}`,
	} {
		if _, err := ParseJWKS([]byte(in)); !errors.Is(err, ErrJWKS) {
			t.Errorf("%s: err %v", in, err)
		}
	}
	for _, p := range []map[string]string{
		{},
		{KeyJWKSEndpointURL: "https://idp/jwks"},
		{KeyJWKSEndpointURL: "file:///x", KeyClockSkewSeconds: "-1"},
	} {
		if _, err := JWTConfigFromKafka(p); err == nil {
			t.Errorf("%v accepted", p)
		}
	}
}

func TestParseOAuthBearer(t *testing.T) {
	t.Parallel()
	_, franz, err := oauth.Auth{Token: "abc.def.ghi", Extensions: map[string]string{"traceId": "123"}}.AsMechanism().Authenticate(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		in   string
		want OAuthBearerResponse
		err  bool
	}{
		{"franz-go", string(franz), OAuthBearerResponse{Token: "abc.def.ghi", Extensions: map[string]string{"traceId": "123"}}, false},
		{"minimal", "n,,\x01auth=Bearer t.o-k_e~n+/==\x01\x01", OAuthBearerResponse{Token: "t.o-k_e~n+/=="}, false},
		{"authzid", "n,a=alice,\x01auth=bearer x\x01\x01", OAuthBearerResponse{Authzid: "alice", Token: "x"}, false},
		{"no auth", "n,,\x01k=v\x01\x01", OAuthBearerResponse{}, true},
		{"basic scheme", "n,,\x01auth=Basic x\x01\x01", OAuthBearerResponse{}, true},
		{"no trailer", "n,,\x01auth=Bearer x\x01", OAuthBearerResponse{}, true},
		{"channel binding", "y,,\x01auth=Bearer x\x01\x01", OAuthBearerResponse{}, true},
		{"bad key", "n,,\x01auth=Bearer x\x01k1=v\x01\x01", OAuthBearerResponse{}, true},
		{"bad token char", "n,,\x01auth=Bearer x!y\x01\x01", OAuthBearerResponse{}, true},
		{"empty", "", OAuthBearerResponse{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseOAuthBearer([]byte(tc.in))
			if tc.err != (err != nil) || (!tc.err && !reflect.DeepEqual(got, tc.want)) {
				t.Fatalf("got %+v err %v", got, err)
			}
		})
	}
}

func TestOAuthBearerSession(t *testing.T) {
	t.Parallel()
	rk, _ := testKeys(t)
	v, clk, _ := newTestValidator(t, nil)
	now := clk.Now().Unix()
	tok := signJWT(t, "RS256", "rsa1", rk, map[string]any{"sub": "alice", "exp": now + 600, "iat": now})
	initial := func(authzid, tok string) []byte {
		a := ""
		if authzid != "" {
			a = "a=" + authzid
		}
		return []byte("n," + a + ",\x01auth=Bearer " + tok + "\x01\x01")
	}
	m := OAuthBearer{Validator: v}

	s := m.NewSession()
	out, done, err := s.Step(initial("", tok))
	if err != nil || !done || len(out) != 0 || s.Principal() != User("alice") || s.Expiry().Unix() != now+600 {
		t.Fatalf("out %q done %v err %v principal %v", out, done, err, s.Principal())
	}

	s = m.NewSession()
	out, done, err = s.Step(initial("", tok+"x"))
	if err != nil || done || string(out) != `{"status":"invalid_token"}` {
		t.Fatalf("bad token: out %q done %v err %v", out, done, err)
	}
	_, _, err = s.Step([]byte{1})
	if err == nil || ClientMessage(err, false) != `{"status":"invalid_token"}` || !strings.Contains(err.Error(), "signature") {
		t.Fatalf("after \\x01: %v / %q", err, ClientMessage(err, false))
	}

	s = m.NewSession()
	if _, _, err = s.Step(initial("bob", tok)); err == nil || !strings.Contains(ClientMessage(err, false), "different from the token's principal name (alice)") {
		t.Fatalf("authzid mismatch: %v", err)
	}

	s = m.NewSession()
	if _, _, err = s.Step([]byte("garbage")); err == nil || !errors.Is(err, ErrAuthentication) {
		t.Fatalf("garbage: %v", err)
	}
	if got := OAuthBearerErrorJSON("invalid_token", "s1", "https://x"); got != `{"status":"invalid_token", "scope":"s1", "openid-configuration":"https://x"}` {
		t.Fatal(got)
	}
}
