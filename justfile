# Optional sugar; every recipe is a plain go command you can run without just.

# Run the engine on embedded defaults (NATS and bbolt under ./data).
serve:
    go run ./cmd/hookstream serve

# Build the binary into ./hookstream.
build:
    go build -o hookstream ./cmd/hookstream

# Run every test, as CI does.
test:
    go test -race -count=1 ./...

# Static checks: go vet and staticcheck (fetched from the module proxy, nothing to install).
lint:
    go vet ./...
    go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

# The CI script.
ci:
    bash .ci/run

# A local receiver that prints deliveries and verifies their signatures.
listen secret="":
    go run ./cmd/hookstream listen --secret "{{secret}}"

# Throughput and latency against raw HTTP POSTs (see docs/performance.md).
bench:
    go run ./cmd/hookstream bench

# The go test benchmarks of the foundation.
bench-go:
    go test -run '^$' -bench . -benchmem ./test/ ./projections/ ./delivery/
