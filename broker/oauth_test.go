package broker

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/oauth"

	"gregor/auth"
)

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// es256JWT signs claims with key as an ES256 JWS with key id kid.
func es256JWT(t *testing.T, key *ecdsa.PrivateKey, kid string, claims map[string]any) string {
	t.Helper()
	h, _ := json.Marshal(map[string]string{"alg": "ES256", "typ": "JWT", "kid": kid})
	c, _ := json.Marshal(claims)
	input := b64url(h) + "." + b64url(c)
	d := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, key, d[:])
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + b64url(append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...))
}

// writeJWKS writes key's public half as a one-key JWKS and returns its
// file:// URL.
func writeJWKS(t *testing.T, key *ecdsa.PrivateKey, kid string) string {
	t.Helper()
	pt, err := key.PublicKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{"keys": []map[string]string{{"kty": "EC", "kid": kid, "crv": "P-256", "use": "sig",
		"x": b64url(pt[1:33]), "y": b64url(pt[33:])}}})
	path := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return "file://" + path
}

// TestOAuthBearerKgo: franz-go's OAUTHBEARER client with a locally signed
// JWT produces and consumes; the principal is the configured subject
// claim; session_lifetime_ms follows the token's exp; expired, wrongly
// signed and wrong-audience tokens fail with SASL_AUTHENTICATION_FAILED.
func TestOAuthBearerKgo(t *testing.T) {
	t.Parallel()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	b := startBroker(t,
		"listeners=SASL://127.0.0.1:0,INTERNAL://127.0.0.1:0",
		"listener.security.protocol.map=SASL:SASL_PLAINTEXT,INTERNAL:PLAINTEXT",
		"inter.broker.listener.name=INTERNAL",
		"sasl.enabled.mechanisms=OAUTHBEARER",
		"sasl.oauthbearer.jwks.endpoint.url="+writeJWKS(t, key, "k1"),
		"sasl.oauthbearer.expected.audience=gregor",
		"sasl.oauthbearer.expected.issuer=https://issuer.test",
		"sasl.oauthbearer.sub.claim.name=client_id",
		"connection.failed.authentication.delay.ms=0")
	now := time.Now()
	claims := func(mod func(map[string]any)) map[string]any {
		c := map[string]any{"client_id": "svc-orders", "sub": "ignored", "aud": "gregor", "iss": "https://issuer.test",
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "scope": "kafka"}
		if mod != nil {
			mod(c)
		}
		return c
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	tok := es256JWT(t, key, "k1", claims(nil))
	cl := b.client(kgo.SASL(oauth.Auth{Token: tok}.AsMechanism()), kgo.ConsumeTopics("oauth"), kgo.AllowAutoTopicCreation())
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "oauth", Value: []byte("tok")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	fs := cl.PollFetches(ctx)
	if err := fs.Err0(); err != nil || fs.NumRecords() != 1 || string(fs.Records()[0].Value) != "tok" {
		t.Fatalf("consume: %v %d", err, fs.NumRecords())
	}
	if !slices.Contains(b.principals(), auth.User("svc-orders")) {
		t.Fatalf("principals %v, want User:svc-orders", b.principals())
	}

	// session_lifetime_ms is the token's remaining validity.
	rc := b.raw(t)
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version, hs.Mechanism = 1, "OAUTHBEARER"
	rc.do(hs)
	areq := kmsg.NewPtrSASLAuthenticateRequest()
	areq.Version, areq.SASLAuthBytes = 1, []byte("n,,\x01auth=Bearer "+tok+"\x01\x01")
	aresp := rc.do(areq).(*kmsg.SASLAuthenticateResponse)
	if aresp.ErrorCode != 0 || aresp.SessionLifetimeMillis <= 50*60*1000 || aresp.SessionLifetimeMillis > 60*60*1000 {
		t.Fatalf("authenticate: %v lifetime %d ms, want about an hour", kerr.ErrorForCode(aresp.ErrorCode), aresp.SessionLifetimeMillis)
	}

	for name, bad := range map[string]string{
		"expired": es256JWT(t, key, "k1", claims(func(c map[string]any) {
			c["exp"] = now.Add(-time.Hour).Unix()
			c["iat"] = now.Add(-2 * time.Hour).Unix()
		})),
		"other key":      es256JWT(t, other, "k1", claims(nil)),
		"wrong audience": es256JWT(t, key, "k1", claims(func(c map[string]any) { c["aud"] = "someone-else" })),
		"wrong issuer":   es256JWT(t, key, "k1", claims(func(c map[string]any) { c["iss"] = "https://evil.test" })),
		"no subject":     es256JWT(t, key, "k1", claims(func(c map[string]any) { delete(c, "client_id") })),
	} {
		// franz-go gives up on the RFC 7628 error challenge itself.
		cl := b.client(kgo.SASL(oauth.Auth{Token: bad}.AsMechanism()), kgo.RequestRetries(0))
		if _, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl); err == nil ||
			!(errors.Is(err, kerr.SaslAuthenticationFailed) || strings.Contains(err.Error(), "unexpected data in oauth response")) {
			t.Fatalf("%s: %v, want a failed login", name, err)
		}
		cl.Close()
		// Kafka's exchange: the error JSON as a challenge, the client's
		// \x01, then SASL_AUTHENTICATION_FAILED and the close.
		rc := b.raw(t)
		rc.do(hs)
		areq.SASLAuthBytes = []byte("n,,\x01auth=Bearer " + bad + "\x01\x01")
		if r := rc.do(areq).(*kmsg.SASLAuthenticateResponse); r.ErrorCode != 0 || string(r.SASLAuthBytes) != `{"status":"invalid_token"}` {
			t.Fatalf("%s: challenge %v %q", name, kerr.ErrorForCode(r.ErrorCode), r.SASLAuthBytes)
		}
		areq.SASLAuthBytes = []byte{1}
		if r := rc.do(areq).(*kmsg.SASLAuthenticateResponse); r.ErrorCode != kerr.SaslAuthenticationFailed.Code {
			t.Fatalf("%s: final %v", name, kerr.ErrorForCode(r.ErrorCode))
		}
		rc.expectClosed()
	}
}

// TestOAuthBearerConfig: OAUTHBEARER needs a file:// JWKS that loads.
func TestOAuthBearerConfig(t *testing.T) {
	t.Parallel()
	base := []string{"listeners=SASL://127.0.0.1:0,INTERNAL://127.0.0.1:0", "listener.security.protocol.map=SASL:SASL_PLAINTEXT,INTERNAL:PLAINTEXT",
		"inter.broker.listener.name=INTERNAL", "sasl.enabled.mechanisms=OAUTHBEARER", "log.dirs=" + t.TempDir()}
	if _, err := Load("", nil, base); err == nil {
		t.Fatal("OAUTHBEARER without a JWKS accepted")
	}
	if _, err := Load("", nil, append(base, "sasl.oauthbearer.jwks.endpoint.url=https://idp.test/jwks")); err == nil {
		t.Fatal("https JWKS accepted (only file:// is served)")
	}
	cfg, err := Load("", nil, append(base, "sasl.oauthbearer.jwks.endpoint.url=file:///nonexistent/jwks.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(cfg, zerolog.Nop()); err == nil {
		t.Fatal("New accepted a JWKS file that does not exist")
	}
}
