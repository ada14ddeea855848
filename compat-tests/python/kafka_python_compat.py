#!/usr/bin/python3
"""kafka-python (Debian's 2.0.2: old protocol versions) against gregor."""
import sys
import time

import kafka
from kafka import ConsumerRebalanceListener, KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, NewPartitions, NewTopic
from kafka.errors import (CommitFailedError, KafkaTimeoutError, MessageSizeTooLargeError, TopicAlreadyExistsError,
                          UnknownTopicOrPartitionError)

from common import (BOOTSTRAP, BOOTSTRAP_NOAUTO, GROUP_APIS, Skip, check, check_codec, exit_code, member_env,
                    out_assigned, out_log, out_record, require_apis, run_groupcheck, scenario, seq_values,
                    stored_batches, term_flag, topic_name)

C = "kafka-python"


def admin(bootstrap=BOOTSTRAP):
    return KafkaAdminClient(bootstrap_servers=bootstrap, client_id="compat", request_timeout_ms=15000)


def create(topic, partitions=1, configs=None):
    a = admin()
    try:
        a.create_topics([NewTopic(topic, partitions, 1, topic_configs=configs or {})])
    finally:
        a.close()


def produce(topic, msgs, **kw):
    """msgs: list of (key, value, headers, timestamp_ms, partition)."""
    kw.setdefault("acks", "all")
    kw.setdefault("linger_ms", 20)
    p = KafkaProducer(bootstrap_servers=BOOTSTRAP, **kw)
    try:
        futs = [p.send(topic, key=k, value=v, headers=h or [], timestamp_ms=ts, partition=part)
                for (k, v, h, ts, part) in msgs]
        p.flush(30)
        return [f.get(timeout=30) for f in futs]
    finally:
        p.close(10)


def consumer(**kw):
    kw.setdefault("auto_offset_reset", "earliest")
    return KafkaConsumer(bootstrap_servers=BOOTSTRAP, enable_auto_commit=False, consumer_timeout_ms=20000, **kw)


def read(c, n, timeout=20):
    out = []
    deadline = time.time() + timeout
    while len(out) < n and time.time() < deadline:
        for recs in c.poll(timeout_ms=500, max_records=n - len(out)).values():
            out.extend(recs)
    check(len(out) == n, "read %d of %d records" % (len(out), n))
    return out


def read_from(topic, n, partition=0, offset=None, **kw):
    c = consumer(**kw)
    try:
        tp = TopicPartition(topic, partition)
        c.assign([tp])
        if offset is None:
            c.seek_to_beginning(tp)
        else:
            c.seek(tp, offset)
        return read(c, n)
    finally:
        c.close()


def check_seq(got, want, first=0):
    check(len(got) == len(want), "got %d records, want %d" % (len(got), len(want)))
    for i, r in enumerate(got):
        check(r.offset == first + i and r.key == want[i][0] and r.value == want[i][1],
              "record %d: offset %d key %r value %r" % (i, r.offset, r.key, r.value))


def t_metadata():
    topic = topic_name(C, "metadata")
    create(topic, 3)
    c = consumer()
    try:
        parts = c.partitions_for_topic(topic)
        check(parts == {0, 1, 2}, "partitions %r" % (parts,))
        brokers = c._client.cluster.brokers()
        check(len(brokers) == 1, "brokers %r" % (brokers,))
        b = list(brokers)[0]
        check("%s:%d" % (b.host, b.port) == BOOTSTRAP, "broker %s:%d, bootstrap %s" % (b.host, b.port, BOOTSTRAP))
        for p in parts:
            check(c._client.cluster.leader_for_partition(TopicPartition(topic, p)) == b.nodeId, "leader of %d" % p)
        return "1 broker %s:%d, 3 partitions, client api_version %s" % (b.host, b.port, c.config["api_version"])
    finally:
        c.close()


def t_produce_consume():
    topic = topic_name(C, "produce_consume")
    create(topic)
    ts = int(time.time() * 1000) - 3600_000
    binv = bytes(range(256))
    want = [
        (b"key-1", b"value-1", [("h1", b"v1"), ("h1", b"dup")]),
        (None, b"null key", []),
        (b"tombstone", None, []),
        (binv, binv * 40, [("bin", binv)]),
    ]
    produce(topic, [(k, v, h, ts, 0) for (k, v, h) in want])
    got = read_from(topic, len(want))
    for i, r in enumerate(got):
        k, v, h = want[i]
        check(r.offset == i and r.key == k and r.value == v, "record %d: key %r value %r" % (i, r.key, r.value))
        check(list(r.headers) == h, "record %d headers %r" % (i, r.headers))
        check(r.timestamp == ts, "record %d timestamp %d, want %d" % (i, r.timestamp, ts))
    return "4 records byte-exact (null key, null value, binary, headers, timestamps)"


