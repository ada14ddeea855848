package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"time"
)

// Kafka's SCRAM iteration bounds (ScramMechanism.minIterations and the
// AlterUserScramCredentials maximum).
const (
	ScramMinIterations = 4096
	ScramMaxIterations = 16384
)

// ScramHash is a SCRAM mechanism's hash.
type ScramHash int8

// The SCRAM hashes, numbered as Kafka's ScramMechanism types (the
// mechanism field of DescribeUserScramCredentials/AlterUserScramCredentials).
const (
	ScramSHA256 ScramHash = 1
	ScramSHA512 ScramHash = 2
)

// ParseScramMechanism maps a mechanism name to its hash.
func ParseScramMechanism(name string) (ScramHash, bool) {
	switch name {
	case MechanismScramSHA256:
		return ScramSHA256, true
	case MechanismScramSHA512:
		return ScramSHA512, true
	}
	return 0, false
}

// Name is the SASL mechanism name.
func (h ScramHash) Name() string {
	switch h {
	case ScramSHA256:
		return MechanismScramSHA256
	case ScramSHA512:
		return MechanismScramSHA512
	}
	return "SCRAM-UNKNOWN"
}

func (h ScramHash) newHash() func() hash.Hash {
	if h == ScramSHA512 {
		return sha512.New
	}
	return sha256.New
}

func (h ScramHash) size() int {
	if h == ScramSHA512 {
		return sha512.Size
	}
	return sha256.Size
}

// ScramCredential is a user's stored SCRAM secret, the fields Kafka keeps
// (ScramCredential, UserScramCredentialRecord): the server can verify a
// client but cannot recover the password.
type ScramCredential struct {
	Salt       []byte
	Iterations int
	StoredKey  []byte // H(HMAC(SaltedPassword, "Client Key"))
	ServerKey  []byte // HMAC(SaltedPassword, "Server Key")
}

// NewScramCredential derives a credential from a password with a fresh
// random 32-byte salt.
func NewScramCredential(h ScramHash, password string, iterations int) (ScramCredential, error) {
	salt := make([]byte, 32)
	if _, err := rand.Read(salt); err != nil {
		return ScramCredential{}, err
	}
	return ScramCredentialFromPassword(h, password, salt, iterations)
}

// ScramCredentialFromPassword derives a credential from a password and salt
// (RFC 5802 section 3; the password is used as its UTF-8 bytes, without
// SASLprep, as Kafka and franz-go do).
func ScramCredentialFromPassword(h ScramHash, password string, salt []byte, iterations int) (ScramCredential, error) {
	if iterations < ScramMinIterations || iterations > ScramMaxIterations {
		return ScramCredential{}, fmt.Errorf("%w: iterations %d outside %d..%d", ErrInvalidPassword, iterations, ScramMinIterations, ScramMaxIterations)
	}
	salted, err := scramSalted(h, password, salt, iterations)
	if err != nil {
		return ScramCredential{}, err
	}
	return ScramCredentialFromSaltedPassword(h, salt, salted, iterations), nil
}

// scramSalted is SaltedPassword = PBKDF2(password, salt, iterations).
func scramSalted(h ScramHash, password string, salt []byte, iterations int) ([]byte, error) {
	return pbkdf2.Key(h.newHash(), password, salt, iterations, h.size())
}

// ScramCredentialFromSaltedPassword derives the stored keys from a salted
// password, the form AlterUserScramCredentials carries.
func ScramCredentialFromSaltedPassword(h ScramHash, salt, salted []byte, iterations int) ScramCredential {
	clientKey := hmacSum(h, salted, []byte("Client Key"))
	stored := h.newHash()()
	stored.Write(clientKey)
	return ScramCredential{
		Salt:       append([]byte(nil), salt...),
		Iterations: iterations,
		StoredKey:  stored.Sum(nil),
		ServerKey:  hmacSum(h, salted, []byte("Server Key")),
	}
}

func hmacSum(h ScramHash, key, msg []byte) []byte {
	m := hmac.New(h.newHash(), key)
	m.Write(msg)
	return m.Sum(nil)
}

