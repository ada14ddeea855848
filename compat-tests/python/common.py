"""Shared helpers for the Python compatibility scenarios.

Every scenario prints one line: RESULT <client> <scenario> PASS|FAIL|SKIP <detail>.
The broker is the real gregor process run.sh started (COMPAT_BOOTSTRAP,
COMPAT_BOOTSTRAP_NOAUTO); nothing here is a fake.
"""
import json
import os
import socket
import struct
import subprocess
import sys
import time
import traceback

BOOTSTRAP = os.environ.get("COMPAT_BOOTSTRAP", "127.0.0.1:9092")
BOOTSTRAP_NOAUTO = os.environ.get("COMPAT_BOOTSTRAP_NOAUTO", "")
INSPECT = os.environ.get("COMPAT_INSPECT", "")

GROUP_APIS = {10: "FindCoordinator", 11: "JoinGroup", 14: "SyncGroup", 12: "Heartbeat",
              13: "LeaveGroup", 8: "OffsetCommit", 9: "OffsetFetch"}


class Skip(Exception):
    pass


class Fail(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


_failed = False


def scenario(client, name, fn):
    global _failed
    start = time.time()
    try:
        detail = fn() or "%.1fs" % (time.time() - start)
        status = "PASS"
    except Skip as e:
        status, detail = "SKIP", str(e)
    except Exception as e:  # noqa: BLE001 - any error fails the scenario
        status, detail = "FAIL", "%s: %s" % (type(e).__name__, e)
        _failed = True
        traceback.print_exc(file=sys.stderr)
    detail = " ".join(str(detail).split())[:300]
    print("RESULT %s %s %s %s" % (client, name, status, detail), flush=True)


def exit_code():
    return 1 if _failed else 0


def topic_name(client, scenario):
    return "compat-%s-%s-%d" % (client, scenario.replace("_", "-"), time.time_ns() % 10**10)


_apis = None


def api_versions():
    """ApiVersions v0 over a raw socket: {api_key: (min, max)}."""
    global _apis
    if _apis is not None:
        return _apis
    host, port = BOOTSTRAP.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=10)
    try:
        client_id = b"compat"
        body = struct.pack(">hhih", 18, 0, 1, len(client_id)) + client_id
        s.sendall(struct.pack(">i", len(body)) + body)
        size = struct.unpack(">i", _recv(s, 4))[0]
        data = _recv(s, size)
    finally:
        s.close()
    _corr, err, n = struct.unpack(">ihi", data[:10])
    if err != 0:
        raise Fail("ApiVersions v0 error %d" % err)
    apis = {}
    for i in range(n):
        k, lo, hi = struct.unpack(">hhh", data[10 + 6 * i:16 + 6 * i])
        apis[k] = (lo, hi)
    _apis = apis
    return apis


def _recv(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise Fail("connection closed")
        b += c
    return b


def require_apis(keys):
    """keys: {api_key: name}. Skips the scenario if any is not served."""
    apis = api_versions()
    missing = [name for k, name in keys.items() if k not in apis]
    if missing:
        raise Skip("broker does not serve %s yet" % ",".join(missing))


def stored_batches(topic, partition=0):
    """Stored batch headers via the Go inspect helper (raw Fetch)."""
    if not INSPECT:
        raise Fail("COMPAT_INSPECT not set (run.sh builds it)")
    out = subprocess.run([INSPECT, topic, str(partition)], capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, COMPAT_BOOTSTRAP=BOOTSTRAP))
    if out.returncode != 0:
        raise Fail("inspect: %s" % out.stderr.strip())
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


TXN_APIS = {22: "InitProducerId", 24: "AddPartitionsToTxn", 25: "AddOffsetsToTxn", 26: "EndTxn",
            28: "TxnOffsetCommit"}


def txn_partition(topic, partition=0):
    """A raw read_committed Fetch from 0 via the Go inspect helper:
    {"HighWatermark", "LastStableOffset", "Aborted": [{"ProducerID", "FirstOffset"}]}."""
    if not INSPECT:
        raise Fail("COMPAT_INSPECT not set (run.sh builds it)")
    out = subprocess.run([INSPECT, topic, str(partition), "txn"], capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, COMPAT_BOOTSTRAP=BOOTSTRAP))
    if out.returncode != 0:
        raise Fail("inspect: %s" % out.stderr.strip())
    return json.loads(out.stdout)


