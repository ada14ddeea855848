# gregor: a Kafka-compatible broker. `make run` starts one, `make test` tests everything.
GO       ?= go
BIN      := bin/gregor
BENCHBIN := bin/gregor-bench
FUZZTIME ?= 30s
# Docker Compose is `docker compose` (plugin) or `docker-compose` (standalone).
COMPOSE  := $(shell if docker compose version >/dev/null 2>&1; then echo "docker compose"; elif command -v docker-compose >/dev/null 2>&1; then echo docker-compose; fi)
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: build build-bench run test test-short test-unit test-quota test-txn-etl test-cluster-secure lint fuzz bench bench-metrics scale compat compat-cli compat-burrow compat-upstream compat-sasl compat-tls compat-reassign docker cluster-up cluster-down cluster-grow cluster-test cluster-test-kills cluster-test-partition cluster-test-secure nemesis nemesis-long nemesis-broken clean

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN) ./cmd/gregor

# The benchmark, scale and load tools: their own module (bench/go.mod) and
# binary, so bin/gregor and the image carry only the broker.
build-bench:
	cd bench && CGO_ENABLED=0 $(GO) build -trimpath -o ../$(BENCHBIN) ./cmd/gregor-bench

# A broker on localhost:9092 with its data in ./data: no configuration needed.
run: build
	./$(BIN) serve --override log.dirs=./data --override http.listeners=http://127.0.0.1:9644

# Everything: vet, unit/integration tests with -race, then real clients.
test: build
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...
	cd bench && $(GO) vet ./... && $(GO) test -race -count=1 -timeout 5m ./...
	$(MAKE) compat compat-cli compat-burrow

test-short:
	$(GO) test -short -count=1 ./...

test-unit:
	$(GO) test -race -count=1 ./...
	cd bench && $(GO) test -race -count=1 ./...

# Issue 14 done-means 3: a GroupTransactSession ETL on three in-process
# brokers while the output leader and the transaction coordinator are
# killed five times each (two to three minutes; also part of `make test`).
test-txn-etl:
	$(GO) test -race -count=1 -timeout 10m -run '^TestTxnETLExactlyOnceUnderKills$$' -v ./gregortest

# Issue 15 done-means 5: every gregortest cluster test (the failover, kill,
# pause and nemesis-scripted ones included) on clusters secured by
# gregortest/secure.go: SASL_SSL clients and brokers, Raft over mTLS with
# a SASL PLAIN login.
test-cluster-secure:
	GREGOR_TEST_SECURE=1 $(GO) test -race -count=1 -timeout 30m ./gregortest/...

# Done-means 4 of issue 15 at full length: producer_byte_rate 1 MB/s held
# for 20 s with Kafka's default quota sampling (prints the measured rate).
test-quota:
	GREGOR_QUOTA_LONG=1 $(GO) test -race -count=1 -run TestProducerByteRateQuota -v ./broker

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	cd bench && $(GO) vet ./... && $(GO) run $(STATICCHECK) ./...

# Every fuzz target for FUZZTIME each (make fuzz FUZZTIME=5m).
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

BENCHTIME ?= 500ms
# Micro-benchmarks, then gregor against franz-go's kfake side by side
# (bench/run.sh; BENCH_* environment variables tune it).
bench: build build-bench
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./wire ./storage ./broker
	./bench/run.sh

# The cost of metrics: gregor with /metrics scraped every second against
# gregor without an HTTP listener, side by side (bench/run.sh).
bench-metrics: build build-bench
	BENCH_TARGETS="gregor metrics" BENCH_VS=metrics BENCH_WORKLOADS="produce consume" ./bench/run.sh

# How one broker's cost grows with partitions, connections and log size
# (bench/scale.sh; method and results in bench/SCALE.md). Writes up to
# 40 GiB under SCALE_TMPDIR (default /var/tmp) and takes ~20 minutes.
scale: build build-bench
	SCALE_BIN=$(CURDIR)/$(BIN) SCALE_TOOL=$(CURDIR)/$(BENCHBIN) ./bench/scale.sh

# Real third-party clients against a real gregor process (compat-tests/).
compat: build
	cd compat-tests && ./run.sh

