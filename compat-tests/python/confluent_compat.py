#!/usr/bin/python3
"""confluent-kafka-python (librdkafka) against gregor."""
import os
import sys
import time

import confluent_kafka
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions, NewTopic

from common import (BOOTSTRAP, BOOTSTRAP_NOAUTO, GROUP_APIS, TXN_APIS, check, check_aborted, check_codec, exit_code,
                    member_env, out_assigned, out_log, out_record, require_apis, run_groupcheck, scenario, seq_values,
                    stored_batches, term_flag, topic_name)

C = "confluent-kafka"


def admin():
    return AdminClient({"bootstrap.servers": BOOTSTRAP})


def create(topic, partitions=1, configs=None):
    a = admin()  # keep the handle alive until the future resolves
    fs = a.create_topics([NewTopic(topic, partitions, 1, config=configs or {})], request_timeout=15)
    fs[topic].result(15)


def produce(topic, msgs, bootstrap=BOOTSTRAP, **conf):
    """msgs: list of (key, value, headers, timestamp_ms). Returns delivery errors."""
    c = {"bootstrap.servers": bootstrap, "linger.ms": 20, "acks": "all"}
    c.update(conf)
    p = Producer(c)
    errs = []

    def cb(err, _msg):
        if err is not None:
            errs.append(err)
    for k, v, h, ts in msgs:
        kw = {"key": k, "value": v, "partition": 0, "on_delivery": cb}
        if h:
            kw["headers"] = h
        if ts:
            kw["timestamp"] = ts
        p.produce(topic, **kw)
    left = p.flush(30)
    check(left == 0, "%d messages not delivered" % left)
    return errs


def must_produce(topic, msgs, **conf):
    errs = produce(topic, msgs, **conf)
    check(not errs, "delivery errors: %s" % errs[:3])


def consumer(**conf):
    c = {"bootstrap.servers": BOOTSTRAP, "group.id": "compat-unused", "enable.auto.commit": False,
         "auto.offset.reset": "earliest"}
    c.update(conf)
    return Consumer(c)


def read(c, n, timeout=20):
    out = []
    deadline = time.time() + timeout
    while len(out) < n and time.time() < deadline:
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF:
                continue
            raise KafkaException(m.error())
        out.append(m)
    check(len(out) == n, "read %d of %d messages" % (len(out), n))
    return out


def read_from(topic, n, offset=confluent_kafka.OFFSET_BEGINNING, **conf):
    c = consumer(**conf)
    try:
        c.assign([TopicPartition(topic, 0, offset)])
        return read(c, n)
    finally:
        c.close()


def check_seq(got, want, first=0):
    check(len(got) == len(want), "got %d, want %d" % (len(got), len(want)))
    for i, m in enumerate(got):
        check(m.offset() == first + i and m.key() == want[i][0] and m.value() == want[i][1],
              "message %d: offset %d key %r value %r" % (i, m.offset(), m.key(), m.value()))


def t_metadata():
    topic = topic_name(C, "metadata")
    create(topic, 3)
    md = admin().list_topics(topic, timeout=10)
    check(len(md.brokers) == 1, "brokers %r" % md.brokers)
    b = list(md.brokers.values())[0]
    check("%s:%d" % (b.host, b.port) == BOOTSTRAP, "broker %s:%d" % (b.host, b.port))
    t = md.topics[topic]
    check(t.error is None and len(t.partitions) == 3, "topic %r" % t)
    for p in t.partitions.values():
        check(p.leader == b.id, "partition %d leader %d" % (p.id, p.leader))
    return "1 broker %s:%d, 3 partitions" % (b.host, b.port)


def t_produce_consume():
    topic = topic_name(C, "produce_consume")
    create(topic)
    ts = int(time.time() * 1000) - 3600_000
    binv = bytes(range(256))
    want = [
        (b"key-1", b"value-1", [("h1", b"v1"), ("h1", b"dup")]),
        (None, b"null key", None),
        (b"tombstone", None, None),
        (binv, binv * 40, [("bin", binv)]),
    ]
    must_produce(topic, [(k, v, h, ts) for k, v, h in want])
    got = read_from(topic, len(want))
    for i, m in enumerate(got):
        k, v, h = want[i]
        check(m.offset() == i and m.key() == k and m.value() == v, "message %d: key %r value %r" % (i, m.key(), m.value()))
        check((m.headers() or None) == h, "message %d headers %r" % (i, m.headers()))
        check(m.timestamp()[1] == ts, "message %d timestamp %r" % (i, m.timestamp()))
    return "4 messages byte-exact (null key, null value, binary, headers, timestamps)"


