package auth

import "errors"

// Sentinel errors. A failed SASL exchange returns an error wrapping
// ErrAuthentication; the broker answers SASL_AUTHENTICATION_FAILED with the
// error's text, which names the cause the way Kafka's does.
var (
	ErrAuthentication  = errors.New("auth: authentication failed")
	ErrIllegalState    = errors.New("auth: unexpected token in this sasl state")
	ErrJAAS            = errors.New("auth: invalid jaas config")
	ErrMappingRule     = errors.New("auth: invalid ssl.principal.mapping.rules")
	ErrNoMatchingRule  = errors.New("auth: no ssl principal mapping rule applies")
	ErrInvalidACL      = errors.New("auth: invalid acl")
	ErrInvalidFilter   = errors.New("auth: invalid acl filter")
	ErrInvalidJWT      = errors.New("auth: invalid jwt")
	ErrJWKS            = errors.New("auth: invalid jwks")
	ErrTLSConfig       = errors.New("auth: invalid tls config")
	ErrInvalidPassword = errors.New("auth: invalid key password")
	ErrScramSpec       = errors.New("auth: invalid scram credential spec")
)

// authError is a SASL failure. Error() is the detailed cause for logs;
// ClientMessage gives the text for the client's SaslAuthenticate response.
type authError struct {
	mech   string
	detail string
	// public marks a cause Kafka shows the client (its
	// SaslAuthenticationException); other causes (its SaslException: an
	// unknown user, a wrong proof, a malformed message) are hidden behind
	// a generic message so the client cannot probe which users exist.
	public bool
	// scram is the RFC 5802 server-error value for an e= message, if any.
	scram string
	// clientText, if set, is what the client sees instead of detail.
	clientText string
}

func (e *authError) Error() string        { return e.detail }
func (e *authError) Is(target error) bool { return target == ErrAuthentication }

// authFailed is a failure whose cause the client sees.
func authFailed(mech, msg string) error { return &authError{mech: mech, detail: msg, public: true} }

// authHidden is a failure the client sees only as "invalid credentials".
func authHidden(mech, scram, msg string) error {
	return &authError{mech: mech, detail: msg, scram: scram}
}

// ClientMessage is the error_message for a failed SaslAuthenticate, worded
// as Kafka's SaslServerAuthenticator words it; reauth selects
// "re-authentication" for a KIP-368 re-authentication.
func ClientMessage(err error, reauth bool) string {
	var ae *authError
	if errors.As(err, &ae) && ae.public {
		if ae.clientText != "" {
			return ae.clientText
		}
		return ae.detail
	}
	mech := "unknown"
	if ae != nil {
		mech = ae.mech
	}
	what := "authentication"
	if reauth {
		what = "re-authentication"
	}
	return "Authentication failed during " + what + " due to invalid credentials with SASL mechanism " + mech
}

// ScramError returns the RFC 5802 server-error value (the text of an e=
// server-final message: "invalid-proof", "unknown-user", ...) carried by a
// SCRAM failure, or "" if err carries none. Kafka itself sends no e=
// message: it fails SaslAuthenticate instead, which the broker does too.
func ScramError(err error) string {
	var ae *authError
	if errors.As(err, &ae) {
		return ae.scram
	}
	return ""
}
