package broker

import (
	"context"
	"crypto/subtle"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/auth"
)

// httpAuth guards the HTTP listener when the broker has SASL users: the
// PLAIN users of plain.sasl.jaas.config, or SCRAM (credentials in the
// metadata) enabled. Requests then need HTTP Basic credentials of one of
// those users, checked as a SASL login checks them (PLAIN: the password;
// SCRAM: SaltedPassword from the stored salt and iterations gives the
// stored StoredKey); the principal, User:<name>, is then what the
// console's ACL checks see. /healthz and /readyz stay open (probes);
// /metrics needs credentials unless http.metrics.auth=false.
type httpAuth struct {
	plain   auth.PlainAuthenticator // nil: no PLAIN users
	scram   auth.ScramCredentials   // nil: SCRAM not enabled
	z       *authz
	metrics bool          // /metrics needs credentials
	delay   time.Duration // before a wrong password's 401 (connection.failed.authentication.delay.ms)
	log     zerolog.Logger
}

// newHTTPAuth returns the HTTP listener's authentication, nil when the
// broker has no SASL users (the listener stays open, as before security).
func newHTTPAuth(c *Config, sasl *saslMechanisms, z *authz, log zerolog.Logger) *httpAuth {
	a := &httpAuth{z: z, metrics: c.HTTP.MetricsAuth, delay: c.Security.FailedAuthDelay, log: log}
	if len(c.Security.PlainUsers) > 0 {
		a.plain = c.Security.PlainUsers
	}
	if slices.Contains(c.Security.Mechanisms, auth.MechanismScramSHA256) || slices.Contains(c.Security.Mechanisms, auth.MechanismScramSHA512) {
		a.scram = sasl.scram
	}
	if a.plain == nil && a.scram == nil {
		return nil
	}
	return a
}

// verify returns the SASL mechanism whose credentials password matches:
// PLAIN for a PLAIN user's password, SCRAM-SHA-256 or -512 for one that
// derives the user's stored credential; "" for none.
func (a *httpAuth) verify(user, password string) string {
	if user == "" || password == "" {
		return ""
	}
	if a.plain != nil {
		if ok, err := a.plain.AuthenticatePlain(user, password); err == nil && ok {
			return auth.MechanismPlain
		}
	}
	if a.scram == nil {
		return ""
	}
	for _, h := range []auth.ScramHash{auth.ScramSHA512, auth.ScramSHA256} {
		stored, ok, err := a.scram.ScramCredential(h, user)
		if err != nil || !ok {
			continue
		}
		got, err := auth.ScramCredentialFromPassword(h, password, stored.Salt, stored.Iterations)
		if err == nil && subtle.ConstantTimeCompare(got.StoredKey, stored.StoredKey) == 1 {
			return h.Name()
		}
	}
	return ""
}

// httpUser is who a request authenticated as, and how: the console's
// message browser logs in to the broker with the same credentials, so
// the broker's own ACL checks apply to its fetches.
type httpUser struct {
	name, password string
	mech           string // the SASL mechanism the password matched
}

type httpUserKey struct{}

// httpUserOf is the user ctx's request authenticated as; ok false when
// the listener is open.
func httpUserOf(ctx context.Context) (httpUser, bool) {
	u, ok := ctx.Value(httpUserKey{}).(httpUser)
	return u, ok
}

// require wraps h: a request without valid Basic credentials answers 401
// with a Basic challenge; a valid one runs h with its principal.
func (a *httpAuth) require(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, password, ok := r.BasicAuth()
		mech := ""
		if ok {
			mech = a.verify(user, password)
		}
		if mech == "" {
			if ok { // wrong credentials: slowed as a failed SASL login is
				a.log.Info().Str("user", user).Str("remote", r.RemoteAddr).Msg("http authentication failed")
				t := time.NewTimer(a.delay)
				select {
				case <-t.C:
				case <-r.Context().Done():
				}
				t.Stop()
			}
			w.Header().Set("WWW-Authenticate", `Basic realm="gregor", charset="UTF-8"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		u := httpUser{name: user, password: password, mech: mech}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), httpUserKey{}, u)))
	})
}

// wrap guards h when a is on, else returns it unchanged.
func (a *httpAuth) wrap(h http.Handler) http.Handler {
	if a == nil {
		return h
	}
	return a.require(h)
}

// wrapMetrics guards /metrics when a is on and http.metrics.auth is true.
func (a *httpAuth) wrapMetrics(h http.Handler) http.Handler {
	if a == nil || !a.metrics {
		return h
	}
	return a.require(h)
}

// access is the console's ACL check for an authenticated request: the
// broker's authorizer with the request's principal and remote IP. Open
// listeners and brokers without an authorizer allow everything.
func (a *httpAuth) access() func(r *http.Request, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) bool {
	if a == nil || !a.z.enabled() {
		return nil
	}
	return func(r *http.Request, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) bool {
		u, ok := httpUserOf(r.Context())
		if !ok {
			return false
		}
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		return a.z.authorizer().Authorize(auth.User(u.name), host, op, rt, name)
	}
}
