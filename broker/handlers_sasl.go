package broker

// saslHandlers lists the APIs of authentication: SaslHandshake,
// SaslAuthenticate, and the SCRAM credential APIs.
var saslHandlers = []handler{saslHandshakeHandler, saslAuthenticateHandler, describeUserScramCredentialsHandler, alterUserScramCredentialsHandler}
