#!/usr/bin/env bash
# Real clients over TLS (issue 15): kcat and confluent-kafka over SASL_SSL
# with SCRAM-SHA-512 and PLAIN, producing and consuming byte-identical
# records, a wrong password failing with SASL_AUTHENTICATION_FAILED. It
# makes a CA and a broker key store with openssl (the key encrypted with
# PKCS#8, so ssl.key.password is exercised) and runs sasl.sh against a
# SASL_SSL listener with them.
#
# Environment: COMPAT_CLIENTS (default: kcat confluent-kafka), COMPAT_KEEP_LOGS.
set -euo pipefail

cd "$(dirname "$0")"
PKI=$(mktemp -d "${TMPDIR:-/tmp}/gregor-tls.XXXXXX")
trap 'rm -rf "$PKI"' EXIT

openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=gregor compat CA" \
  -keyout "$PKI/ca.key" -out "$PKI/ca.pem" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
  -keyout "$PKI/broker.key" -out "$PKI/broker.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$PKI/ext.cnf"
openssl x509 -req -in "$PKI/broker.csr" -CA "$PKI/ca.pem" -CAkey "$PKI/ca.key" -CAcreateserial \
  -days 1 -extfile "$PKI/ext.cnf" -out "$PKI/broker.crt" 2>/dev/null
openssl pkcs8 -topk8 -v2 aes-256-cbc -passout pass:key-secret -in "$PKI/broker.key" -out "$PKI/broker.enc.key"
cat "$PKI/broker.crt" "$PKI/broker.enc.key" >"$PKI/broker.pem"

COMPAT_SASL_PROTOCOL=SASL_SSL \
COMPAT_SASL_CA=$PKI/ca.pem \
COMPAT_CLIENTS=${COMPAT_CLIENTS:-"kcat confluent-kafka"} \
COMPAT_SASL_OVERRIDES="ssl.keystore.type=PEM
ssl.keystore.location=$PKI/broker.pem
ssl.key.password=key-secret" \
  ./sasl.sh
