package broker

// SaslHandshake (key 17), v0-v1.
//
// Picks the SASL mechanism of a SASL listener's connection. After v1 the
// exchange follows in SaslAuthenticate requests (KIP-152; Java,
// librdkafka, franz-go and sarama by default). After v0 its tokens follow
// as bare size-prefixed frames without request headers, the server's
// tokens likewise, and a failed login closes the connection without an
// answer (kafka-python 2.0.2 logs in this way); v0 clients cannot
// re-authenticate. A
// mechanism not enabled answers UNSUPPORTED_SASL_MECHANISM with the
// enabled list and closes the connection, as Kafka does; a handshake on a non-SASL listener, or while an exchange
// is in progress, answers ILLEGAL_SASL_STATE. On an authenticated
// connection whose session expires, a handshake starts a
// re-authentication (KIP-368), at most one a second (as Kafka: otherwise,
// and on sessions that never expire, ILLEGAL_SASL_STATE); a different
// mechanism than the first login's is accepted here and fails
// the SaslAuthenticate that follows, as in Kafka.

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// minReauthInterval is Kafka's shortest time between two
// re-authentications of one connection.
const minReauthInterval = time.Second

var saslHandshakeHandler = handle(kmsg.SASLHandshake, 0, 1, func(s *deps, r *request, req *kmsg.SASLHandshakeRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.SASLHandshakeResponse)
	a := &r.conn.auth
	if !a.required {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		return resp, nil
	}
	resp.SupportedMechanisms = append([]string(nil), s.cfg.Security.Mechanisms...)
	now := s.clock.Now()
	if a.session != nil || (a.done && (a.expires.IsZero() || now.Sub(a.lastReauth) < minReauthInterval)) {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		return resp, nil
	}
	if a.done {
		a.lastReauth = now
	}
	m, ok := s.mechanism(req.Mechanism)
	if !ok {
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		a.failed = true // Kafka closes the connection after this answer
		return resp, nil
	}
	if req.Version == 0 && a.done {
		resp.ErrorCode = kerr.IllegalSaslState.Code // no re-authentication without SaslAuthenticate
		return resp, nil
	}
	a.session, a.mech, a.reauth = m.NewSession(), m.Name(), a.done
	a.rawTokens = req.Version == 0
	return resp, nil
})
