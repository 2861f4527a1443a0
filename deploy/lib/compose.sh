# shellcheck shell=bash
# `docker compose` (v2) for the e2e. Debian bookworm packages only compose v1, so when
# the CLI lacks the v2 plugin it is built from its Go module (go install refuses it:
# its go.mod has exclude directives) and cached. Sourced, not run.

TB_COMPOSE_VERSION=${TICKERBOARD_COMPOSE_VERSION:-v2.40.3}
TB_COMPOSE_PLUGIN_DIR=/usr/local/lib/docker/cli-plugins

# compose_ensure makes `docker compose` work, building the plugin on first use.
compose_ensure() {
	if docker compose version >/dev/null 2>&1; then
		log "$(docker compose version)"
		return 0
	fi
	local bin=$TB_CACHE/bin/docker-compose-$TB_COMPOSE_VERSION
	local logf=${TB_ARTIFACTS:-/tmp}/compose-build.log
	if [[ ! -x $bin ]]; then
		local t0=$SECONDS
		log "building the compose plugin $TB_COMPOSE_VERSION from its Go module (log: $logf)"
		compose_build "$bin" 2>"$logf" || { tail -20 "$logf" >&2; die "could not build the compose plugin"; }
		log "built the compose plugin in $((SECONDS - t0))s"
	fi
	install -D -m 0755 "$bin" "$TB_COMPOSE_PLUGIN_DIR/docker-compose"
	docker compose version >/dev/null 2>&1 || die "docker compose does not run after installing $bin"
	log "$(docker compose version) (installed in $TB_COMPOSE_PLUGIN_DIR)"
}

# compose_build BIN builds the compose CLI plugin from the module proxy into BIN.
compose_build() (
	bin=$1
	work=$(mktemp -d)
	trap 'rm -rf "$work"' EXIT
	dir=$(cd "$work" && GOFLAGS= go mod download -json "github.com/docker/compose/v2@$TB_COMPOSE_VERSION" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p') || exit 1
	[[ -d $dir ]] || { log "go mod download gave no module directory"; exit 1; }
	cp -r "$dir" "$work/src" && chmod -R u+w "$work/src" || exit 1
	mkdir -p "$(dirname "$bin")"
	cd "$work/src" || exit 1
	GOFLAGS= CGO_ENABLED=0 go build -trimpath \
		-ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=$TB_COMPOSE_VERSION" \
		-o "$bin.tmp" ./cmd >&2 || exit 1
	mv "$bin.tmp" "$bin"
)
