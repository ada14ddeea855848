// Package auth holds gregor's security building blocks, with no networking
// and no dependency on any other gregor package, so the broker and the
// controller can both use it:
//
//   - SASL server mechanisms (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512,
//     OAUTHBEARER) as state machines fed the client's tokens;
//   - a parser for Kafka's JAAS configuration lines;
//   - principals (User:name), the Java RFC 2253 form of a certificate subject
//     and Kafka's ssl.principal.mapping.rules;
//   - the ACL authorizer (Kafka's StandardAuthorizer rules), ACL filters for
//     DescribeAcls/DeleteAcls and CreateAcls validation;
//   - a crypto/tls configuration builder from Kafka's ssl.* keys, with
//     certificates reloaded when their files change.
//
// Every error a client's bytes can cause is returned, never a panic.
package auth