def codec(name, cid):
    def f():
        topic = topic_name(C, "codec_" + name)
        create(topic)
        want = seq_values(500)
        must_produce(topic, [(k, v, None, None) for k, v in want], **{"compression.codec": name, "linger.ms": 100})
        check_seq(read_from(topic, 500), want)
        n = check_codec(topic, cid)
        return "500 messages in %d %s batches, read back in order" % (n, name)
    return f


def t_idempotent():
    topic = topic_name(C, "idempotent")
    create(topic)
    want = seq_values(300)
    must_produce(topic, [(k, v, None, None) for k, v in want], **{"enable.idempotence": True})
    check_seq(read_from(topic, 300), want)
    seq = 0
    bs = stored_batches(topic)
    for b in bs:
        check(b["ProducerID"] >= 0 and b["Sequence"] == seq, "batch %r, want sequence %d" % (b, seq))
        seq += b["Records"]
    return "300 messages in %d batches, producer id %d, contiguous sequences" % (len(bs), bs[0]["ProducerID"])


def acks(a):
    def f():
        topic = topic_name(C, "acks_" + a)
        create(topic)
        want = seq_values(200)
        must_produce(topic, [(k, v, None, None) for k, v in want], acks=a)
        check_seq(read_from(topic, 200), want)
        return "200 messages acks=%s read back in order" % a
    return f


def setup_ts(name):
    topic = topic_name(C, name)
    create(topic)
    base = int(time.time() * 1000) - 100_000
    want = seq_values(10)
    must_produce(topic, [(k, v, None, base + i * 1000) for i, (k, v) in enumerate(want)], **{"compression.codec": "none"})
    return topic, want, base


def t_earliest():
    topic, want, _ = setup_ts("consume_earliest")
    check_seq(read_from(topic, 10), want)
    return "10 messages from offset 0"


def t_latest():
    topic, _, _ = setup_ts("consume_latest")
    c = consumer()
    try:
        c.assign([TopicPartition(topic, 0, confluent_kafka.OFFSET_END)])
        c.poll(2.0)  # let it resolve "end"
        more = seq_values(13)[10:]
        must_produce(topic, [(k, v, None, None) for k, v in more])
        check_seq(read(c, 3), more, 10)
        return "only the 3 messages produced after joining at offset 10"
    finally:
        c.close()


def t_timestamp():
    topic, want, base = setup_ts("consume_timestamp")
    c = consumer()
    try:
        tps = c.offsets_for_times([TopicPartition(topic, 0, base + 4500)], timeout=10)
        check(tps[0].offset == 5, "offsets_for_times = %d, want 5" % tps[0].offset)
        c.assign(tps)
        check_seq(read(c, 5), want[5:], 5)
        return "timestamp resolved to offset 5, read 5..9"
    finally:
        c.close()


def t_list_offsets():
    topic, _, base = setup_ts("list_offsets")
    c = consumer()
    try:
        lo, hi = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        check((lo, hi) == (0, 10), "watermarks %r, want (0, 10)" % ((lo, hi),))
        o = c.offsets_for_times([TopicPartition(topic, 0, base + 1500)], timeout=10)[0].offset
        check(o == 2, "by timestamp %d, want 2" % o)
        o = c.offsets_for_times([TopicPartition(topic, 0, base + 3600_000)], timeout=10)[0].offset
        check(o == -1, "after all %d, want -1 (end)" % o)
        return "watermarks 0/10, by-timestamp 2, after-all -1"
    finally:
        c.close()


def t_admin_topics():
    a = admin()
    topic = topic_name(C, "admin_topics")
    a.create_topics([NewTopic(topic, 3, 1, config={"retention.ms": "12345678"})])[topic].result(15)
    try:
        a.create_topics([NewTopic(topic, 3, 1)])[topic].result(15)
        raise AssertionError("second create succeeded")
    except KafkaException as e:
        check(e.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS, "second create: %s" % e)
    md = a.list_topics(timeout=10)
    check(topic in md.topics and len(md.topics[topic].partitions) == 3, "described %r" % md.topics.get(topic))
    a.delete_topics([topic])[topic].result(15)
    check(topic not in admin().list_topics(timeout=10).topics, "topic listed after delete")
    return "create, duplicate refused, describe, delete"


