# gregor in a scratch image: one static binary, no shell, no libc.
#
# Build with `make docker` (it runs `make build` first: a CGO_ENABLED=0,
# -trimpath binary in bin/gregor, and makes the empty bin/empty directory).
# No base image is needed, so the build works with no registry at all
# (tested with Docker 20.10's legacy builder).
#
#   docker run -p 9092:9092 -v gregor-data:/var/lib/gregor gregor:local
FROM scratch
LABEL org.opencontainers.image.title=gregor \
      org.opencontainers.image.description="A Kafka wire-compatible broker"

COPY bin/gregor /gregor

# The data directory, empty and owned by 65534:65534 (nobody). A new named
# volume mounted here takes this directory's owner and mode when Docker
# first populates it, so the unprivileged user below can write to it. A
# bind mount keeps its host owner: `chown 65534:65534` the host directory.
COPY --chown=65534:65534 bin/empty/ /var/lib/gregor/

# scratch has no /etc/passwd, so the user is given by number.
USER 65534:65534

# Configuration: Kafka's keys as GREGOR_<KEY> environment variables (dots as
# underscores) or `--override key=value` arguments. These defaults make a
# single broker reachable from the host on a published port 9092.
ENV GREGOR_LOG_DIRS=/var/lib/gregor \
    GREGOR_LISTENERS=PLAINTEXT://0.0.0.0:9092
VOLUME /var/lib/gregor

# 9092: clients; 9093: the controller quorum (Raft) in a cluster.
EXPOSE 9092 9093
ENTRYPOINT ["/gregor", "serve"]
