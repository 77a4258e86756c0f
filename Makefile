# stylelab — the README's commands are `make demo` (the main job) and `make test` (all tests).
# Both work on a fresh Debian machine with Go: they install what they need first.
SHELL := /bin/bash
GO ?= go
BIN := bin/stylelab
SIZE ?= 128
STEPS ?= 60

.PHONY: build demo test test-short deps notebook bench

build:
	$(GO) build -o $(BIN) ./cmd/stylelab

# The main job: stylise a shipped photograph with a shipped painting on the CPU, recorded in ./runs.
demo: build
	./$(BIN) doctor
	./$(BIN) run --content images/content/chelsea.jpg --style images/style/vangogh_starry_night.jpg \
		--size $(SIZE) --steps $(STEPS) --seed 1 --out out/chelsea_starry_night.png

# Installs the test dependencies (Debian packages for Jupyter and Chromium, GoNB and goimports), then runs every test.
# STYLELAB_REQUIRE_BROWSER turns a missing Chromium into a failure instead of a skip; STYLELAB_REQUIRE_BLAS a
# matrix-product engine other than OpenBLAS (library missing or failing its check) into a failure of experiments/gemm;
# STYLELAB_REQUIRE_POSTGRES a PostgreSQL server that cannot be started (tracker/pgtest) into a failure of the tracker tests.
test: deps
	$(GO) vet ./...
	STYLELAB_REQUIRE_BROWSER=1 STYLELAB_REQUIRE_BLAS=1 STYLELAB_REQUIRE_POSTGRES=1 $(GO) test -timeout 80m ./...

# Only the fast tests (no notebooks, no browser, no end-to-end optimisation).
test-short:
	$(GO) test -short ./...

deps:
	bash scripts/install-deps.sh

notebook: build
	./$(BIN) kernel install
	./$(BIN) kernel notebook

bench:
	$(GO) test -run '^$$' -bench . -benchtime 3x ./...