def codec(name, cid, module):
    def f():
        if module:
            try:
                __import__(module)
            except ImportError:
                raise Skip("client library lacks %s: python module %s not installed" % (name, module))
        topic = topic_name(C, "codec_" + name)
        create(topic)
        want = seq_values(500)
        produce(topic, [(k, v, None, None, 0) for k, v in want], compression_type=None if name == "none" else name,
                batch_size=1 << 20, linger_ms=100)
        check_seq(read_from(topic, 500), want)
        n = check_codec(topic, cid)
        return "500 records in %d %s batches, read back in order" % (n, name)
    return f


def old_client(name, cid, module, api=(0, 10, 1)):
    """api_version=(0, 10, 1): Produce v2 with magic-1 message sets, Fetch v3
    reading magic-1 sets down-converted by the broker; (0, 9): Produce v1
    with magic 0 (no timestamps), Fetch v1 reading magic 0."""
    def f():
        if module:
            try:
                __import__(module)
            except ImportError:
                raise Skip("client library lacks %s: python module %s not installed" % (name, module))
        topic = topic_name(C, "old_client_%s_%s" % ("_".join(map(str, api)), name))
        create(topic)
        ts = int(time.time() * 1000) - 60_000
        want = seq_values(200)
        produce(topic, [(k, v, None, ts + i if api >= (0, 10) else None, 0) for i, (k, v) in enumerate(want)],
                api_version=api, compression_type=None if name == "none" else name, batch_size=1 << 16, linger_ms=50)
        got = read_from(topic, len(want), api_version=api)
        check_seq(got, want)
        if api >= (0, 10):
            for i, r in enumerate(got):
                check(r.timestamp == ts + i, "record %d timestamp %d, want %d" % (i, r.timestamp, ts + i))
        n = check_codec(topic, cid)
        return "200 records via Kafka %s protocol, stored as %d %s batches%s" % (
            ".".join(map(str, api)), n, name, ", timestamps kept" if api >= (0, 10) else "")
    return f


def acks(a):
    def f():
        topic = topic_name(C, "acks_" + str(a))
        create(topic)
        want = seq_values(200)
        produce(topic, [(k, v, None, None, 0) for k, v in want], acks=a)
        check_seq(read_from(topic, 200), want)
        return "200 records acks=%s read back in order" % a
    return f


def setup_ts(name):
    topic = topic_name(C, name)
    create(topic)
    base = int(time.time() * 1000) - 100_000
    want = seq_values(10)
    produce(topic, [(k, v, None, base + i * 1000, 0) for i, (k, v) in enumerate(want)])
    return topic, want, base


def t_earliest():
    topic, want, _ = setup_ts("consume_earliest")
    check_seq(read_from(topic, 10), want)
    return "10 records from offset 0"


def t_latest():
    topic, want, _ = setup_ts("consume_latest")
    c = consumer(auto_offset_reset="latest")
    try:
        tp = TopicPartition(topic, 0)
        c.assign([tp])
        pos = c.position(tp)  # resolves "latest" now
        check(pos == 10, "latest position %d, want 10" % pos)
        more = seq_values(13)[10:]
        produce(topic, [(k, v, None, None, 0) for k, v in more])
        check_seq(read(c, 3), more, 10)
        return "position 10, then only the 3 new records"
    finally:
        c.close()


def t_timestamp():
    topic, want, base = setup_ts("consume_timestamp")
    c = consumer()
    try:
        tp = TopicPartition(topic, 0)
        c.assign([tp])
        ot = c.offsets_for_times({tp: base + 4500})[tp]
        check(ot is not None and ot.offset == 5, "offsets_for_times = %r, want offset 5" % (ot,))
        c.seek(tp, ot.offset)
        check_seq(read(c, 5), want[5:], 5)
        return "timestamp resolved to offset 5, read 5..9"
    finally:
        c.close()


def t_list_offsets():
    topic, want, base = setup_ts("list_offsets")
    c = consumer()
    try:
        tp = TopicPartition(topic, 0)
        b = c.beginning_offsets([tp])[tp]
        e = c.end_offsets([tp])[tp]
        ot = c.offsets_for_times({tp: base + 1500})[tp]
        none = c.offsets_for_times({tp: base + 3600_000})[tp]
        check(b == 0 and e == 10, "beginning %d end %d, want 0 10" % (b, e))
        check(ot is not None and ot.offset == 2 and ot.timestamp == base + 2000, "by timestamp %r, want offset 2" % (ot,))
        check(none is None, "timestamp after all: %r, want None" % (none,))
        return "beginning 0, end 10, by-timestamp 2, after-all None"
    finally:
        c.close()


