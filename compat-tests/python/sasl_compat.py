"""SASL scenarios for confluent-kafka (librdkafka) and kafka-python 2.0.2.

Run by sasl.sh against a gregor with a SASL listener (COMPAT_SASL_BOOTSTRAP,
COMPAT_SASL_PROTOCOL SASL_PLAINTEXT or SASL_SSL, COMPAT_SASL_CA). Usage:
sasl_compat.py confluent-kafka|kafka-python. Each login produces and consumes
byte-identical records; a wrong password fails and its request never runs.
"""
import os
import sys
import time

from common import Fail, check, exit_code, scenario, topic_name

BOOTSTRAP = os.environ["COMPAT_SASL_BOOTSTRAP"]
PROTOCOL = os.environ.get("COMPAT_SASL_PROTOCOL", "SASL_PLAINTEXT")
CA = os.environ.get("COMPAT_SASL_CA", "")
USERS = {"admin": "admin-secret", "alice": "alice-secret", "bob": "bob-secret"}

RECORDS = [(b"k\x00%d" % i, bytes([i % 256, 0, 255]) * (i + 1)) for i in range(50)]


def topic_exists(topic):
    """Asks as admin over the SASL listener (confluent-kafka's metadata, no auto-create)."""
    import confluent_kafka
    conf = ck_conf("SCRAM-SHA-512", "admin", USERS["admin"])
    conf["allow.auto.create.topics"] = False
    c = confluent_kafka.Consumer(dict(conf, **{"group.id": "sasl-check"}))
    try:
        return topic in c.list_topics(timeout=15).topics
    finally:
        c.close()


def ck_conf(mech, user, password):
    conf = {"bootstrap.servers": BOOTSTRAP, "security.protocol": PROTOCOL.lower(),
            "sasl.mechanisms": mech, "sasl.username": user, "sasl.password": password}
    if CA:
        conf["ssl.ca.location"] = CA
    return conf


def confluent(mech, user):
    def f():
        import confluent_kafka
        topic = topic_name("confluent-kafka", "sasl-" + mech.lower())
        conf = ck_conf(mech, user, USERS[user])
        p = confluent_kafka.Producer(dict(conf, **{"acks": "all"}))
        errs = []
        for k, v in RECORDS:
            p.produce(topic, key=k, value=v, partition=0, on_delivery=lambda e, m: errs.append(e) if e else None)
        check(p.flush(30) == 0 and not errs, "produce: %s" % errs[:3])
        c = confluent_kafka.Consumer(dict(conf, **{"group.id": topic, "auto.offset.reset": "earliest", "enable.auto.commit": False}))
        c.subscribe([topic])
        got, deadline = [], time.time() + 30
        while len(got) < len(RECORDS) and time.time() < deadline:
            m = c.poll(1)
            if m is None:
                continue
            check(m.error() is None, "consume: %s" % m.error())
            got.append((m.key(), m.value()))
        c.close()
        check(got == RECORDS, "consumed %d records, not byte-identical to the %d produced" % (len(got), len(RECORDS)))
        return "%d records byte-identical over %s" % (len(got), PROTOCOL)
    return f


def confluent_wrong():
    import confluent_kafka
    topic = topic_name("confluent-kafka", "sasl-denied")
    failed = []
    conf = ck_conf("SCRAM-SHA-512", "bob", "wrong")
    conf["error_cb"] = lambda e: failed.append(e)
    p = confluent_kafka.Producer(conf)
    p.produce(topic, value=b"x")
    p.flush(5)
    check(any(e.code() == confluent_kafka.KafkaError._AUTHENTICATION for e in failed), "no authentication error: %s" % failed)
    check(not topic_exists(topic), "the failed login's request ran: its topic was created")
    return "authentication error: %s" % failed[0].str()


def kp_conf(mech, user, password):
    conf = {"bootstrap_servers": BOOTSTRAP, "security_protocol": PROTOCOL, "sasl_mechanism": mech,
            "sasl_plain_username": user, "sasl_plain_password": password, "api_version_auto_timeout_ms": 10000}
    if CA:
        conf["ssl_cafile"] = CA
    return conf


def kafka_python(mech, user):
    def f():
        import kafka
        topic = topic_name("kafka-python", "sasl-" + mech.lower())
        conf = kp_conf(mech, user, USERS[user])
        p = kafka.KafkaProducer(acks="all", **conf)
        for k, v in RECORDS:
            p.send(topic, key=k, value=v, partition=0).get(timeout=30)
        p.close()
        c = kafka.KafkaConsumer(auto_offset_reset="earliest", consumer_timeout_ms=20000, **conf)
        c.assign([kafka.TopicPartition(topic, 0)])
        got = []
        for m in c:
            got.append((m.key, m.value))
            if len(got) == len(RECORDS):
                break
        c.close()
        check(got == RECORDS, "consumed %d records, not byte-identical to the %d produced" % (len(got), len(RECORDS)))
        return "%d records byte-identical over %s (SaslHandshake v0)" % (len(got), PROTOCOL)
    return f


def kafka_python_wrong():
    import kafka
    import kafka.errors
    topic = topic_name("kafka-python", "sasl-denied")
    try:
        p = kafka.KafkaProducer(max_block_ms=5000, **kp_conf("SCRAM-SHA-256", "alice", "wrong"))
        p.send(topic, value=b"x").get(timeout=10)
        raise Fail("produce with a wrong password succeeded")
    except (kafka.errors.NoBrokersAvailable, kafka.errors.KafkaTimeoutError, kafka.errors.AuthenticationFailedError) as e:
        detail = type(e).__name__
    check(not topic_exists(topic), "the failed login's request ran: its topic was created")
    return "login refused (%s)" % detail


def main():
    client = sys.argv[1]
    if client == "confluent-kafka":
        scenario(client, "sasl_scram_sha512", confluent("SCRAM-SHA-512", "bob"))
        scenario(client, "sasl_plain", confluent("PLAIN", "alice"))
        scenario(client, "sasl_wrong_password", confluent_wrong)
    elif client == "kafka-python":
        scenario(client, "sasl_plain", kafka_python("PLAIN", "alice"))
        scenario(client, "sasl_scram_sha256", kafka_python("SCRAM-SHA-256", "alice"))
        scenario(client, "sasl_scram_sha512", kafka_python("SCRAM-SHA-512", "bob"))
        scenario(client, "sasl_wrong_password", kafka_python_wrong)
    else:
        sys.exit("unknown client %s" % client)
    sys.exit(exit_code())


if __name__ == "__main__":
    main()
