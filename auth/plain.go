package auth

import (
	"bytes"
	"crypto/subtle"
	"fmt"
	"time"
)

// PlainAuthenticator checks a PLAIN username and password.
type PlainAuthenticator interface {
	// AuthenticatePlain reports whether password is user's password. An
	// error means the credentials could not be checked at all.
	AuthenticatePlain(user, password string) (bool, error)
}

// PlainUsers is a PlainAuthenticator over a fixed map of user to password
// (Kafka's user_NAME="password" JAAS options).
type PlainUsers map[string]string

// AuthenticatePlain compares in constant time.
func (u PlainUsers) AuthenticatePlain(user, password string) (bool, error) {
	want, ok := u[user]
	if !ok {
		return false, nil
	}
	return subtle.ConstantTimeCompare([]byte(want), []byte(password)) == 1, nil
}

// PlainUsersFromJAAS reads the user_NAME="password" options of a JAAS config
// line, as Kafka's PlainServerCallbackHandler does. The line must hold
// exactly one login module, PlainLoginModule.
func PlainUsersFromJAAS(jaas string) (PlainUsers, error) {
	entry, err := ParseJAASSingle(jaas)
	if err != nil {
		return nil, err
	}
	if entry.LoginModule != PlainLoginModule {
		return nil, fmt.Errorf("%w: login module %q is not %s", ErrJAAS, entry.LoginModule, PlainLoginModule)
	}
	users := PlainUsers{}
	for k, v := range entry.Options {
		if name, ok := cutPrefix(k, "user_"); ok {
			users[name] = v
		}
	}
	return users, nil
}

func cutPrefix(s, p string) (string, bool) {
	if len(s) >= len(p) && s[:len(p)] == p {
		return s[len(p):], true
	}
	return s, false
}

// Plain is the PLAIN mechanism (RFC 4616) with Kafka's rules.
type Plain struct {
	Users PlainAuthenticator
}

// Name returns PLAIN.
func (Plain) Name() string { return MechanismPlain }

// NewSession starts a PLAIN exchange.
func (m Plain) NewSession() Session { return &plainSession{users: m.Users} }

type plainSession struct {
	users     PlainAuthenticator
	done      bool
	principal Principal
}

// ParsePlain splits a PLAIN message, [authzid] NUL authcid NUL passwd, as
// Kafka does: exactly three fields.
func ParsePlain(msg []byte) (authzid, user, password string, err error) {
	parts := bytes.SplitN(msg, []byte{0}, 4)
	if len(parts) != 3 {
		return "", "", "", authFailed(MechanismPlain, fmt.Sprintf("Invalid SASL/PLAIN response: expected 3 tokens, got %d", min(len(parts), 4)))
	}
	return string(parts[0]), string(parts[1]), string(parts[2]), nil
}

func (s *plainSession) Step(tok []byte) ([]byte, bool, error) {
	if s.done {
		return nil, false, authFailed(MechanismPlain, ErrIllegalState.Error())
	}
	authzid, user, password, err := ParsePlain(tok)
	if err != nil {
		return nil, false, err
	}
	if user == "" {
		return nil, false, authFailed(MechanismPlain, "Authentication failed: username not specified")
	}
	if password == "" {
		return nil, false, authFailed(MechanismPlain, "Authentication failed: password not specified")
	}
	if s.users == nil {
		return nil, false, authFailed(MechanismPlain, "Authentication failed: Invalid username or password")
	}
	ok, err := s.users.AuthenticatePlain(user, password)
	if err != nil {
		return nil, false, authFailed(MechanismPlain, "Authentication failed: credentials for user could not be verified")
	}
	if !ok {
		return nil, false, authFailed(MechanismPlain, "Authentication failed: Invalid username or password")
	}
	if authzid != "" && authzid != user {
		return nil, false, authFailed(MechanismPlain, "Authentication failed: Client requested an authorization id that is different from username")
	}
	s.done = true
	s.principal = User(user)
	return []byte{}, true, nil
}

func (s *plainSession) Principal() Principal { return s.principal }
func (s *plainSession) Expiry() time.Time    { return time.Time{} }
