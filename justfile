# Optional sugar; every recipe is a plain go command you can run without just.

# Run the engine on embedded defaults (NATS and bbolt under ./data).
serve:
    go run ./cmd/hookstream serve

# Run every test (what CI runs, with -race).
test:
    go test ./...

# The CI script.
ci:
    bash .ci/run

# Benchmarks of the foundation.
bench:
    go test -run '^$' -bench . -benchmem ./test/ ./projections/ ./delivery/
