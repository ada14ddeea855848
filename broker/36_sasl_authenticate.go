package broker

// SaslAuthenticate (key 36), v0-v2.
//
// Carries one token of the exchange SaslHandshake started to its session
// and answers with the server's token. When the exchange completes the
// connection's principal is the authenticated user and, from v1,
// session_lifetime_ms says how long the session lasts (KIP-368): the
// smaller of connections.max.reauth.ms (per listener) and the
// credential's remaining validity (an OAUTHBEARER token's exp), 0 when
// neither applies. Before it ends the client re-authenticates on the same
// connection (SaslHandshake + SaslAuthenticate with the same mechanism
// and principal); the first other request after it ends closes the
// connection. A failed login or re-authentication answers
// SASL_AUTHENTICATION_FAILED with Kafka's wording after
// connection.failed.authentication.delay.ms, then the connection closes.
// Without a preceding handshake it answers ILLEGAL_SASL_STATE and closes.

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/auth"
)

var saslAuthenticateHandler = handle(kmsg.SASLAuthenticate, 0, 2, func(s *deps, r *request, req *kmsg.SASLAuthenticateRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	a := &r.conn.auth
	if !a.required || a.session == nil {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		resp.ErrorMessage = kmsg.StringPtr("Unexpected SaslAuthenticate request")
		a.failed = true
		return resp, nil
	}
	fail := func(err error, msg string) (kmsg.Response, error) {
		r.conn.log.Info().Str("mechanism", a.mech).Bool("reauthentication", a.reauth).Err(err).Msg("sasl authentication failed")
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		resp.ErrorMessage = kmsg.StringPtr(msg)
		a.failed, a.session = true, nil
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
	if a.reauth && a.mech != a.authMech {
		msg := fmt.Sprintf("SASL mechanism '%s' requested by client is not supported for re-authentication of mechanism '%s'", a.mech, a.authMech)
		return fail(fmt.Errorf("%s", msg), msg)
	}
	out, done, err := a.session.Step(req.SASLAuthBytes)
	if err != nil {
		return fail(err, auth.ClientMessage(err, a.reauth))
	}
	resp.SASLAuthBytes = out
	if !done {
		return resp, nil
	}
	lifetime, msg := r.conn.finishAuth(s.clock.Now(), s.cfg.Security.SASL.maxReauth(r.conn.adv.Name))
	if msg != "" {
		return fail(fmt.Errorf("%s", msg), msg)
	}
	resp.SessionLifetimeMillis = lifetime.Milliseconds()
	return resp, nil
})