// ScramCredentials looks up SCRAM credentials; the controller quorum
// implements it over its stored UserScramCredentialRecords.
type ScramCredentials interface {
	// ScramCredential returns user's credential for the hash, ok false if
	// the user has none. An error means the lookup itself failed.
	ScramCredential(h ScramHash, user string) (cred ScramCredential, ok bool, err error)
}

// DelegationTokens looks up delegation tokens for SCRAM's tokenauth
// extension (KIP-48: the SCRAM username is the token id, the password its
// HMAC).
type DelegationTokens interface {
	// DelegationToken returns the token's SCRAM credential, its owner and
	// its expiry; ok false if no such live token exists.
	DelegationToken(h ScramHash, tokenID string) (cred ScramCredential, owner Principal, expiry time.Time, ok bool, err error)
}

// Scram is the SCRAM-SHA-256 or SCRAM-SHA-512 mechanism (RFC 5802, RFC
// 7677) with Kafka's rules: gs2 header "n" only (no channel binding), the
// tokenauth extension for delegation tokens, iterations at least 4096.
type Scram struct {
	Hash  ScramHash
	Users ScramCredentials
	// Tokens, if nil, makes every tokenauth=true exchange fail.
	Tokens DelegationTokens
	// Nonce returns the server's nonce part; nil means 32 random letters
	// and digits from crypto/rand. Tests set it.
	Nonce func() (string, error)
}

// Name returns SCRAM-SHA-256 or SCRAM-SHA-512.
func (m Scram) Name() string { return m.Hash.Name() }

// NewSession starts a SCRAM exchange.
func (m Scram) NewSession() Session { return &scramSession{m: m} }

type scramState int

const (
	scramWantClientFirst scramState = iota
	scramWantClientFinal
	scramDone
	scramFailed
)

type scramSession struct {
	m         Scram
	state     scramState
	first     ScramClientFirst
	cred      ScramCredential
	nonce     string // client nonce + server nonce
	server1   string // server-first message
	principal Principal
	expiry    time.Time
}

// ScramClientFirst is a parsed client-first message.
type ScramClientFirst struct {
	GS2Header  string // "n,," or "n,a=<authzid>,"
	Authzid    string // decoded
	User       string // decoded saslname
	Nonce      string
	Extensions map[string]string
	Bare       string // client-first-message-bare, as sent
}

// ScramClientFinal is a parsed client-final message.
type ScramClientFinal struct {
	ChannelBinding []byte
	Nonce          string
	Extensions     map[string]string
	Proof          []byte
	WithoutProof   string // client-final-message-without-proof, as sent
}

func (s *scramSession) fail(scram, msg string) ([]byte, bool, error) {
	s.state = scramFailed
	s.cred = ScramCredential{}
	return nil, false, authHidden(s.m.Name(), scram, msg)
}

func (s *scramSession) Step(tok []byte) ([]byte, bool, error) {
	switch s.state {
	case scramWantClientFirst:
		return s.clientFirst(tok)
	case scramWantClientFinal:
		return s.clientFinal(tok)
	}
	s.state = scramFailed
	return nil, false, authFailed(s.m.Name(), ErrIllegalState.Error())
}

func (s *scramSession) clientFirst(tok []byte) ([]byte, bool, error) {
	first, err := ParseScramClientFirst(tok)
	if err != nil {
		return s.fail("other-error", err.Error())
	}
	s.first = first
	var cred ScramCredential
	var ok bool
	if first.Extensions["tokenauth"] == "true" {
		if s.m.Tokens == nil {
			return s.fail("extensions-not-supported", "Token Authentication failed: delegation tokens are not enabled")
		}
		var owner Principal
		var expiry time.Time
		cred, owner, expiry, ok, err = s.m.Tokens.DelegationToken(s.m.Hash, first.User)
		if err != nil {
			return s.fail("other-error", "Authentication failed: Credentials could not be obtained")
		}
		if !ok {
			return s.fail("unknown-user", "Token Authentication failed: Invalid tokenId : "+first.User)
		}
		s.principal, s.expiry = owner, expiry
	} else {
		if s.m.Users == nil {
			return s.fail("unknown-user", "Authentication failed: Invalid user credentials")
		}
		cred, ok, err = s.m.Users.ScramCredential(s.m.Hash, first.User)
		if err != nil {
			return s.fail("other-error", "Authentication failed: Credentials could not be obtained")
		}
		if !ok {
			return s.fail("unknown-user", "Authentication failed: Invalid user credentials")
		}
		s.principal = User(first.User)
	}
	if first.Authzid != "" && first.Authzid != first.User {
		s.state = scramFailed
		return nil, false, authFailed(s.m.Name(), "Authentication failed: Client requested an authorization id that is different from username")
	}
	if cred.Iterations < ScramMinIterations {
		return s.fail("other-error", fmt.Sprintf("Iterations %d is less than the minimum %d for %s", cred.Iterations, ScramMinIterations, s.m.Name()))
	}
	serverNonce, err := s.serverNonce()
	if err != nil {
		return s.fail("other-error", "Authentication failed: could not generate a nonce")
	}
	s.cred = cred
	s.nonce = first.Nonce + serverNonce
	s.server1 = "r=" + s.nonce + ",s=" + base64.StdEncoding.EncodeToString(cred.Salt) + ",i=" + strconv.Itoa(cred.Iterations)
	s.state = scramWantClientFinal
	return []byte(s.server1), false, nil
}

