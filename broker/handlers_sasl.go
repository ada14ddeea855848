package broker

import "gregor/auth"

// saslHandlers lists the APIs of authentication: SaslHandshake, SaslAuthenticate.
var saslHandlers = []handler{saslHandshakeHandler, saslAuthenticateHandler}

// authClientMessage is a failed login's error_message.
func authClientMessage(err error) string { return auth.ClientMessage(err, false) }
