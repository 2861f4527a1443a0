# Tickerboard: one static binary (the page and the migrations are embedded in it) on a
# minimal non-root image. Build: `docker build -t tickerboard .`, or let compose do it.

# The build stage needs nothing but Go: no apt, no apk, no cgo.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The build context has no .git, so the version and commit come in as build args
# (`make image`, or TICKERBOARD_VERSION/TICKERBOARD_REVISION for compose); without
# them `tickerboard version` says devel.
ARG VERSION=
ARG REVISION=
# The compiler's cache outlives the image build (BuildKit, the default builder), so a
# rebuild after a code change compiles only what changed.
RUN --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath \
      -ldflags="-s -w -X main.version=${VERSION} -X main.revision=${REVISION}" \
      -o /out/tickerboard ./cmd/tickerboard

# No shell and no curl here: the HEALTHCHECK is the binary's own `healthcheck`
# subcommand, which GETs /readyz on TICKERBOARD_ADDR.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/tickerboard /usr/local/bin/tickerboard
ENV TICKERBOARD_ADDR=0.0.0.0:8080
EXPOSE 8080
USER 65532:65532
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/tickerboard", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/tickerboard"]