func (s *scramSession) serverNonce() (string, error) {
	if s.m.Nonce != nil {
		return s.m.Nonce()
	}
	// Letters and digits only, as Kafka's (a random number in base 36).
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b), nil
}

func (s *scramSession) clientFinal(tok []byte) ([]byte, bool, error) {
	final, err := ParseScramClientFinal(tok)
	if err != nil {
		return s.fail("other-error", err.Error())
	}
	// Kafka accepts a final nonce that ends with the server-first's r=
	// (ScramSaslServer's endsWith): librdkafka sends its own nonce again
	// in front of it.
	if !strings.HasSuffix(final.Nonce, s.nonce) {
		return s.fail("other-error", "Invalid client nonce in the final client message.")
	}
	if string(final.ChannelBinding) != s.first.GS2Header {
		return s.fail("channel-bindings-dont-match", "Invalid channel binding in the final client message.")
	}
	h := s.m.Hash
	if len(final.Proof) != h.size() {
		return s.fail("invalid-proof", "Invalid client credentials")
	}
	authMsg := []byte(s.first.Bare + "," + s.server1 + "," + final.WithoutProof)
	clientSig := hmacSum(h, s.cred.StoredKey, authMsg)
	clientKey := make([]byte, len(clientSig))
	subtle.XORBytes(clientKey, final.Proof, clientSig)
	stored := h.newHash()()
	stored.Write(clientKey)
	if subtle.ConstantTimeCompare(stored.Sum(nil), s.cred.StoredKey) != 1 {
		return s.fail("invalid-proof", "Invalid client credentials")
	}
	serverSig := hmacSum(h, s.cred.ServerKey, authMsg)
	s.cred = ScramCredential{}
	s.state = scramDone
	return []byte("v=" + base64.StdEncoding.EncodeToString(serverSig)), true, nil
}

func (s *scramSession) Principal() Principal { return s.principal }
func (s *scramSession) Expiry() time.Time    { return s.expiry }

// ScramServerError formats an RFC 5802 server-final error message (e=).
func ScramServerError(value string) []byte { return []byte("e=" + value) }

// Character classes of Kafka's ScramMessages patterns.
func isValueChar(c byte) bool     { return c >= 0x01 && c <= 0x7F && c != ',' }
func isPrintableChar(c byte) bool { return c >= 0x21 && c <= 0x7E && c != ',' }
func isAlpha(c byte) bool         { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// decodeSaslname checks a saslname (ASCII without ',' and with '=' only in
// =2C and =3D, as Kafka's pattern requires) and decodes it.
func decodeSaslname(s string) (string, bool) {
	if s == "" {
		return "", false
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '=':
			switch {
			case strings.HasPrefix(s[i:], "=2C"):
				b.WriteByte(',')
			case strings.HasPrefix(s[i:], "=3D"):
				b.WriteByte('=')
			default:
				return "", false
			}
			i += 2
		case c == ',' || c == 0 || c > 0x7F:
			return "", false
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), true
}

// EncodeSaslname escapes a username for a SCRAM n= or a= field.
func EncodeSaslname(user string) string {
	return strings.NewReplacer("=", "=3D", ",", "=2C").Replace(user)
}

// parseExtensions parses ",key=value" pairs (key letters, value any
// character but ','), the EXTENSIONS part of Kafka's patterns.
func parseExtensions(fields []string) (map[string]string, bool) {
	var ext map[string]string
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		if !ok || k == "" || v == "" {
			return nil, false
		}
		for i := 0; i < len(k); i++ {
			if !isAlpha(k[i]) {
				return nil, false
			}
		}
		for i := 0; i < len(v); i++ {
			if !isValueChar(v[i]) {
				return nil, false
			}
		}
		if ext == nil {
			ext = map[string]string{}
		}
		ext[k] = v
	}
	return ext, true
}

