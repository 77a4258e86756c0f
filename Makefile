# stylelab — the README's commands are `make demo` (the main job) and `make test` (all tests).
# Both work on a fresh Debian machine with Go: they install what they need first.
SHELL := /bin/bash
GO ?= go
BIN := bin/stylelab
SIZE ?= 256
STEPS ?= 50

.PHONY: build demo test test-short test-race deps notebook notebooks bench bench-peer bench-peer-memory

build:
	$(GO) build -o $(BIN) ./cmd/stylelab

# The main job: stylise a shipped photograph with a shipped painting on the CPU, recorded in ./runs.
demo: build
	./$(BIN) doctor
	./$(BIN) run --content images/content/chelsea.jpg --style images/style/vangogh_starry_night.jpg \
		--size $(SIZE) --steps $(STEPS) --seed 1 --out out/chelsea_starry_night.png

# Installs the test dependencies (Debian packages for Jupyter and Chromium, GoNB and goimports), then runs every test.
# STYLELAB_REQUIRE_BROWSER turns a missing Chromium into a failure instead of a skip; STYLELAB_REQUIRE_BLAS a
# matrix-product engine other than OpenBLAS (library missing or failing its check) into a failure of backends/gemm;
# STYLELAB_REQUIRE_POSTGRES a PostgreSQL server that cannot be started (tracker/pgtest) into a failure of the tracker tests;
# STYLELAB_REQUIRE_SLURM a missing single-node Slurm cluster (slurm-wlm, munge; started by the sweep tests) into a failure;
# STYLELAB_REQUIRE_TORCH a missing python3-torch (the weights tests write .pth files with it) into a failure.
# STYLELAB_REQUIRE_SCIPY missing python3-scipy/python3-skimage (experiments/study's reference values) into a failure.
test: deps
	$(GO) vet ./...
	STYLELAB_REQUIRE_BROWSER=1 STYLELAB_REQUIRE_BLAS=1 STYLELAB_REQUIRE_POSTGRES=1 STYLELAB_REQUIRE_SLURM=1 STYLELAB_REQUIRE_TORCH=1 STYLELAB_REQUIRE_SCIPY=1 $(GO) test -timeout 80m ./...
	$(MAKE) test-race

# The compute engine under the race detector (its ops split work over goroutines). -short, and in backends/gemm
# only the tests that run products on several goroutines: its numeric sweeps take minutes under -race and run
# without it in `make test` (2 minutes in all on a shared 2-core machine, compiling included).
test-race:
	$(GO) test -race -short ./backends/backend ./backends/cpubackend
	$(GO) test -race -short -run 'TestDeterminism|TestConcurrentCallers|TestPartition' ./backends/gemm

# Only the fast tests (no notebooks, no browser, no end-to-end optimisation).
test-short:
	$(GO) test -short ./...

deps:
	bash scripts/install-deps.sh

notebook: build
	./$(BIN) kernel install
	./$(BIN) kernel notebook

# Executes every notebook at its CI size as TestNotebooksExecute does (real Jupyter, the GoNB kernel, one temporary
# tracker) and writes each one that passes over notebooks/*.ipynb WITH its outputs (ECharts inlined once per
# notebook: they render offline), its code cells' hash in its metadata. Commit them: TestNotebookOutputsCurrent
# fails when a code cell changes without this being run again. Needs `make deps`; minutes per notebook on 2 cores.
notebooks:
	$(GO) test ./notebooks -run '^TestNotebooksExecute$$' -count=1 -timeout 80m -v -args -record

# Go micro-benchmarks of every package.
bench:
	$(GO) test -run '^$$' -bench . -benchtime 3x ./...

# stylelab against PyTorch (Debian's python3-torch) on this machine, same network, losses and steps:
# first the peer's check that both compute the same losses (bench/peer/peer.py --check), then both benchmarks on
# the same sizes, each stylelab row right before PyTorch's same row (each in its own child process), then a table
# of stylelab s / PyTorch s per row. Rows: out/bench/{stylelab,pytorch}.json.
# GOMLX_BACKEND=go make bench-peer measures GoMLX's stock pure-Go backend instead (the "before").
# BENCH_ROWS=WORK:SIZE,... measures those rows instead of the Gatys works at BENCH_SIZES. `make bench-peer-memory`
# measures MEMORY_ROWS (Gatys, the paper network's inference and its CIN training step; issue #16's table).
BENCH_SIZES ?= 128,256
BENCH_ROWS ?=
MEMORY_ROWS = gatys-adam:256,gatys-adam:512,gatys-adam:1024,inference-paper:256,inference-paper:512,inference-paper:1024,train-step-paper:256
BENCH_STEPS ?= 3
BENCH_WARMUP ?= 1
PEER_PYTHON ?= /usr/bin/python3
bench-peer: build
	bash bench/peer/install-deps.sh
	mkdir -p out/bench
	./$(BIN) bench --export-check out/bench/check --sizes 64
	set -o pipefail; $(PEER_PYTHON) bench/peer/peer.py --check out/bench/check | tail -3
	$(PEER_PYTHON) bench/peer/peer.py --sizes $(BENCH_SIZES) $(if $(BENCH_ROWS),--rows $(BENCH_ROWS)) --steps $(BENCH_STEPS) --warmup $(BENCH_WARMUP) \
		--stylelab ./$(BIN) --stylelab-json-out out/bench/stylelab.json --json-out out/bench/pytorch.json

bench-peer-memory:
	$(MAKE) bench-peer BENCH_ROWS=$(MEMORY_ROWS) BENCH_STEPS=2 BENCH_WARMUP=0