def t_create_partitions():
    a = admin()
    topic = topic_name(C, "admin_create_partitions")
    create(topic, 2)
    a.create_partitions([NewPartitions(topic, 5)])[topic].result(15)
    md = admin().list_topics(topic, timeout=10)
    check(len(md.topics[topic].partitions) == 5, "%d partitions" % len(md.topics[topic].partitions))
    p = Producer({"bootstrap.servers": BOOTSTRAP})
    p.produce(topic, b"in new partition", partition=4)
    check(p.flush(20) == 0, "not delivered")
    c = consumer()
    try:
        c.assign([TopicPartition(topic, 4, confluent_kafka.OFFSET_BEGINNING)])
        m = read(c, 1)[0]
        check(m.value() == b"in new partition" and m.partition() == 4, "read %r" % m.value())
    finally:
        c.close()
    return "2 -> 5 partitions, produce/consume on partition 4"


def t_describe_configs():
    topic = topic_name(C, "admin_describe_configs")
    create(topic, 1, {"retention.ms": "12345678"})
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    a = admin()
    cfg = a.describe_configs([res])[res].result(15)
    check(cfg["retention.ms"].value == "12345678" and not cfg["retention.ms"].is_default, "retention.ms %r" % cfg["retention.ms"])
    check(cfg["cleanup.policy"].value == "delete", "cleanup.policy %r" % cfg["cleanup.policy"].value)
    return "retention.ms 12345678 (non-default), cleanup.policy delete"


def t_alter_configs():
    require_apis({33: "AlterConfigs"})
    topic = topic_name(C, "admin_alter_configs")
    create(topic)
    res = ConfigResource(ConfigResource.Type.TOPIC, topic, set_config={"retention.ms": "7654321"})
    a = admin()
    a.alter_configs([res])[res].result(15)
    d = ConfigResource(ConfigResource.Type.TOPIC, topic)
    cfg = a.describe_configs([d])[d].result(15)
    check(cfg["retention.ms"].value == "7654321", "retention.ms after alter %r" % cfg["retention.ms"].value)
    return "AlterConfigs retention.ms, described back"


def t_group_join():
    require_apis(GROUP_APIS)
    topic = topic_name(C, "group_join")
    create(topic)
    want = seq_values(30)
    must_produce(topic, [(k, v, None, None) for k, v in want])
    c = consumer(**{"group.id": "g-" + topic})
    try:
        c.subscribe([topic])
        check_seq(read(c, 30, 40), want)
        return "group member read 30 messages"
    finally:
        c.close()


def t_group_commit_resume():
    require_apis(GROUP_APIS)
    topic = topic_name(C, "group_commit_resume")
    create(topic)
    want = seq_values(20)
    must_produce(topic, [(k, v, None, None) for k, v in want])
    g = "g-" + topic
    c = consumer(**{"group.id": g})
    c.subscribe([topic])
    read(c, 1, 40)
    c.commit(offsets=[TopicPartition(topic, 0, 10)], asynchronous=False)
    c.close()
    c2 = consumer(**{"group.id": g})
    try:
        c2.subscribe([topic])
        check_seq(read(c2, 10, 40), want[10:], 10)
        return "committed 10, second member resumed at 10..19"
    finally:
        c2.close()


def member():
    """One group member for group_kill/group_restart (run by cmd/groupcheck).

    librdkafka's range assignor (eager); at-least-once: each message is
    printed, then its offset stored (enable.auto.offset.store=false), and
    librdkafka auto-commits stored offsets every 500 ms and on close.
    SIGTERM closes the consumer (commit, LeaveGroup); SIGKILL does not.
    """
    e = member_env()
    stop = term_flag()
    cur = set()

    def on_assign(_c, parts):
        cur.clear()
        cur.update(p.partition for p in parts)
        out_assigned(cur)

    def on_revoke(_c, parts):
        for p in parts:
            cur.discard(p.partition)
        out_assigned(cur)
    c = Consumer({"bootstrap.servers": e["bootstrap"], "group.id": e["group"], "client.id": e["client_id"],
                  "session.timeout.ms": e["session_ms"], "heartbeat.interval.ms": e["heartbeat_ms"],
                  "auto.offset.reset": "earliest", "enable.auto.commit": True, "auto.commit.interval.ms": 500,
                  "enable.auto.offset.store": False})
    c.subscribe([e["topic"]], on_assign=on_assign, on_revoke=on_revoke)
    while not stop[0]:
        for m in c.consume(100, 0.2):
            if m.error():
                if m.error().code() != KafkaError._PARTITION_EOF:
                    out_log("consume: %s" % m.error())
                continue
            out_record(m.partition(), m.offset(), m.value())
            try:
                c.store_offsets(message=m)
            except KafkaException as ex:  # partition revoked meanwhile
                out_log("store_offsets: %s" % ex)
    c.close()
    return 0