def t_admin_topics():
    a = admin()
    try:
        topic = topic_name(C, "admin_topics")
        a.create_topics([NewTopic(topic, 3, 1, topic_configs={"retention.ms": "12345678"})])
        try:
            a.create_topics([NewTopic(topic, 3, 1)])
            raise AssertionError("second create succeeded")
        except TopicAlreadyExistsError:
            pass
        d = a.describe_topics([topic])
        check(len(d) == 1 and d[0]["error_code"] == 0 and len(d[0]["partitions"]) == 3, "describe %r" % (d,))
        check(topic in a.list_topics(), "topic not listed")
        a.delete_topics([topic])
        a2 = admin()
        try:
            check(topic not in a2.list_topics(), "topic listed after delete")
        finally:
            a2.close()
        return "create, duplicate refused, describe, list, delete"
    finally:
        a.close()


def t_create_partitions():
    a = admin()
    try:
        topic = topic_name(C, "admin_create_partitions")
        a.create_topics([NewTopic(topic, 2, 1)])
        a.create_partitions({topic: NewPartitions(5)})
        d = admin().describe_topics([topic])
        check(len(d[0]["partitions"]) == 5, "%d partitions after growing to 5" % len(d[0]["partitions"]))
        produce(topic, [(None, b"in new partition", None, None, 4)])
        got = read_from(topic, 1, partition=4)
        check(got[0].value == b"in new partition", "read %r" % got[0].value)
        return "2 -> 5 partitions, produce/consume on partition 4"
    finally:
        a.close()


def t_describe_configs():
    a = admin()
    try:
        topic = topic_name(C, "admin_describe_configs")
        a.create_topics([NewTopic(topic, 1, 1, topic_configs={"retention.ms": "12345678"})])
        resp = a.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        entries = {}
        for r in resp:
            for res in r.resources:
                check(res[0] == 0, "describe configs error %r" % (res,))
                for e in res[4]:
                    entries[e[0]] = e[1]
        check(entries.get("retention.ms") == "12345678", "retention.ms = %r" % entries.get("retention.ms"))
        check(entries.get("cleanup.policy") == "delete", "cleanup.policy = %r" % entries.get("cleanup.policy"))
        return "retention.ms 12345678, cleanup.policy delete (DescribeConfigs v%d)" % resp[0].API_VERSION
    finally:
        a.close()


def t_alter_configs():
    require_apis({33: "AlterConfigs"})
    a = admin()
    try:
        topic = topic_name(C, "admin_alter_configs")
        a.create_topics([NewTopic(topic, 1, 1)])
        a.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, configs={"retention.ms": "7654321"})])
        resp = a.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        vals = {e[0]: e[1] for r in resp for res in r.resources for e in res[4]}
        check(vals.get("retention.ms") == "7654321", "retention.ms after alter = %r" % vals.get("retention.ms"))
        return "AlterConfigs retention.ms, described back"
    finally:
        a.close()


def t_group_join():
    require_apis(GROUP_APIS)
    topic = topic_name(C, "group_join")
    create(topic)
    want = seq_values(30)
    produce(topic, [(k, v, None, None, 0) for k, v in want])
    c = consumer(group_id="g-" + topic)
    try:
        c.subscribe([topic])
        check_seq(read(c, 30, 40), want)
        return "group member read 30 records"
    finally:
        c.close()


def t_group_commit_resume():
    require_apis(GROUP_APIS)
    topic = topic_name(C, "group_commit_resume")
    create(topic)
    want = seq_values(20)
    produce(topic, [(k, v, None, None, 0) for k, v in want])
    g = "g-" + topic
    c = consumer(group_id=g, max_poll_records=1)
    c.subscribe([topic])
    first = read(c, 1, 40)
    check(first[0].offset == 0, "first offset %d" % first[0].offset)
    from kafka.structs import OffsetAndMetadata
    c.commit({TopicPartition(topic, 0): OffsetAndMetadata(10, "")})
    c.close()
    c2 = consumer(group_id=g)
    try:
        c2.subscribe([topic])
        check_seq(read(c2, 10, 40), want[10:], 10)
        return "committed 10, second member resumed at 10..19"
    finally:
        c2.close()


