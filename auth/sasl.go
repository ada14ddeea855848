package auth

import "time"

// SASL mechanism names as clients send them in SaslHandshake.
const (
	MechanismPlain       = "PLAIN"
	MechanismScramSHA256 = "SCRAM-SHA-256"
	MechanismScramSHA512 = "SCRAM-SHA-512"
	MechanismOAuthBearer = "OAUTHBEARER"
)

// Mechanism is a SASL server mechanism. It is safe for concurrent use; each
// connection's exchange runs in its own Session.
type Mechanism interface {
	// Name is the mechanism's SaslHandshake name.
	Name() string
	// NewSession starts one exchange.
	NewSession() Session
}

// Session is one SASL exchange, driven by the broker with each token the
// client sends (the SaslAuthenticate auth_bytes, or the raw token for
// SaslHandshake v0). A Session is used by one goroutine.
type Session interface {
	// Step consumes the client's next token and returns the server's reply
	// (which the broker sends even when done is true: SCRAM's server-final).
	// A non-nil error wraps ErrAuthentication and ends the exchange: the
	// broker answers SASL_AUTHENTICATION_FAILED with err.Error() as the
	// message and closes the connection.
	Step(clientToken []byte) (serverToken []byte, done bool, err error)
	// Principal is the authenticated principal once Step returned done.
	Principal() Principal
	// Expiry is when the credential stops being valid (an OAUTHBEARER
	// token's exp, a delegation token's expiry), or the zero time if it
	// does not expire. The broker bounds KIP-368 re-authentication
	// (session_lifetime_ms) by it.
	Expiry() time.Time
}
