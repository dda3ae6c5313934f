# NanoClaw in Go. `make run` starts the host, `make test` runs every test.
SHELL := /bin/bash
GO ?= go
FUZZTIME ?= 60s
BENCHCOUNT ?= 6

# Default plugins: every plugins/<name>/ with a manifest.json is built to plugins/<name>.wasm
# with its manifest copied beside it, which is where the host loads (and watches) plugins.
PLUGIN_SRCS := $(patsubst %/manifest.json,%,$(wildcard plugins/*/manifest.json))
PLUGIN_WASM := $(foreach p,$(PLUGIN_SRCS),plugins/$(notdir $(p)).wasm)

.PHONY: build plugins binaries test bench fuzz run clean image image-minimal runner
# The full agent image (make image; what make run uses) and the minimal one (make image-minimal).
IMAGE ?= nanoclaw-agent:latest
IMAGE_MINIMAL ?= nanoclaw-agent:minimal

build: plugins binaries

# `nanoclaw version` reports VERSION and COMMIT (Go's own VCS stamp is off under -buildvcs=false).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)

binaries:
	@mkdir -p bin
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-X main.version=$(VERSION) -X main.commit=$(COMMIT)" -o bin/nanoclaw ./cmd/nanoclaw

plugins: $(PLUGIN_WASM)

# Go's build cache makes this cheap when nothing changed, so the rule always runs.
plugins/%.wasm: FORCE
	GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -trimpath -o $@ ./plugins/$*
	cp plugins/$*/manifest.json plugins/$*.json

FORCE:

# Every test, under the race detector. The full log is kept in bin/test.log; the last line
# counts the tests so a run that executed none is visible. cmd/nanoclaw, which drives real
# hosts and containers under the race detector, can pass go test's default 10 minutes on a
# 2-core machine while other packages run beside it: the whole run stays under 15.
test:
	@mkdir -p bin
	@sandbox/image/setup.sh minimal
	@status=0; $(GO) test -race -count=1 -timeout 25m -v ./... > bin/test.log 2>&1 || status=$$?; \
	grep -E '^(ok|FAIL|\?) ' bin/test.log; \
	grep -E -A30 '^\s*--- FAIL' bin/test.log | head -300; \
	grep -E '^(panic:|fatal error:)' -A40 bin/test.log | head -80; \
	echo "summary: $$(grep -cE '^\s*--- PASS' bin/test.log) passed, $$(grep -cE '^\s*--- FAIL' bin/test.log) failed, $$(grep -cE '^\s*--- SKIP' bin/test.log) skipped"; \
	exit $$status

# Benchmarks in benchstat's input format: bin/bench.txt. Compare runs with
# `benchstat old.txt bin/bench.txt` (go install golang.org/x/perf/cmd/benchstat@latest).
bench:
	@mkdir -p bin
	$(GO) test -run '^$$' -bench . -benchmem -count $(BENCHCOUNT) ./... | tee bin/bench.txt

# Long fuzzing: every Fuzz target for FUZZTIME each. With PLUGIN=path/to/any.wasm KIND=mount
# (or ipc, route) it fuzzes that build, source not needed, against its kind's invariants
# (host/plugin/invariants/fuzzplugin): failing inputs stay under the user's cache directory
# ($$XDG_CACHE_HOME/nanoclaw/fuzz, not this tree) and the report prints the command that
# reproduces one.
fuzz:
ifdef PLUGIN
	$(GO) run ./host/plugin/invariants/fuzzplugin -plugin $(abspath $(PLUGIN)) -kind $(KIND) -fuzztime $(FUZZTIME)
else
	@set -e; grep -rlE '^func Fuzz' --include='*_test.go' . | sort | while read -r f; do \
		pkg=./$$(dirname $${f#./}); \
		for t in $$(grep -oE '^func Fuzz[A-Za-z0-9_]+' $$f | cut -d' ' -f2); do \
			echo "== $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg; \
		done; \
	done
endif

# The static agent runner, which both images carry.
runner:
	@mkdir -p bin
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags="-s -w" -o bin/agent-runner ./cmd/agent-runner

# The full agent image: Debian bookworm with bash, coreutils, git, python3, ripgrep, jq,
# sqlite3, curl (sandbox/image/Dockerfile.full). Its base is built once, by mmdebstrap from
# Debian's mirror or from a registry's debian:bookworm-slim (sandbox/image/base.sh), and kept.
image: runner
	@sandbox/image/full.sh $(IMAGE) bin/agent-runner
	@docker image inspect --format 'image $(IMAGE): {{.Size}} bytes' $(IMAGE)

# The minimal agent image, FROM scratch: static bash, busybox and the runner; no registry
# (sandbox/image/Dockerfile). The tests use it; run with it by `make run MINIMAL=1`.
image-minimal: runner
	@sandbox/image/setup.sh minimal
	sandbox/image/stage.sh bin/image-context bin/agent-runner
	docker build -q -t $(IMAGE_MINIMAL) bin/image-context
	@docker image inspect --format 'image $(IMAGE_MINIMAL): {{.Size}} bytes' $(IMAGE_MINIMAL)

# Everything the host needs (plugins, binaries, the agent image), then the host itself.
# Talk to it from another terminal with `./bin/nanoclaw chat`.
ifdef MINIMAL
run: export CONTAINER_IMAGE ?= $(IMAGE_MINIMAL)
endif
run: build $(if $(MINIMAL),image-minimal,image)
	@test -f .env || test -n "$$ANTHROPIC_API_KEY$$CLAUDE_CODE_OAUTH_TOKEN" || { \
		echo "no model credentials: put ANTHROPIC_API_KEY=... (or CLAUDE_CODE_OAUTH_TOKEN=...) in .env"; exit 2; }
	@# Paired means a session with a device id (auth --check), not that store/whatsapp.db exists:
	@# a failed pairing leaves the file.
	@./bin/nanoclaw auth --check >/dev/null 2>&1 || { \
		echo "WhatsApp is not paired: the host starts with the local chat only."; \
		echo "  talk to the assistant:  ./bin/nanoclaw chat        (in another terminal)"; \
		echo "  pair WhatsApp:          ./bin/nanoclaw auth        (QR code, or --pairing-code --phone +NUMBER)"; }
	./bin/nanoclaw run

clean:
	rm -rf bin plugins/*.wasm
