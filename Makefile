# vrouter — see README.md. Every target works on a fresh Debian machine as
# root: `deps` installs what the netns tests, the demo and the benchmarks need.
SHELL := /bin/bash
export PATH := $(PATH):/usr/local/go/bin
GO ?= go
BIN := bin
PKGS_UNIT := $(shell $(GO) list ./... 2>/dev/null | grep -v /testnet)
FUZZTIME ?= 60s

.PHONY: all build test unit e2e vet bench demo lint fuzz soak deps clean

all: build

build:
	$(GO) build -o $(BIN)/vrouterd ./cmd/vrouterd
	$(GO) build -o $(BIN)/vrouterctl ./cmd/vrouterctl

# deps installs the Debian packages used by tests, demo and bench, once.
deps:
	@need=""; \
	for c in ip:iproute2 nft:nftables iperf3:iperf3 ping:iputils-ping tracepath:iputils-tracepath curl:curl; do \
		cmd=$${c%%:*}; pkg=$${c##*:}; \
		command -v $$cmd >/dev/null 2>&1 || need="$$need $$pkg"; \
	done; \
	if [ -n "$$need" ]; then \
		echo "installing:$$need"; \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$need >/dev/null; \
	fi

vet:
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 $(PKGS_UNIT)

# e2e runs the root-only network-namespace scenarios (SPEC rule ids in test names).
e2e: deps
	$(GO) test -count=1 -timeout 20m ./testnet/...

test: deps vet unit e2e

lint:
	@test -z "$$(gofmt -l .)" || { gofmt -l .; echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...

bench: deps build
	$(GO) run ./bench/cmd/vbench $(BENCHFLAGS)

# make demo runs the embedded topology; make demo CONFIG=configs/X.yaml runs
# one of the examples instead.
demo: deps build
	@if [ -n "$(CONFIG)" ]; then bash demo/run-config.sh "$(CONFIG)"; else bash demo/demo.sh; fi

# fuzz runs every native fuzz target for FUZZTIME each (SPEC Q1); crashers
# land in the package's testdata/fuzz and must be fixed and kept.
FUZZ_TARGETS := \
	FuzzLoad:./controlplane/config/ \
	FuzzDecode:./dataplane/packet/ \
	FuzzBuildICMPv4Error:./dataplane/packet/ \
	FuzzFragmentIPv4:./dataplane/packet/ \
	FuzzForward:./dataplane/ \
	FuzzTable:./dataplane/conntrack/ \
	FuzzLPM:./dataplane/fib/ \
	FuzzSum:./dataplane/tun/

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		name=$${t%%:*}; pkg=$${t#*:}; \
		echo "== $$name ($$pkg) for $(FUZZTIME)"; \
		$(GO) test -run='^$$' -fuzz="^$$name\$$" -fuzztime=$(FUZZTIME) -fuzzminimizetime=10s $$pkg; \
	done

# soak runs vrouterd for 10 minutes at 70% of its measured throughput and
# checks accounting, RSS, goroutines, descriptors and loss (issue 10); not
# part of `make test`. SOAKFLAGS passes flags, e.g. SOAKFLAGS='-duration 2m -warmup 30s'.
soak: deps build
	$(GO) run ./bench/cmd/vsoak $(SOAKFLAGS)

clean:
	rm -rf $(BIN)
