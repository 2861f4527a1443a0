# The commands the README gives. `make test` is the one test command; CI runs it too.
# go.mod names the toolchain (a Go patch release with the current standard-library
# security fixes); auto lets the go command fetch it from the module proxy.
export GOTOOLCHAIN := auto

# Builds from a checkout say which commit they are (`tickerboard version`, the startup
# log, tickerboard_build_info). `go install …@vX.Y.Z` needs none of this: the module
# version is in the binary's build info.
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS  := -X main.version=$(VERSION) -X main.revision=$(REVISION)

.PHONY: build run image test vulncheck e2e bench

build:
	go build -ldflags "$(LDFLAGS)" -o tickerboard ./cmd/tickerboard

run:
	go run -ldflags "$(LDFLAGS)" ./cmd/tickerboard

# The app image alone, stamped like `make build` (its build context has no .git).
image:
	docker build --build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION) -t tickerboard .

# Quick checks first, then the tests, then the vulnerability scan: a newcomer sees test
# results before the first scan builds its database (cached afterwards, per vulndb
# version). CI runs all of it every time.
test:
	go mod tidy -diff
	go vet ./...
	go test -race -count=1 -timeout 30m ./...
	bash .ci/vulncheck

vulncheck:
	bash .ci/vulncheck

e2e:
	bash deploy/e2e.sh

bench:
	go test -run XXX -bench . -benchmem ./api/... ./store/ ./feeds/
	go test -run XXX -bench BrowserRender -benchtime 1x ./cmd/tickerboard/