def check_aborted(topic, partition, firsts):
    """The partition lists exactly the aborted transactions starting at
    firsts, and no transaction is left open (LSO = high watermark)."""
    tp = txn_partition(topic, partition)
    check(tp["LastStableOffset"] == tp["HighWatermark"],
          "last stable offset %d, high watermark %d: a transaction is still open" % (
              tp["LastStableOffset"], tp["HighWatermark"]))
    got = sorted({a["FirstOffset"] for a in tp["Aborted"] or []})
    check(got == sorted(set(firsts)), "aborted transactions %r, want first offsets %r" % (tp["Aborted"], firsts))


def check_codec(topic, codec_id, partition=0):
    bs = stored_batches(topic, partition)
    check(bs, "no batches stored")
    # librdkafka sends a batch uncompressed when compressing it would not
    # make it smaller (a lone small record under lz4's frame overhead):
    # every batch of 10+ records must carry the codec, and most bytes must.
    compressed = 0
    for b in bs:
        if b["Codec"] == codec_id:
            compressed += 1
            continue
        check(codec_id != 0 and b.get("Records", 0) < 10,
              "batch at offset %d (%s records) stored with codec %d, want %d" % (b["BaseOffset"], b.get("Records", "?"), b["Codec"], codec_id))
    check(compressed > 0, "no batch stored with codec %d" % codec_id)
    return len(bs)


def seq_values(n):
    return [(("k%d" % i).encode(), ("value-%06d-%s" % (i, "q" * (i % 50))).encode()) for i in range(n)]


# --- group_kill / group_restart -------------------------------------------
# The driver is the Go helper run.sh builds (cmd/groupcheck, COMPAT_GROUPCHECK):
# it starts its own broker, produces with franz-go, runs three member
# processes (this script with --member), kills or restarts them and checks
# every record they print. A member prints, unbuffered:
#   R <partition> <offset> <value>   before the record is committed
#   A <p>,<p>,...                    its whole assignment after each change

def run_groupcheck(client, which, script):
    """which: kill or restart. script: the member script's path."""
    gc = os.environ.get("COMPAT_GROUPCHECK", "")
    if not gc:
        raise Fail("COMPAT_GROUPCHECK not set (run.sh builds cmd/groupcheck)")
    p = subprocess.run([gc, which, "-client", client, "--", sys.executable, os.path.abspath(script), "--member"],
                       stdout=subprocess.PIPE, text=True, timeout=400)
    lines = p.stdout.strip().splitlines()
    last = lines[-1] if lines else ""
    if p.returncode == 0 and last.startswith("PASS "):
        return last[len("PASS "):]
    if last.startswith("FAIL "):
        raise Fail(last[len("FAIL "):])
    raise Fail("groupcheck exited %d: %r" % (p.returncode, last))


def member_env():
    e = os.environ
    return {"bootstrap": e["COMPAT_MEMBER_BOOTSTRAP"], "group": e["COMPAT_MEMBER_GROUP"],
            "topic": e["COMPAT_MEMBER_TOPIC"], "client_id": e["COMPAT_MEMBER_CLIENT_ID"],
            "session_ms": int(e["COMPAT_MEMBER_SESSION_MS"]), "heartbeat_ms": int(e["COMPAT_MEMBER_HEARTBEAT_MS"])}


def out_record(p, off, value):
    os.write(1, b"R %d %d %s\n" % (p, off, value))


def out_assigned(ps):
    os.write(1, ("A " + ",".join(str(p) for p in sorted(ps)) + "\n").encode())


def out_log(msg):
    os.write(1, ("# %s\n" % msg).encode())


def term_flag():
    """A list whose first item turns True on SIGTERM."""
    import signal
    flag = [False]

    def handler(*_):
        flag[0] = True
    signal.signal(signal.SIGTERM, handler)
    return flag
