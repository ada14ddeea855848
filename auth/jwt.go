package auth

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Kafka's KIP-768 broker-side OAUTHBEARER configuration keys.
const (
	KeyJWKSEndpointURL  = "sasl.oauthbearer.jwks.endpoint.url"
	KeyExpectedAudience = "sasl.oauthbearer.expected.audience"
	KeyExpectedIssuer   = "sasl.oauthbearer.expected.issuer"
	KeySubClaimName     = "sasl.oauthbearer.sub.claim.name"
	KeyScopeClaimName   = "sasl.oauthbearer.scope.claim.name"
	KeyClockSkewSeconds = "sasl.oauthbearer.clock.skew.seconds"
)

// JWTConfig configures JWTValidator.
type JWTConfig struct {
	// JWKSFile is the JSON Web Key Set file (a file:// JWKS URL); it is
	// re-read when its modification time or size changes.
	JWKSFile string
	// ExpectedAudience, if not empty, requires the aud claim to hold one
	// of these. If empty, a token with an aud claim is refused (jose4j's
	// rule, which Kafka inherits).
	ExpectedAudience []string
	// ExpectedIssuer, if set, must equal the iss claim.
	ExpectedIssuer string
	// SubClaimName names the claim holding the principal (default "sub").
	SubClaimName string
	// ScopeClaimName names the scope claim (default "scope"); a present
	// scope must be a string or a list of non-empty strings.
	ScopeClaimName string
	// ClockSkew is the leeway on exp, nbf and iat (default 30 s).
	ClockSkew time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// JWTConfigFromKafka reads the KIP-768 keys. Only file:// JWKS URLs are
// supported (gregor fetches nothing over HTTP).
func JWTConfigFromKafka(props map[string]string) (JWTConfig, error) {
	var c JWTConfig
	raw := props[KeyJWKSEndpointURL]
	if raw == "" {
		return c, fmt.Errorf("%w: %s is required", ErrJWKS, KeyJWKSEndpointURL)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "file" || u.Path == "" {
		return c, fmt.Errorf("%w: %s=%q: only file:// URLs are supported", ErrJWKS, KeyJWKSEndpointURL, raw)
	}
	c.JWKSFile = u.Path
	for _, a := range strings.Split(props[KeyExpectedAudience], ",") {
		if a = strings.TrimSpace(a); a != "" {
			c.ExpectedAudience = append(c.ExpectedAudience, a)
		}
	}
	c.ExpectedIssuer = strings.TrimSpace(props[KeyExpectedIssuer])
	c.SubClaimName = strings.TrimSpace(props[KeySubClaimName])
	c.ScopeClaimName = strings.TrimSpace(props[KeyScopeClaimName])
	if s := strings.TrimSpace(props[KeyClockSkewSeconds]); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return c, fmt.Errorf("%w: %s=%q is not a non-negative integer", ErrJWKS, KeyClockSkewSeconds, s)
		}
		c.ClockSkew = time.Duration(n) * time.Second
	} else {
		c.ClockSkew = 30 * time.Second
	}
	return c, nil
}

// JWTValidator validates JWS-signed JWTs (RS256/384/512, PS256/384/512,
// ES256/384/512) against a JWKS file, with the claim rules of Kafka's
// ValidatorAccessTokenValidator: exp and iat required, nbf honoured,
// audience, issuer and subject claim checked. Safe for concurrent use.
type JWTValidator struct {
	cfg JWTConfig

	mu      sync.Mutex
	keys    []JWK
	modTime time.Time
	size    int64
	checked time.Time
}

// NewJWTValidator loads the JWKS file and returns a validator.
func NewJWTValidator(cfg JWTConfig) (*JWTValidator, error) {
	if cfg.SubClaimName == "" {
		cfg.SubClaimName = "sub"
	}
	if cfg.ScopeClaimName == "" {
		cfg.ScopeClaimName = "scope"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	v := &JWTValidator{cfg: cfg}
	if err := v.reloadLocked(true); err != nil {
		return nil, err
	}
	return v, nil
}

// reloadLocked re-reads the JWKS file if it changed. Lock mu.
func (v *JWTValidator) reloadLocked(force bool) error {
	st, err := os.Stat(v.cfg.JWKSFile)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrJWKS, err)
	}
	if !force && st.ModTime().Equal(v.modTime) && st.Size() == v.size {
		return nil
	}
	b, err := os.ReadFile(v.cfg.JWKSFile)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrJWKS, err)
	}
	keys, err := ParseJWKS(b)
	if err != nil {
		return err
	}
	v.keys, v.modTime, v.size = keys, st.ModTime(), st.Size()
	return nil
}

