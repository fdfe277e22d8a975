# framecast — `make demo` and `make test` set up everything they need.
GO       ?= go
BIN      := bin/framecast
PKG      := github.com/framecast/framecast
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null)
LDFLAGS  := -X $(PKG)/internal/cli.version=$(VERSION) -X $(PKG)/internal/cli.commit=$(COMMIT) -X $(PKG)/internal/telemetry.Version=$(VERSION)
export FRAMECAST_HOME ?= $(HOME)/.cache/framecast

.PHONY: all build setup test demo bench bench-human reference fuzz prereqs clean image

all: build

prereqs:
	@scripts/check-prereqs.sh

build: prereqs
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/framecast

# Idempotent: Go modules, ONNX Runtime, models (converted to ONNX and checked),
# sample photos and the test images derived from them, all in $(FRAMECAST_HOME).
setup: build
	$(GO) mod download
	./$(BIN) --log-format text models fetch

# Unit and in-process integration tests with the race detector first, then
# the end-to-end tests (the real binary as separate processes, kcat) on
# their own, so their timing is not squeezed by the race-enabled packages.
# Outside `make test` a test that needs the models skips without them; here
# `make setup` has just fetched them, so a missing one fails the test.
# scripts/vet-portable.sh vets the packages that need no cgo for macOS.
test: setup
	@scripts/check-prereqs.sh --test
	$(GO) vet ./...
	GO=$(GO) scripts/vet-portable.sh
	FRAMECAST_TEST_REQUIRE_MODELS=1 $(GO) test -race -count=1 $$($(GO) list ./... | grep -v /e2e)
	FRAMECAST_TEST_REQUIRE_MODELS=1 $(GO) test -count=1 ./e2e/

# The live demo: embedded broker, four synthetic cameras, a worker and the
# dashboard in one process; it prints the dashboard URL. Ctrl-C stops it.
demo: setup
	./$(BIN) demo

# Go benchmarks of every stage on a 640×480 frame with four faces.
bench: setup
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./internal/imagex/ ./internal/vision/

# framecast against Human (TensorFlow.js wasm) on the same images, one run.
bench-human: setup
	scripts/bench-vs-human.sh

# Regenerates the golden files in testdata/reference from Human's own pipeline.
reference: setup
	scripts/reference.sh

# The container image framecast:latest (IMAGE=…): the binary built here, the
# cache directory's run-time files, libjpeg and ffmpeg on Debian. BASE=…
# picks the base (default: framecast-base:<this release>, made with
# mmdebstrap when missing; debian:bookworm-slim where a registry is reachable).
image: setup
	GO=$(GO) IMAGE=$(IMAGE) BASE=$(BASE) scripts/image.sh

fuzz: setup
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime 60s ./internal/imagex/

clean:
	rm -rf bin out
