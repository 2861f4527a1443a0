# The commands the README gives. `make test` is the one test command; CI runs it too.
# go.mod names the toolchain (a Go patch release with the current standard-library
# security fixes); auto lets the go command fetch it from the module proxy.
export GOTOOLCHAIN := auto

.PHONY: run test vulncheck e2e bench

run:
	go run ./cmd/tickerboard

test:
	go vet ./...
	bash .ci/vulncheck
	go test -race -count=1 -timeout 30m ./...

vulncheck:
	bash .ci/vulncheck

e2e:
	bash deploy/e2e.sh

bench:
	go test -run XXX -bench . -benchmem ./api/ ./store/ ./feeds/
	go test -run XXX -bench BrowserRender -benchtime 1x ./cmd/tickerboard/