func (v *JWTValidator) currentKeys() []JWK {
	v.mu.Lock()
	defer v.mu.Unlock()
	now := v.cfg.Now()
	if now.Sub(v.checked) >= time.Second {
		v.checked = now
		// A JWKS file that became unreadable or invalid keeps the keys
		// last loaded.
		_ = v.reloadLocked(false)
	}
	return v.keys
}

// JWK is one usable signature-verification key of a JWKS.
type JWK struct {
	KeyID string
	Alg   string // may be empty
	Key   crypto.PublicKey
}

// ParseJWKS parses a JSON Web Key Set (RFC 7517), keeping RSA and EC
// (P-256, P-384, P-521) keys whose use is "sig" or absent and skipping
// other key types. A malformed RSA or EC key is an error.
func ParseJWKS(b []byte) ([]JWK, error) {
	var set struct {
		Keys []struct {
			Kty string `json:"kty"`
			Kid string `json:"kid"`
			Use string `json:"use"`
			Alg string `json:"alg"`
			N   string `json:"n"`
			E   string `json:"e"`
			Crv string `json:"crv"`
			X   string `json:"x"`
			Y   string `json:"y"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrJWKS, err)
	}
	var out []JWK
	for i, k := range set.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		switch k.Kty {
		case "RSA":
			n, err1 := base64.RawURLEncoding.DecodeString(strings.TrimRight(k.N, "="))
			e, err2 := base64.RawURLEncoding.DecodeString(strings.TrimRight(k.E, "="))
			if err1 != nil || err2 != nil || len(n) == 0 || len(e) == 0 || len(e) > 4 {
				return nil, fmt.Errorf("%w: key %d (%q): bad RSA n or e", ErrJWKS, i, k.Kid)
			}
			ev := 0
			for _, c := range e {
				ev = ev<<8 | int(c)
			}
			pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: ev}
			if pub.N.BitLen() < 2048 || ev < 3 || ev%2 == 0 {
				return nil, fmt.Errorf("%w: key %d (%q): RSA key smaller than 2048 bits or bad exponent", ErrJWKS, i, k.Kid)
			}
			out = append(out, JWK{KeyID: k.Kid, Alg: k.Alg, Key: pub})
		case "EC":
			var curve elliptic.Curve
			switch k.Crv {
			case "P-256":
				curve = elliptic.P256()
			case "P-384":
				curve = elliptic.P384()
			case "P-521":
				curve = elliptic.P521()
			default:
				return nil, fmt.Errorf("%w: key %d (%q): unsupported curve %q", ErrJWKS, i, k.Kid, k.Crv)
			}
			size := (curve.Params().BitSize + 7) / 8
			x, err1 := base64.RawURLEncoding.DecodeString(k.X)
			y, err2 := base64.RawURLEncoding.DecodeString(k.Y)
			if err1 != nil || err2 != nil || len(x) != size || len(y) != size {
				return nil, fmt.Errorf("%w: key %d (%q): bad EC x or y", ErrJWKS, i, k.Kid)
			}
			pub, err := ecdsa.ParseUncompressedPublicKey(curve, append(append([]byte{4}, x...), y...))
			if err != nil {
				return nil, fmt.Errorf("%w: key %d (%q): %v", ErrJWKS, i, k.Kid, err)
			}
			out = append(out, JWK{KeyID: k.Kid, Alg: k.Alg, Key: pub})
		}
	}
	return out, nil
}

// JWTHeader is a parsed JOSE header.
type JWTHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
}

// ParseJWT splits a compact JWS into its header, claims (as raw JSON
// values) and the signing input and signature, without verifying.
func ParseJWT(token string) (hdr JWTHeader, claims map[string]json.RawMessage, signingInput string, sig []byte, err error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return hdr, nil, "", nil, fmt.Errorf("%w: a JWS has 3 dot-separated parts, got %d", ErrInvalidJWT, len(parts))
	}
	h, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return hdr, nil, "", nil, fmt.Errorf("%w: header is not base64url", ErrInvalidJWT)
	}
	if err := json.Unmarshal(h, &hdr); err != nil {
		return hdr, nil, "", nil, fmt.Errorf("%w: header is not JSON", ErrInvalidJWT)
	}
	p, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return hdr, nil, "", nil, fmt.Errorf("%w: payload is not base64url", ErrInvalidJWT)
	}
	d := json.NewDecoder(bytes.NewReader(p))
	if err := d.Decode(&claims); err != nil || claims == nil {
		return hdr, nil, "", nil, fmt.Errorf("%w: payload is not a JSON object", ErrInvalidJWT)
	}
	if sig, err = base64.RawURLEncoding.DecodeString(parts[2]); err != nil {
		return hdr, nil, "", nil, fmt.Errorf("%w: signature is not base64url", ErrInvalidJWT)
	}
	return hdr, claims, parts[0] + "." + parts[1], sig, nil
}

// verifyJWS checks sig over input with key under alg.
func verifyJWS(alg string, key crypto.PublicKey, input string, sig []byte) bool {
	var h crypto.Hash
	switch alg[2:] {
	case "256":
		h = crypto.SHA256
	case "384":
		h = crypto.SHA384
	case "512":
		h = crypto.SHA512
	default:
		return false
	}
	var digest []byte
	switch h {
	case crypto.SHA256:
		d := sha256.Sum256([]byte(input))
		digest = d[:]
	case crypto.SHA384:
		d := sha512.Sum384([]byte(input))
		digest = d[:]
	default:
		d := sha512.Sum512([]byte(input))
		digest = d[:]
	}
	switch alg[:2] {
	case "RS":
		k, ok := key.(*rsa.PublicKey)
		return ok && rsa.VerifyPKCS1v15(k, h, digest, sig) == nil
	case "PS":
		k, ok := key.(*rsa.PublicKey)
		return ok && rsa.VerifyPSS(k, h, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil
	case "ES":
		k, ok := key.(*ecdsa.PublicKey)
		if !ok {
			return false
		}
		want := map[string]int{"256": 256, "384": 384, "512": 521}[alg[2:]]
		if k.Curve.Params().BitSize != want {
			return false
		}
		size := (want + 7) / 8
		if len(sig) != 2*size {
			return false
		}
		r := new(big.Int).SetBytes(sig[:size])
		s := new(big.Int).SetBytes(sig[size:])
		return ecdsa.Verify(k, digest, r, s)
	}
	return false
}

func supportedAlg(alg string) bool {
	switch alg {
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512":
		return true
	}
	return false
}

// numericDate reads a JSON number of seconds since the epoch.
func numericDate(raw json.RawMessage) (time.Time, bool) {
	var f json.Number
	if err := json.Unmarshal(raw, &f); err != nil {
		return time.Time{}, false
	}
	v, err := f.Float64()
	if err != nil || v < 0 || v > 1e11 {
		return time.Time{}, false
	}
	sec := int64(v)
	return time.Unix(sec, int64((v-float64(sec))*1e9)), true
}

// ValidateToken verifies the signature and claims and returns the subject
// claim's value as the principal name and the exp claim as the expiry.
func (v *JWTValidator) ValidateToken(token string) (string, time.Time, error) {
	hdr, claims, input, sig, err := ParseJWT(token)
	if err != nil {
		return "", time.Time{}, err
	}
	if hdr.Alg == "" || hdr.Alg == "none" {
		return "", time.Time{}, fmt.Errorf("%w: algorithm %q is not allowed", ErrInvalidJWT, hdr.Alg)
	}
	if !supportedAlg(hdr.Alg) {
		return "", time.Time{}, fmt.Errorf("%w: unsupported algorithm %q", ErrInvalidJWT, hdr.Alg)
	}
	verified := false
	for _, k := range v.currentKeys() {
		if hdr.Kid != "" && k.KeyID != hdr.Kid {
			continue
		}
		if k.Alg != "" && k.Alg != hdr.Alg {
			continue
		}
		if verifyJWS(hdr.Alg, k.Key, input, sig) {
			verified = true
			break
		}
	}
	if !verified {
		return "", time.Time{}, fmt.Errorf("%w: no key in the JWKS verifies the signature (kid %q, alg %s)", ErrInvalidJWT, hdr.Kid, hdr.Alg)
	}
	now := v.cfg.Now()
	skew := v.cfg.ClockSkew
	date := func(name string, required bool) (time.Time, error) {
		raw, ok := claims[name]
		if !ok || string(raw) == "null" {
			if required {
				return time.Time{}, fmt.Errorf("%w: no %s claim", ErrInvalidJWT, name)
			}
			return time.Time{}, nil
		}
		t, ok := numericDate(raw)
		if !ok {
			return time.Time{}, fmt.Errorf("%w: %s claim is not a numeric date", ErrInvalidJWT, name)
		}
		return t, nil
	}
	exp, err := date("exp", true)
	if err != nil {
		return "", time.Time{}, err
	}
	if !now.Before(exp.Add(skew)) {
		return "", time.Time{}, fmt.Errorf("%w: expired at %s (now %s, skew %s)", ErrInvalidJWT, exp.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), skew)
	}
	iat, err := date("iat", true)
	if err != nil {
		return "", time.Time{}, err
	}
	if iat.After(now.Add(skew)) {
		return "", time.Time{}, fmt.Errorf("%w: issued in the future at %s", ErrInvalidJWT, iat.UTC().Format(time.RFC3339))
	}
	nbf, err := date("nbf", false)
	if err != nil {
		return "", time.Time{}, err
	}
	if !nbf.IsZero() && now.Add(skew).Before(nbf) {
		return "", time.Time{}, fmt.Errorf("%w: not valid before %s", ErrInvalidJWT, nbf.UTC().Format(time.RFC3339))
	}
	if err := v.checkAudience(claims["aud"]); err != nil {
		return "", time.Time{}, err
	}
	if v.cfg.ExpectedIssuer != "" {
		var iss string
		if raw, ok := claims["iss"]; !ok || json.Unmarshal(raw, &iss) != nil || iss != v.cfg.ExpectedIssuer {
			return "", time.Time{}, fmt.Errorf("%w: issuer is not %q", ErrInvalidJWT, v.cfg.ExpectedIssuer)
		}
	}
	if raw, ok := claims[v.cfg.ScopeClaimName]; ok {
		if _, ok := stringOrList(raw); !ok {
			return "", time.Time{}, fmt.Errorf("%w: %s claim is not a string or a list of non-empty strings", ErrInvalidJWT, v.cfg.ScopeClaimName)
		}
	}
	var sub string
	if raw, ok := claims[v.cfg.SubClaimName]; !ok || json.Unmarshal(raw, &sub) != nil || strings.TrimSpace(sub) == "" {
		return "", time.Time{}, fmt.Errorf("%w: %s claim missing, empty or not a string", ErrInvalidJWT, v.cfg.SubClaimName)
	}
	return strings.TrimSpace(sub), exp, nil
}

func (v *JWTValidator) checkAudience(raw json.RawMessage) error {
	if raw == nil {
		if len(v.cfg.ExpectedAudience) > 0 {
			return fmt.Errorf("%w: no aud claim", ErrInvalidJWT)
		}
		return nil
	}
	auds, ok := stringOrList(raw)
	if !ok {
		return fmt.Errorf("%w: aud claim is not a string or a list of strings", ErrInvalidJWT)
	}
	if len(v.cfg.ExpectedAudience) == 0 {
		return fmt.Errorf("%w: aud claim present but no expected audience is configured (%s)", ErrInvalidJWT, KeyExpectedAudience)
	}
	for _, a := range auds {
		for _, want := range v.cfg.ExpectedAudience {
			if a == want {
				return nil
			}
		}
	}
	return fmt.Errorf("%w: aud %q holds none of %q", ErrInvalidJWT, auds, v.cfg.ExpectedAudience)
}

// stringOrList reads a claim that is a string or a list of non-empty
// strings.
func stringOrList(raw json.RawMessage) ([]string, bool) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []string{s}, true
	}
	var l []string
	if json.Unmarshal(raw, &l) != nil {
		return nil, false
	}
	for _, x := range l {
		if strings.TrimSpace(x) == "" {
			return nil, false
		}
	}
	return l, true
}
