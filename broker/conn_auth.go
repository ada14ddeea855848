package broker

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/auth"
	"gregor/controller"
)

// connAuth is a connection's SASL state. On a SASL listener the client
// must first send SaslHandshake (v1) naming a mechanism, then
// SaslAuthenticate requests carrying that mechanism's tokens until the
// exchange completes; until then only ApiVersions and those two APIs are
// served, and any other request closes the connection (as Kafka's
// SaslServerAuthenticator does). Once authenticated, a session with a
// lifetime (connections.max.reauth.ms, a token's expiry) must be renewed
// by a new SaslHandshake + SaslAuthenticate exchange before it ends
// (KIP-368); the first request after the end closes the connection. It
// is used only by the connection's serve goroutine, which runs the
// handlers.
type connAuth struct {
	required bool         // the listener is a SASL listener
	session  auth.Session // the exchange SaslHandshake started; nil before it
	mech     string       // the mechanism of the exchange in progress
	done     bool         // the first exchange completed: the principal is set
	// authMech is the mechanism the connection authenticated with; a
	// re-authentication must use it again and yield the same principal.
	authMech string
	// expires is when the authenticated session ends (zero: never);
	// reauth is set while a re-authentication exchange runs.
	expires time.Time
	reauth  bool
	// lastReauth is when the last re-authentication started.
	lastReauth time.Time
	// rawTokens is set after a SaslHandshake v0: the exchange's tokens
	// follow as bare size-prefixed frames, without request headers.
	rawTokens bool
	// failed is set when a login failed: the connection closes after its
	// SASL_AUTHENTICATION_FAILED answer is written.
	failed bool
}

// admit reports whether a request with key may be handled in the
// connection's current state at now; an error closes the connection.
func (a *connAuth) admit(key int16, now time.Time) error {
	if !a.required {
		return nil
	}
	switch kmsg.Key(key) {
	case kmsg.SASLHandshake, kmsg.SASLAuthenticate:
		return nil
	}
	if a.done {
		if !a.expires.IsZero() && !now.Before(a.expires) {
			// Kafka closes a connection whose session expired on its
			// next request other than a re-authentication.
			return fmt.Errorf("%s after the SASL session expired at %s without re-authentication", kmsg.NameForKey(key), a.expires.Format(time.RFC3339Nano))
		}
		return nil
	}
	if kmsg.Key(key) == kmsg.ApiVersions {
		return nil
	}
	return fmt.Errorf("%s before SASL authentication completed", kmsg.NameForKey(key))
}

// sessionLifetime is how long a session authenticated at now lasts, as
// Kafka computes it: the smaller of connections.max.reauth.ms (if set)
// and the credential's remaining validity (if it expires); ok false when
// neither applies and the session never expires.
func sessionLifetime(maxReauth time.Duration, credExpiry, now time.Time) (d time.Duration, ok bool) {
	switch {
	case credExpiry.IsZero() && maxReauth <= 0:
		return 0, false
	case credExpiry.IsZero():
		return maxReauth, true
	}
	d = max(credExpiry.Sub(now), 0)
	if maxReauth > 0 {
		d = min(d, maxReauth)
	}
	return d, true
}

// finishAuth completes the connection's exchange at now: the principal,
// the session's end, the state. It returns the session lifetime (0 when
// the session never ends), or Kafka's message when a re-authentication
// yielded another principal (the caller fails the login).
func (c *conn) finishAuth(now time.Time, maxReauth time.Duration) (time.Duration, string) {
	a := &c.auth
	p := a.session.Principal()
	if a.reauth {
		if old := c.Principal(); p != old {
			return 0, fmt.Sprintf("Cannot change principals during re-authentication from %s: %s", old, p)
		}
	}
	d, ok := sessionLifetime(maxReauth, a.session.Expiry(), now)
	a.expires = time.Time{}
	if ok {
		a.expires = now.Add(d)
	}
	c.principal.Store(&p)
	reauth := a.reauth
	a.done, a.session, a.reauth, a.authMech, a.rawTokens = true, nil, false, a.mech, false
	c.log.Debug().Str("mechanism", a.mech).Str("principal", p.String()).Bool("reauthentication", reauth).
		Int64("session_lifetime_ms", d.Milliseconds()).Msg("sasl authenticated")
	return d, ""
}

