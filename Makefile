# The commands the README gives. `make test` is the one test command; CI runs it too.
.PHONY: run test e2e bench

run:
	go run ./cmd/tickerboard

test:
	go vet ./...
	go test -race -count=1 -timeout 30m ./...

e2e:
	bash deploy/e2e.sh

bench:
	go test -run XXX -bench . -benchmem ./api/ ./store/
