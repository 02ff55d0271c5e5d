# redisgate: `make test` installs what the tests need (redis-server, redis-sentinel, pinned npm
# packages) and runs vet, the Go tests with the race detector, short fuzzing and the SDK suite.

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
GO ?= go
FUZZTIME ?= 10s

.PHONY: test deps vet gotest fuzz conformance run build

test: deps vet gotest fuzz conformance

deps:
	@if ! command -v redis-server >/dev/null || ! command -v redis-sentinel >/dev/null; then \
		echo "installing redis-server and redis-sentinel with apt-get"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq redis-server redis-sentinel; \
	fi
	cd conformance && npm ci --no-audit --no-fund --loglevel=error

vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...

gotest:
	$(GO) test -race -count=1 ./...

fuzz:
	$(GO) test -run='^$$' -fuzz='^FuzzParseJSON$$' -fuzztime=$(FUZZTIME) ./command
	$(GO) test -run='^$$' -fuzz='^FuzzParseJSONList$$' -fuzztime=$(FUZZTIME) ./command
	$(GO) test -run='^$$' -fuzz='^FuzzFromPath$$' -fuzztime=$(FUZZTIME) ./command
	$(GO) test -run='^$$' -fuzz='^FuzzReadReply$$' -fuzztime=$(FUZZTIME) ./resp
	$(GO) test -run='^$$' -fuzz='^FuzzReplyJSON$$' -fuzztime=$(FUZZTIME) ./proxy

conformance:
	cd conformance && npm test

build:
	$(GO) build -o bin/redisgate ./cmd/redisgate

run:
	$(GO) run ./cmd/redisgate
