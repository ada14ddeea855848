# Shared by compat-tests scripts (source it): a work directory with the
# background processes to stop, free loopback ports, waiting for a port.
#
#   compat_work NAME   sets WORK (a fresh temp dir) and PIDS, and traps EXIT
#                      to stop PIDS and remove WORK (kept on failure or with
#                      COMPAT_KEEP_LOGS)
#   free_port          prints a free loopback TCP port
#   wait_port PORT LOG waits up to 30 s for PORT to accept, else fails
#                      showing the end of LOG

compat_work() {
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/gregor-$1.XXXXXX")
  PIDS=()
  trap compat_cleanup EXIT
  trap 'exit 130' INT TERM
}

compat_cleanup() {
  local rc=$?
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ $rc -ne 0 || -n ${COMPAT_KEEP_LOGS:-} ]]; then echo "logs kept in $WORK"; else rm -rf "$WORK"; fi
}

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_port() {
  for _ in $(seq 1 300); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "FAIL: nothing listens on $1"
  tail -20 "$2"
  exit 1
}