func allBytes(s string, ok func(byte) bool) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}

// ParseScramClientFirst parses a client-first message:
// gs2-header [reserved-mext ","] "n=" saslname ",r=" nonce ["," extensions],
// with gs2-header "n," ["a=" saslname] "," (Kafka supports no channel
// binding, so "y" and "p" are refused).
func ParseScramClientFirst(msg []byte) (ScramClientFirst, error) {
	bad := func() (ScramClientFirst, error) {
		return ScramClientFirst{}, fmt.Errorf("invalid scram client first message format: %q", clip(msg))
	}
	s := string(msg)
	if !strings.HasPrefix(s, "n,") {
		return bad()
	}
	end := strings.IndexByte(s[2:], ',')
	if end < 0 {
		return bad()
	}
	var out ScramClientFirst
	if a := s[2 : 2+end]; a != "" {
		name, ok := strings.CutPrefix(a, "a=")
		if !ok {
			return bad()
		}
		if out.Authzid, ok = decodeSaslname(name); !ok {
			return bad()
		}
	}
	out.GS2Header = s[:2+end+1]
	out.Bare = s[len(out.GS2Header):]
	fields := strings.Split(out.Bare, ",")
	if len(fields) > 0 && strings.HasPrefix(fields[0], "m=") {
		if !allBytes(fields[0][2:], isValueChar) {
			return bad()
		}
		fields = fields[1:]
	}
	if len(fields) < 2 {
		return bad()
	}
	name, ok := strings.CutPrefix(fields[0], "n=")
	if !ok {
		return bad()
	}
	if out.User, ok = decodeSaslname(name); !ok {
		return bad()
	}
	if out.Nonce, ok = strings.CutPrefix(fields[1], "r="); !ok || !allBytes(out.Nonce, isPrintableChar) {
		return bad()
	}
	if out.Extensions, ok = parseExtensions(fields[2:]); !ok {
		return bad()
	}
	return out, nil
}

// ParseScramClientFinal parses a client-final message:
// "c=" base64 ",r=" nonce ["," extensions] ",p=" base64.
func ParseScramClientFinal(msg []byte) (ScramClientFinal, error) {
	bad := func() (ScramClientFinal, error) {
		return ScramClientFinal{}, fmt.Errorf("invalid scram client final message format: %q", clip(msg))
	}
	s := string(msg)
	i := strings.LastIndex(s, ",p=")
	if i < 0 {
		return bad()
	}
	var out ScramClientFinal
	out.WithoutProof = s[:i]
	var err error
	if out.Proof, err = base64.StdEncoding.Strict().DecodeString(s[i+3:]); err != nil || len(out.Proof) == 0 {
		return bad()
	}
	fields := strings.Split(out.WithoutProof, ",")
	if len(fields) < 2 {
		return bad()
	}
	c, ok := strings.CutPrefix(fields[0], "c=")
	if !ok {
		return bad()
	}
	if out.ChannelBinding, err = base64.StdEncoding.Strict().DecodeString(c); err != nil {
		return bad()
	}
	if out.Nonce, ok = strings.CutPrefix(fields[1], "r="); !ok || !allBytes(out.Nonce, isPrintableChar) {
		return bad()
	}
	if out.Extensions, ok = parseExtensions(fields[2:]); !ok {
		return bad()
	}
	return out, nil
}

// clip bounds a client's bytes quoted into an error.
func clip(b []byte) []byte {
	const n = 200
	if len(b) > n {
		return bytes.Clone(b[:n])
	}
	return b
}
