package broker

// saslHandlers lists the APIs of authentication: SaslHandshake, SaslAuthenticate, SCRAM credential APIs.
var saslHandlers = []handler{}