def t_group_kill():
    require_apis(GROUP_APIS)
    return run_groupcheck(C, "kill", __file__)


def t_group_restart():
    require_apis(GROUP_APIS)
    return run_groupcheck(C, "restart", __file__)


def txn_producer(tid):
    p = Producer({"bootstrap.servers": BOOTSTRAP, "transactional.id": tid, "linger.ms": 5})
    p.init_transactions(30)
    return p


def read_all(topic, partition, n, isolation):
    """Exactly n messages of topic/partition from the start at isolation
    (read_committed / read_uncommitted); one more is a failure."""
    c = consumer(**{"isolation.level": isolation})
    try:
        c.assign([TopicPartition(topic, partition, confluent_kafka.OFFSET_BEGINNING)])
        got = read(c, n)
        extra = c.poll(1.0)
        check(extra is None or extra.error() is not None,
              "message past the %d expected: offset %s" % (n, extra and extra.offset()))
        return got
    finally:
        c.close()


def t_txn_commit_abort():
    require_apis(TXN_APIS)
    topic = topic_name(C, "txn_commit_abort")
    create(topic)
    p = txn_producer("tx-" + topic)
    offsets = {}

    def txn(commit, vals):
        p.begin_transaction()
        for v in vals:
            def cb(err, msg, v=v):
                check(err is None, "delivery of %s: %s" % (v, err))
                offsets[v] = msg.offset()
            p.produce(topic, value=v.encode(), partition=0, on_delivery=cb)
        if commit:
            p.commit_transaction(30)
        else:
            p.flush(30)  # the aborted records are stored before the ABORT marker
            p.abort_transaction(30)
    txn(True, ["c0", "c1", "c2"])
    txn(False, ["a0", "a1", "a2"])
    txn(True, ["c3", "c4"])
    got = [m.value().decode() for m in read_all(topic, 0, 5, "read_committed")]
    check(got == ["c0", "c1", "c2", "c3", "c4"], "read_committed saw %r" % got)
    got = [m.value().decode() for m in read_all(topic, 0, 8, "read_uncommitted")]
    check(got == ["c0", "c1", "c2", "a0", "a1", "a2", "c3", "c4"], "read_uncommitted saw %r" % got)
    check_aborted(topic, 0, [offsets["a0"]])
    return "read_committed 5, read_uncommitted 8, aborted transaction at offset %d listed" % offsets["a0"]


