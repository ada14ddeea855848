package broker

// SaslHandshake (key 17), v1 only.
//
// Picks the SASL mechanism of a SASL listener's connection; the exchange
// itself follows in SaslAuthenticate requests (KIP-152). v0, whose tokens
// follow as raw size-prefixed frames, is not served: Java, librdkafka,
// franz-go, sarama (its default) and kafka-python 2.x all send v1. A
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

var saslHandshakeHandler = handle(kmsg.SASLHandshake, 1, 1, func(s *deps, r *request, req *kmsg.SASLHandshakeRequest) (kmsg.Response, error) {
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
	a.session, a.mech, a.reauth = m.NewSession(), m.Name(), a.done
	return resp, nil
})