# The admin CLI's walkthrough against gregor and franz-go's kfake
# (compat-tests/cli.sh), and Burrow reading gregor's group offsets
# (compat-tests/burrow.sh; Debian's burrow and zookeeper).
compat-cli: build
	cd compat-tests && ./cli.sh

compat-burrow: build
	cd compat-tests && ./burrow.sh

compat-upstream: build
	cd compat-tests && ./upstream.sh
	cd compat-tests && ./kafkago-upstream.sh
	cd compat-tests && ./sarama-upstream.sh

# SASL logins of real clients (compat-tests/sasl.sh) and franz-go's own
# SCRAM tests (compat-tests/upstream-scram.sh); COMPAT_SASL_PROTOCOL picks
# SASL_PLAINTEXT (default) or SASL_SSL.
compat-sasl:
	cd compat-tests && ./sasl.sh && ./upstream-scram.sh

# kcat and confluent-kafka over SASL_SSL (certificates made with openssl).
compat-tls:
	cd compat-tests && ./tls.sh

# sarama's partition reassignment scenario on three gregor processes.
compat-reassign:
	cd compat-tests && ./reassign.sh

# The gregor:local image (Dockerfile: scratch + the static bin/gregor).
# bin/empty becomes the image's data directory, owned by 65534. The build
# context is only the files the Dockerfile copies (not ./data or .git).
docker: build
	mkdir -p bin/empty
	tar -c Dockerfile $(BIN) bin/empty | docker build -t gregor:local -
	docker image prune -f --filter label=org.opencontainers.image.title=gregor >/dev/null

# Three nodes from docker-compose.yml (project "gregor"); clients on the
# host bootstrap from localhost:19092,localhost:29092,localhost:39092.
CLUSTER := COMPOSE="$(COMPOSE)" ./compat-tests/cluster.sh

cluster-up: docker
	$(CLUSTER) up

cluster-down:
	$(CLUSTER) down

# A fourth broker joins the running cluster and a partition moves onto it
# (README, "Adding a fourth broker").
cluster-grow: build
	$(CLUSTER) grow

# Failover under load: stop and kill partition leaders, check every
# acknowledged record and the rejoin (compat-tests/cluster.sh).
cluster-test: docker
	$(CLUSTER) test

# Ten kills in a row of partition 0's leader under acks=all idempotent load
# (CLUSTER_KILLS=n for another count).
cluster-test-kills: docker
	$(CLUSTER) test-kills

# Network partition of partition 0's leader: it must stop acknowledging,
# the majority takes over; healed, it truncates and rejoins.
cluster-test-partition: docker
	$(CLUSTER) test-partition

# The secured cluster (compat-tests/cluster-compose-secure.yml): SASL_SSL
# between brokers and for clients, Raft over mutual TLS with a PLAIN login; kcat produces,
# a node is killed, everything is read back.
cluster-test-secure: docker
	COMPOSE="$(COMPOSE)" ./compat-tests/cluster-secure.sh

# Jepsen-style: a seeded random schedule of faults (kills, network
# partitions, a full disk) against the in-process cluster under acks=all,
# acks=1 and consumer-group workloads, then a history checker
# (gregortest/nemesis). SEED=n reproduces a run's schedule (printed);
# NEMESIS_HISTORY=file keeps the whole history.
DURATION ?= 2m
nemesis:
	NEMESIS_DURATION=2m SEED=$(SEED) $(GO) test -count=1 -timeout 20m -run '^TestNemesis$$' -v ./gregortest/nemesis

nemesis-long:
	NEMESIS_DURATION=$(DURATION) SEED=$(SEED) $(GO) test -count=1 -timeout 0 -run '^TestNemesis$$' -v ./gregortest/nemesis

# The checker against a deliberately broken broker (build tag
# nemesis_broken: acks=all acknowledged before the ISR has the records);
# the test passes when the checker reports the lost records.
nemesis-broken:
	$(GO) test -tags nemesis_broken -count=1 -run '^TestNemesisCatchesBrokenAcks$$' -v ./gregortest/nemesis

clean:
	rm -rf bin
