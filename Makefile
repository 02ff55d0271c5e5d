# redisgate: `make test` installs what the tests need (redis-server, redis-sentinel, promtool,
# pinned npm packages) and runs vet, the Go tests with the race detector, short fuzzing, the SDK
# suite and the Next.js example.

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
GO ?= go
FUZZTIME ?= 10s
STATICCHECK ?= v0.8.2

.PHONY: test deps vet gotest ratelimit-compare fuzz conformance nextjs run build

test: deps vet gotest ratelimit-compare fuzz conformance nextjs samlint

deps:
	@if ! command -v redis-server >/dev/null || ! command -v redis-sentinel >/dev/null; then \
		echo "installing redis-server and redis-sentinel with apt-get"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq redis-server redis-sentinel; \
	fi
	@if ! command -v promtool >/dev/null; then \
		echo "installing promtool (Debian package prometheus) with apt-get"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends prometheus; \
	fi
	@command -v promtool >/dev/null || { echo "promtool is missing: TestMetricsScrapeUnderLoad (cmd/redisgate) needs it"; exit 1; }
	cd conformance && npm ci --no-audit --no-fund --loglevel=error
	cd respserver/testdata/node && npm ci --no-audit --no-fund --loglevel=error

vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK) ./...

gotest:
	$(GO) test -race -count=1 -timeout 30m ./...

# The limiter against go-redis/redis_rate v10 on one redis-server, without the race detector so
# that the timings mean something: admissions side by side, answers step by step, and the cost
# of a decision (wall time, scripts per 1,000 decisions, Redis CPU from INFO commandstats).
ratelimit-compare:
	$(GO) test -count=1 -run '^TestRedisRate' -v ./ratelimit | grep -v '^=== RUN'

# Each target fuzzes for FUZZTIME. A run that fails is run once more: Go's fuzzing coordinator
# sometimes ends a loaded run with "context deadline exceeded"; a real crasher is saved under
# testdata/fuzz and replayed first by the second run, so it still fails.
FUZZ = $(GO) test -run='^$$' -fuzz='^$(1)$$' -fuzztime=$(FUZZTIME) ./$(2) || \
	{ echo "retrying $(1) once"; $(GO) test -run='^$$' -fuzz='^$(1)$$' -fuzztime=$(FUZZTIME) ./$(2); }

fuzz:
	$(call FUZZ,FuzzParseJSON,command)
	$(call FUZZ,FuzzParseJSONList,command)
	$(call FUZZ,FuzzFromPath,command)
	$(call FUZZ,FuzzCapTimeout,command)
	$(call FUZZ,FuzzReadReply,resp)
	$(call FUZZ,FuzzReader,respserver)
	$(call FUZZ,FuzzReplyJSON,proxy)
	$(call FUZZ,FuzzAppendEncode,internal/b64)
	$(call FUZZ,FuzzSlot,cluster)

# The SDK suite runs five times: as configured by default; with the read cache on (every read
# the SDK makes then goes through the cache; its answers must not change); with the suite's
# database sharing its Redis server with another database (logical databases 1 and 2: the
# isolation of a shared server, namespaced channels and the commands refused there); with
# the suite's database a leader and one replica in strong mode; and with the suite's database a
# Redis Cluster (3 primaries with a replica each, one cluster for the run, strong mode), where
# the cross-slot commands Redis Cluster refuses are checked to get its CROSSSLOT answer.
conformance:
	cd conformance && npm test
	cd conformance && REDISGATE_EXTRA_ARGS=--cache=true npm test
	cd conformance && REDISGATE_LAYOUT=shared npm test
	cd conformance && REDISGATE_LAYOUT=replicated npm test
	cd conformance && npm run test:cluster

# The Next.js example (examples/nextjs): npm ci, next build, then its Node.js and Edge routes
# and its rate-limited route driven against a real gateway and redis-server (test.mjs).
nextjs:
	examples/nextjs/test.sh

# The Redis Cluster benchmark (not in make test: it takes about 2 minutes and its figures need a
# quiet machine): GET and a 100-key /pipeline on 3 primaries vs one node, Redis connections per
# primary under 10,000 HTTP connections; see README, Redis Cluster.
.PHONY: bench-cluster
bench-cluster:
	bench/cluster.sh

build:
	$(GO) build -o bin/redisgate ./cmd/redisgate

run:
	$(GO) run ./cmd/redisgate

# Lambda: the example functions (cmd/hello, cmd/top10) as provided.al2023 bootstraps,
# build/<fn>/<arch>/bootstrap, for arm64 and amd64.
LAMBDA_FUNCTIONS := hello top10
LAMBDA_ARCHS := arm64 amd64

.PHONY: lambda samlint

lambda:
	@for fn in $(LAMBDA_FUNCTIONS); do for arch in $(LAMBDA_ARCHS); do \
		echo "build/$$fn/$$arch/bootstrap"; \
		CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build -tags lambda.norpc -trimpath -ldflags="-s -w" \
			-o build/$$fn/$$arch/bootstrap ./cmd/$$fn || exit 1; \
	done; done

# sam-template.yaml is checked by lambda/samtemplate in gotest; where the Python cfn-lint is
# installed (pip install cfn-lint: not from this project's registries), it checks it too.
samlint:
	@if command -v cfn-lint >/dev/null 2>&1 && cfn-lint --version >/dev/null 2>&1; then \
		echo "cfn-lint $$(cfn-lint --version | cut -d' ' -f2) sam-template.yaml"; \
		cfn-lint --non-zero-exit-code error sam-template.yaml; \
	else echo "samlint: cfn-lint not installed; sam-template.yaml is checked by lambda/samtemplate"; fi