// handleRawToken runs one token of a SaslHandshake v0 exchange and queues
// the server's token as a bare size-prefixed frame. A failure closes the
// connection without an answer, as Kafka does for v0 clients.
func (c *conn) handleRawToken(tok []byte) error {
	a := &c.auth
	out, done, err := a.session.Step(tok)
	if err != nil {
		a.session, a.rawTokens = nil, false
		c.log.Info().Str("mechanism", a.mech).Err(err).Msg("sasl authentication failed")
		return fmt.Errorf("sasl authentication (handshake v0) failed: %w", err)
	}
	frame := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(out)), uint32(len(out)))
	frame = append(frame, out...)
	if done {
		c.finishAuth(c.d.clock.Now(), c.d.cfg.Security.SASL.maxReauth(c.adv.Name))
	}
	c.out <- &outbound{parts: []outPart{{b: frame}}}
	return nil
}

// saslMechanisms builds the enabled mechanisms' sessions: PLAIN over the
// JAAS users, SCRAM over the credentials in the metadata, OAUTHBEARER over
// the JWKS.
type saslMechanisms struct {
	enabled []string
	plain   auth.PlainAuthenticator
	scram   auth.ScramCredentials
	oauth   auth.TokenValidator // nil unless OAUTHBEARER is configured
}

// newSASLMechanisms loads what the enabled mechanisms need (the JWKS file
// for OAUTHBEARER, read with clock's time).
func newSASLMechanisms(c *SecurityConfig, meta metaView, clock Clock) (*saslMechanisms, error) {
	m := &saslMechanisms{enabled: c.Mechanisms, plain: c.PlainUsers, scram: scramStore{meta}}
	if jc := c.SASL.OAuthBearer; jc != nil {
		cfg := *jc
		cfg.Now = clock.Now
		v, err := auth.NewJWTValidator(cfg)
		if err != nil {
			return nil, fmt.Errorf("broker: %s: %w", auth.KeyJWKSEndpointURL, err)
		}
		m.oauth = v
	}
	return m, nil
}

// mechanism returns the enabled mechanism called name, if any.
func (m *saslMechanisms) mechanism(name string) (auth.Mechanism, bool) {
	if m == nil {
		return nil, false
	}
	for _, e := range m.enabled {
		if e != name {
			continue
		}
		switch name {
		case auth.MechanismPlain:
			return auth.Plain{Users: m.plain}, true
		case auth.MechanismScramSHA256:
			return auth.Scram{Hash: auth.ScramSHA256, Users: m.scram}, true
		case auth.MechanismScramSHA512:
			return auth.Scram{Hash: auth.ScramSHA512, Users: m.scram}, true
		case auth.MechanismOAuthBearer:
			if m.oauth != nil {
				return auth.OAuthBearer{Validator: m.oauth}, true
			}
		}
	}
	return nil, false
}

// mechanism returns the enabled mechanism called name, if any.
func (s *deps) mechanism(name string) (auth.Mechanism, bool) { return s.sasl.mechanism(name) }

// scramStore reads SCRAM credentials from the replicated metadata: a
// credential altered on any broker is usable on every broker once its
// metadata has it.
type scramStore struct{ meta metaView }

func (s scramStore) ScramCredential(h auth.ScramHash, user string) (auth.ScramCredential, bool, error) {
	c, ok := s.meta.Snapshot().ScramCredential(user, int8(h))
	if !ok {
		return auth.ScramCredential{}, false, nil
	}
	return auth.ScramCredential{Salt: c.Salt, Iterations: int(c.Iterations), StoredKey: c.StoredKey, ServerKey: c.ServerKey}, true, nil
}

// scramUpsertion converts an --add-scram credential for the controller.
func scramUpsertion(sp auth.ScramSpec) controller.ScramUpsertion {
	return controller.ScramUpsertion{User: sp.User, Credential: controller.ScramCredential{
		Mechanism: int8(sp.Hash), Salt: sp.Credential.Salt, StoredKey: sp.Credential.StoredKey,
		ServerKey: sp.Credential.ServerKey, Iterations: int32(sp.Credential.Iterations),
	}}
}
