package auth

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// OAuthBearerResponse is a parsed OAUTHBEARER client initial response
// (RFC 7628): gs2-header, then \x01-separated key=value pairs, then \x01.
type OAuthBearerResponse struct {
	Authzid    string
	Token      string
	Extensions map[string]string
}

// Kafka's OAuthBearerClientInitialResponse patterns.
var (
	oauthAuthRe  = regexp.MustCompile(`^([A-Za-z0-9_]+) +([-_~+/.a-zA-Z0-9]+=*)$`)
	oauthKeyRe   = regexp.MustCompile(`^[A-Za-z]+$`)
	oauthValueRe = regexp.MustCompile("^[\x21-\x7E \t\r\n]+$")
)

// ParseOAuthBearer parses "n,[a=authzid],\x01auth=Bearer <token>\x01[k=v\x01]...\x01".
func ParseOAuthBearer(msg []byte) (OAuthBearerResponse, error) {
	bad := func(why string) (OAuthBearerResponse, error) {
		return OAuthBearerResponse{}, fmt.Errorf("invalid oauthbearer client first message%s", why)
	}
	s := string(msg)
	if !strings.HasPrefix(s, "n,") {
		return bad("")
	}
	end := strings.IndexByte(s[2:], ',')
	if end < 0 {
		return bad("")
	}
	var out OAuthBearerResponse
	if a := s[2 : 2+end]; a != "" {
		name, ok := strings.CutPrefix(a, "a=")
		if !ok {
			return bad("")
		}
		if out.Authzid, ok = decodeSaslname(name); !ok {
			return bad("")
		}
	}
	rest := s[2+end+1:]
	// rest is \x01 (key=value \x01)* \x01.
	if len(rest) < 2 || rest[0] != 1 || rest[len(rest)-1] != 1 {
		return bad("")
	}
	kvs := rest[1 : len(rest)-1]
	var auth string
	var haveAuth bool
	for kvs != "" {
		i := strings.IndexByte(kvs, 1)
		if i < 0 {
			return bad("")
		}
		kv := kvs[:i]
		kvs = kvs[i+1:]
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !oauthKeyRe.MatchString(k) || !oauthValueRe.MatchString(v) {
			return bad("")
		}
		if k == "auth" {
			auth, haveAuth = v, true
			continue
		}
		if out.Extensions == nil {
			out.Extensions = map[string]string{}
		}
		out.Extensions[k] = v
	}
	if !haveAuth {
		return bad(": 'auth' not specified")
	}
	m := oauthAuthRe.FindStringSubmatch(auth)
	if m == nil {
		return bad(": invalid 'auth' format")
	}
	if !strings.EqualFold(m[1], "bearer") {
		return bad(": invalid scheme " + m[1])
	}
	out.Token = m[2]
	return out, nil
}

// TokenValidator validates an OAUTHBEARER token. JWTValidator is the
// implementation for Kafka's built-in (KIP-768) validation.
type TokenValidator interface {
	// ValidateToken returns the token's principal name and expiry, or an
	// error describing why the token is refused.
	ValidateToken(token string) (principal string, expiry time.Time, err error)
}

// OAuthBearer is the OAUTHBEARER mechanism with Kafka's behaviour: a token
// that fails validation is answered with the RFC 7628 error JSON
// ({"status":"invalid_token"}) as a challenge; the client then sends a
// single \x01 and the exchange fails with that JSON as the message.
type OAuthBearer struct {
	Validator TokenValidator
}

// Name returns OAUTHBEARER.
func (OAuthBearer) Name() string { return MechanismOAuthBearer }

// NewSession starts an OAUTHBEARER exchange.
func (m OAuthBearer) NewSession() Session { return &oauthSession{v: m.Validator} }

type oauthSession struct {
	v         TokenValidator
	errorJSON string // set after a refused token
	done      bool
	failed    bool
	principal Principal
	expiry    time.Time
	// Detail is why the last token was refused, for the broker's log.
	detail string
}

// OAuthBearerErrorJSON formats Kafka's error response: status, then scope
// and openid-configuration when not empty.
func OAuthBearerErrorJSON(status, scope, openIDConfiguration string) string {
	s := `{"status":"` + status + `"`
	if scope != "" {
		s += `, "scope":"` + scope + `"`
	}
	if openIDConfiguration != "" {
		s += `, "openid-configuration":"` + openIDConfiguration + `"`
	}
	return s + "}"
}

func (s *oauthSession) Step(tok []byte) ([]byte, bool, error) {
	if s.done || s.failed {
		s.failed = true
		return nil, false, authFailed(MechanismOAuthBearer, ErrIllegalState.Error())
	}
	if len(tok) == 1 && tok[0] == 1 && s.errorJSON != "" {
		s.failed = true
		return nil, false, &authError{mech: MechanismOAuthBearer, detail: s.errorJSON + ": " + s.detail, public: true, clientText: s.errorJSON}
	}
	s.errorJSON = ""
	resp, err := ParseOAuthBearer(tok)
	if err != nil {
		s.failed = true
		return nil, false, authHidden(MechanismOAuthBearer, "", err.Error())
	}
	if s.v == nil {
		s.failed = true
		return nil, false, authHidden(MechanismOAuthBearer, "", "no token validator configured")
	}
	name, expiry, err := s.v.ValidateToken(resp.Token)
	if err != nil {
		s.errorJSON = OAuthBearerErrorJSON("invalid_token", "", "")
		s.detail = err.Error()
		return []byte(s.errorJSON), false, nil
	}
	if resp.Authzid != "" && resp.Authzid != name {
		s.failed = true
		return nil, false, authFailed(MechanismOAuthBearer, fmt.Sprintf("Authentication failed: Client requested an authorization id (%s) that is different from the token's principal name (%s)", resp.Authzid, name))
	}
	s.done = true
	s.principal = User(name)
	s.expiry = expiry
	return []byte{}, true, nil
}

func (s *oauthSession) Principal() Principal { return s.principal }
func (s *oauthSession) Expiry() time.Time    { return s.expiry }