def member():
    """One group member for group_kill/group_restart (run by cmd/groupcheck).

    kafka-python's default range assignor (eager); at-least-once: each
    poll's records are printed, then committed synchronously. SIGTERM
    closes the consumer (LeaveGroup); SIGKILL does not.
    """
    e = member_env()
    stop = term_flag()
    cur = set()

    class Listener(ConsumerRebalanceListener):
        def on_partitions_revoked(self, revoked):
            for tp in revoked:
                cur.discard(tp.partition)
            out_assigned(cur)

        def on_partitions_assigned(self, assigned):
            cur.clear()
            cur.update(tp.partition for tp in assigned)
            out_assigned(cur)
    c = KafkaConsumer(bootstrap_servers=e["bootstrap"], group_id=e["group"], client_id=e["client_id"],
                      session_timeout_ms=e["session_ms"], heartbeat_interval_ms=e["heartbeat_ms"],
                      auto_offset_reset="earliest", enable_auto_commit=False)
    c.subscribe([e["topic"]], listener=Listener())
    while not stop[0]:
        batch = c.poll(timeout_ms=200)
        for tp, recs in batch.items():
            for r in recs:
                out_record(tp.partition, r.offset, r.value)
        if batch:
            try:
                c.commit()
            except CommitFailedError as ex:  # rebalanced meanwhile: records come again
                out_log("commit: %s" % ex)
    c.close(autocommit=False)
    return 0


def t_group_kill():
    require_apis(GROUP_APIS)
    return run_groupcheck(C, "kill", __file__)


def t_group_restart():
    require_apis(GROUP_APIS)
    return run_groupcheck(C, "restart", __file__)


def t_unknown_topic():
    check(BOOTSTRAP_NOAUTO, "COMPAT_BOOTSTRAP_NOAUTO not set")
    topic = topic_name(C, "err_unknown_topic")
    p = KafkaProducer(bootstrap_servers=BOOTSTRAP_NOAUTO, max_block_ms=5000)
    try:
        p.send(topic, b"x").get(timeout=10)
        raise AssertionError("send to unknown topic succeeded")
    except KafkaTimeoutError as e:
        # kafka-python waits for metadata that never lists the topic.
        err = e
    finally:
        p.close(5)
    a = admin(BOOTSTRAP_NOAUTO)
    try:
        check(topic not in a.list_topics(), "topic created although auto-create is off")
        d = a.describe_topics([topic])
        check(d[0]["error_code"] == UnknownTopicOrPartitionError.errno, "metadata error %r" % d[0]["error_code"])
    finally:
        a.close()
    return "send timed out waiting for metadata (%s); metadata error 3; not created" % type(err).__name__


def t_too_large():
    topic = topic_name(C, "err_message_too_large")
    create(topic)
    import os
    big = os.urandom(1100 * 1024)
    p = KafkaProducer(bootstrap_servers=BOOTSTRAP, max_request_size=4 << 20, retries=0, acks="all")
    try:
        try:
            p.send(topic, big, partition=0).get(timeout=20)
            raise AssertionError("producing %d bytes succeeded" % len(big))
        except MessageSizeTooLargeError:
            pass
    finally:
        p.close(5)
    produce(topic, [(None, b"fits", None, None, 0)])
    got = read_from(topic, 1)
    check(got[0].offset == 0 and got[0].value == b"fits", "log holds offset %d %r" % (got[0].offset, got[0].value[:20]))
    return "1.1 MB record refused with MESSAGE_TOO_LARGE; log unchanged"


def t_out_of_range():
    topic = topic_name(C, "err_offset_out_of_range")
    create(topic)
    want = seq_values(5)
    produce(topic, [(k, v, None, None, 0) for k, v in want])
    check_seq(read_from(topic, 5, offset=100, auto_offset_reset="earliest"), want)
    return "seek 100 of 5, reset earliest read 0..4"


def main():
    tests = [
        ("metadata", t_metadata),
        ("produce_consume", t_produce_consume),
        ("codec_none", codec("none", 0, None)),
        ("codec_gzip", codec("gzip", 1, None)),
        ("codec_snappy", codec("snappy", 2, "snappy")),
        ("codec_lz4", codec("lz4", 3, "lz4")),
        ("codec_zstd", codec("zstd", 4, "zstandard")),
        ("old_client_none", old_client("none", 0, None)),
        ("old_client_gzip", old_client("gzip", 1, None)),
        ("old_client_snappy", old_client("snappy", 2, "snappy")),
        ("old_client_lz4", old_client("lz4", 3, "lz4")),
        ("old_client_0_9_none", old_client("none", 0, None, (0, 9))),
        ("old_client_0_9_gzip", old_client("gzip", 1, None, (0, 9))),
        ("acks_0", acks(0)),
        ("acks_1", acks(1)),
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
