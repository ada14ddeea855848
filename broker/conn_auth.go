package broker

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/auth"
)

// connAuth is a connection's SASL state. On a SASL listener the client
// must first send SaslHandshake (v1) naming a mechanism, then
// SaslAuthenticate requests carrying that mechanism's tokens until the
// exchange completes; until then only ApiVersions and those two APIs are
// served, and any other request closes the connection (as Kafka's
// SaslServerAuthenticator does). It is used only by the connection's
// serve goroutine, which runs the handlers.
type connAuth struct {
	required bool         // the listener is SASL_PLAINTEXT
	session  auth.Session // the exchange SaslHandshake started; nil before it
	mech     string       // the session's mechanism name
	done     bool         // the exchange completed: the principal is set
	// failed is set when a login failed: the connection closes after its
	// SASL_AUTHENTICATION_FAILED answer is written.
	failed bool
}

// admit reports whether a request with key may be handled in the
// connection's current state; an error closes the connection.
func (a *connAuth) admit(key int16) error {
	if !a.required || a.done {
		return nil
	}
	switch kmsg.Key(key) {
	case kmsg.ApiVersions, kmsg.SASLHandshake, kmsg.SASLAuthenticate:
		return nil
	}
	return fmt.Errorf("%s before SASL authentication completed", kmsg.NameForKey(key))
}

// mechanism returns the enabled mechanism called name, if any.
func (s *deps) mechanism(name string) (auth.Mechanism, bool) {
	for _, m := range s.cfg.Security.Mechanisms {
		if m != name {
			continue
		}
		switch name {
		case auth.MechanismPlain:
			return auth.Plain{Users: s.cfg.Security.PlainUsers}, true
		}
	}
	return nil, false
}