def t_txn_etl():
    """consume-transform-produce: send_offsets_to_transaction inside each
    transaction; every third transaction aborted, the consumer rewound to
    the group's committed offsets and the work redone."""
    require_apis({**TXN_APIS, **GROUP_APIS})
    src = topic_name(C, "txn_etl_in")
    dst = topic_name(C, "txn_etl_out")
    create(src, 2)
    create(dst, 2)
    n = 400
    for part in range(2):
        vals = [(None, b"%d" % i, None, None) for i in range(part, n, 2)]
        p = Producer({"bootstrap.servers": BOOTSTRAP, "acks": "all"})
        for _k, v, _h, _ts in vals:
            p.produce(src, value=v, partition=part)
        check(p.flush(30) == 0, "input not delivered")
    group = "g-" + src
    c = consumer(**{"group.id": group, "isolation.level": "read_committed", "enable.auto.commit": False,
                    "auto.offset.reset": "earliest"})
    p = txn_producer("tx-" + group)
    c.subscribe([src])
    done = txns = aborted = 0
    deadline = time.time() + 60
    try:
        while done < n and time.time() < deadline:
            msgs = [m for m in c.consume(20, 0.5) if m.error() is None]
            if not msgs:
                continue
            txns += 1
            p.begin_transaction()
            for m in msgs:
                p.produce(dst, value=b"out-" + m.value(), partition=m.partition())
            p.send_offsets_to_transaction(c.position(c.assignment()), c.consumer_group_metadata(), 30)
            if txns % 3 == 1:
                p.abort_transaction(30)
                aborted += 1
                # Back to the group's committed offsets: the batch is redone.
                for tp in c.committed(c.assignment(), 10):
                    c.seek(TopicPartition(tp.topic, tp.partition,
                                          tp.offset if tp.offset >= 0 else confluent_kafka.OFFSET_BEGINNING))
                continue
            p.commit_transaction(30)
            done += len(msgs)
    finally:
        c.close()
    check(done == n, "transformed %d of %d" % (done, n))
    seen = {}
    for part in range(2):
        for m in read_all(dst, part, n // 2, "read_committed"):
            seen[m.value()] = seen.get(m.value(), 0) + 1
    for i in range(n):
        check(seen.get(b"out-%d" % i) == 1, "out-%d read %s times by read_committed" % (i, seen.get(b"out-%d" % i)))
    check(aborted > 0, "no transaction was aborted")
    return "%d inputs in %d transactions, %d aborted and redone, each output once" % (n, txns, aborted)


def t_unknown_topic():
    check(BOOTSTRAP_NOAUTO, "COMPAT_BOOTSTRAP_NOAUTO not set")
    topic = topic_name(C, "err_unknown_topic")
    errs = produce(topic, [(None, b"x", None, None)], bootstrap=BOOTSTRAP_NOAUTO,
                   **{"message.timeout.ms": 20000, "topic.metadata.propagation.max.ms": 2000})
    check(errs and errs[0].code() in (KafkaError._UNKNOWN_TOPIC, KafkaError.UNKNOWN_TOPIC_OR_PART),
          "delivery errors %r, want unknown topic" % errs)
    md = AdminClient({"bootstrap.servers": BOOTSTRAP_NOAUTO}).list_topics(timeout=10)
    check(topic not in md.topics, "topic created although auto-create is off")
    return "delivery failed: %s; not created" % errs[0].str()


def t_too_large():
    topic = topic_name(C, "err_message_too_large")
    create(topic)
    big = os.urandom(1100 * 1024)
    errs = produce(topic, [(None, big, None, None)], **{"message.max.bytes": 4000000, "compression.codec": "none", "retries": 0})
    check(errs and errs[0].code() == KafkaError.MSG_SIZE_TOO_LARGE, "delivery errors %r, want MSG_SIZE_TOO_LARGE" % errs)
    must_produce(topic, [(None, b"fits", None, None)])
    m = read_from(topic, 1)[0]
    check(m.offset() == 0 and m.value() == b"fits", "log holds offset %d" % m.offset())
    return "1.1 MB message refused: %s; log unchanged" % errs[0].str()


def t_out_of_range():
    topic = topic_name(C, "err_offset_out_of_range")
    create(topic)
    want = seq_values(5)
    must_produce(topic, [(k, v, None, None) for k, v in want])
    check_seq(read_from(topic, 5, offset=100, **{"auto.offset.reset": "earliest"}), want)
    return "offset 100 of 5, reset earliest read 0..4"


def main():
    tests = [
        ("metadata", t_metadata),
        ("produce_consume", t_produce_consume),
        ("codec_none", codec("none", 0)),
        ("codec_gzip", codec("gzip", 1)),
        ("codec_snappy", codec("snappy", 2)),
        ("codec_lz4", codec("lz4", 3)),
        ("codec_zstd", codec("zstd", 4)),
        ("idempotent", t_idempotent),
        ("acks_0", acks("0")),
        ("acks_1", acks("1")),
        ("acks_all", acks("all")),
        ("consume_earliest", t_earliest),
        ("consume_latest", t_latest),
        ("consume_timestamp", t_timestamp),
        ("list_offsets", t_list_offsets),
        ("admin_topics", t_admin_topics),
        ("admin_create_partitions", t_create_partitions),
        ("admin_describe_configs", t_describe_configs),
        ("admin_alter_configs", t_alter_configs),
        ("group_join", t_group_join),
        ("group_commit_resume", t_group_commit_resume),
        ("group_kill", t_group_kill),
        ("group_restart", t_group_restart),
        ("txn_commit_abort", t_txn_commit_abort),
        ("txn_etl", t_txn_etl),
        ("err_unknown_topic", t_unknown_topic),
        ("err_message_too_large", t_too_large),
        ("err_offset_out_of_range", t_out_of_range),
    ]
    if sys.argv[1:] == ["--member"]:
        return member()
    only = sys.argv[1:]
    for name, fn in tests:
        if not only or name in only:
            scenario(C, name, fn)
    return exit_code()


if __name__ == "__main__":
    sys.exit(main())
