# Daily tasks. `make test` is the one command that runs the whole suite
# (.ci/run runs exactly it after making sure PostgreSQL and Redis answer).
GO ?= go

.PHONY: run test lint bench build tidy

run:
	$(GO) run ./cmd/wagate serve

build:
	$(GO) build -o bin/wagate ./cmd/wagate

test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 15m ./...

lint:
	gofmt -l . | (! grep .)
	$(GO) vet ./...

bench:
	cd bench && $(GO) run ./eventlog && $(GO) run ./messaging
	@echo "session benchmark (real whatsmeow clients on the fake network): cd bench && go run ./sessions"

tidy:
	$(GO) mod tidy
