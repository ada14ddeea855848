package broker

// SaslHandshake (key 17), v1 only.
//
// Picks the SASL mechanism of a SASL listener's connection; the exchange
// itself follows in SaslAuthenticate requests (KIP-152). v0, whose tokens
// follow as raw size-prefixed frames, is not served (Java, librdkafka and
// franz-go send v1). A mechanism not enabled answers
// UNSUPPORTED_SASL_MECHANISM with the enabled list; a handshake on a
// non-SASL listener or after the exchange started answers
// ILLEGAL_SASL_STATE.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var saslHandshakeHandler = handle(kmsg.SASLHandshake, 1, 1, func(s *deps, r *request, req *kmsg.SASLHandshakeRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.SASLHandshakeResponse)
	a := &r.conn.auth
	if !a.required {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		return resp, nil
	}
	resp.SupportedMechanisms = append([]string(nil), s.cfg.Security.Mechanisms...)
	if a.session != nil || a.done {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		return resp, nil
	}
	m, ok := s.mechanism(req.Mechanism)
	if !ok {
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		return resp, nil
	}
	a.session, a.mech = m.NewSession(), m.Name()
	return resp, nil
})
