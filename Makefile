# The one test command (README): formatting, vet, the race-enabled Go suite with Postgres,
# and the browser tests against the real binary.
GO ?= go
export TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres

.PHONY: test test-go test-sim test-web check fuzz bench build run

test: check test-go test-sim test-web

check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

test-go:
	$(GO) test -race -count=1 -timeout 15m ./...

# The race detector slows the simulation tenfold, so test-go runs only 3 short seeds of it;
# this runs 60 longer ones without it (about a minute on two cores). A wider sweep:
# go test ./sync/simulation -sim.first=5000 -sim.seeds=600 -sim.steps=400
test-sim:
	$(GO) test -count=1 ./sync/simulation -run 'TestSimulation$$' -sim.seeds=60 -sim.steps=400

test-web:
	bash web/e2e/run.sh

# Short fuzzing of the sync decoders, merge and the edge outbox; the corpus lives in testdata/fuzz.
fuzz:
	GO=$(GO) bash scripts/fuzz.sh

bench:
	$(GO) test -run XXX -bench . -benchmem ./...

build:
	$(GO) build -o aiff ./cmd/aiff

run:
	$(GO) run ./cmd/aiff demo
