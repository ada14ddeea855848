package broker

// SaslAuthenticate (key 36), v0-v2.
//
// Carries one token of the exchange SaslHandshake started to its session
// and answers with the server's token. When the exchange completes the
// connection's principal is the authenticated user. A failed login answers
// SASL_AUTHENTICATION_FAILED with Kafka's wording after
// connection.failed.authentication.delay.ms, then the connection closes.
// Without a preceding handshake, or after the exchange completed, it
// answers ILLEGAL_SASL_STATE and closes. session_lifetime_ms (v1+) is 0:
// re-authentication (KIP-368) is not required.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var saslAuthenticateHandler = handle(kmsg.SASLAuthenticate, 0, 2, func(s *deps, r *request, req *kmsg.SASLAuthenticateRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	a := &r.conn.auth
	if !a.required || a.session == nil || a.done {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		resp.ErrorMessage = kmsg.StringPtr("Unexpected SaslAuthenticate request")
		a.failed = true
		return resp, nil
	}
	out, done, err := a.session.Step(req.SASLAuthBytes)
	if err != nil {
		r.conn.log.Info().Str("mechanism", a.mech).Err(err).Msg("sasl authentication failed")
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		resp.ErrorMessage = kmsg.StringPtr(authClientMessage(err))
		a.failed = true
		if d := s.cfg.Security.FailedAuthDelay; d > 0 {
			r.await = func() {
				ch, stop := after(s.clock, d)
				defer stop()
				select {
				case <-ch:
				case <-s.ctx.Done():
				}
			}
		}
		return resp, nil
	}
	resp.SASLAuthBytes = out
	if done {
		p := a.session.Principal()
		r.conn.principal.Store(&p)
		a.done, a.session = true, nil
		r.conn.log.Debug().Str("mechanism", a.mech).Str("principal", p.String()).Msg("sasl authenticated")
	}
	return resp, nil
})
