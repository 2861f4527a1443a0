# shellcheck shell=bash
# A Docker engine for the e2e: the one already running if there is one, otherwise a
# private dockerd (vfs storage, its own socket, its data root under TB_CACHE so images
# survive between runs) that engine_stop ends again. Sourced, not run.

TB_ENGINE_RUN=/run/tickerboard-docker
TB_ENGINE_SOCK=unix://$TB_ENGINE_RUN/docker.sock
TB_ENGINE_STARTED=

# engine_start exports DOCKER_HOST for a working engine, starting one if needed.
engine_start() {
	if [[ -n ${DOCKER_HOST:-} ]] && docker info >/dev/null 2>&1; then
		log "using the Docker engine at DOCKER_HOST=$DOCKER_HOST"
		return 0
	fi
	if [[ -z ${DOCKER_HOST:-} ]] && command -v docker >/dev/null && docker info >/dev/null 2>&1; then
		log "using the running Docker engine"
		return 0
	fi
	apt_install docker.io iptables
	export DOCKER_HOST=$TB_ENGINE_SOCK
	# The private socket is ours: whatever answers there was started by an earlier run
	# of this script, so adopt it and stop it at the end like one we started.
	TB_ENGINE_STARTED=1
	if docker info >/dev/null 2>&1; then
		log "adopting the private dockerd left at $DOCKER_HOST"
		return 0
	fi
	mkdir -p "$TB_ENGINE_RUN" "$TB_CACHE/docker"
	local logf=${TB_ARTIFACTS:-$TB_CACHE}/dockerd.log
	log "starting dockerd (vfs, data root $TB_CACHE/docker, log $logf)"
	setsid dockerd \
		--storage-driver=vfs \
		--data-root "$TB_CACHE/docker" \
		--exec-root "$TB_ENGINE_RUN/exec" \
		--pidfile "$TB_ENGINE_RUN/dockerd.pid" \
		--host "$TB_ENGINE_SOCK" \
		</dev/null >"$logf" 2>&1 9>&- & # (fd 9 is e2e.sh's run lock: not dockerd's to keep)
	local i
	for ((i = 0; i < 120; i++)); do
		docker info >/dev/null 2>&1 && return 0
		kill -0 $! 2>/dev/null || { tail -20 "$logf" >&2; die "dockerd exited at start (log: $logf)"; }
		sleep 0.5
	done
	tail -20 "$logf" >&2
	die "dockerd did not answer on $DOCKER_HOST within 60s (log: $logf)"
}

# engine_tidy bounds what runs leave in a private engine's data root: every code
# change leaves a superseded app image and build cache behind, and vfs stores each
# layer whole. Stand-ins are tagged and stay. An engine that is not ours is left alone.
engine_tidy() {
	[[ -n $TB_ENGINE_STARTED ]] || return 0
	docker image prune -f >/dev/null 2>&1 || true
	docker builder prune -f --keep-storage 2GB >/dev/null 2>&1 || true
}

# engine_stop ends the dockerd that engine_start started (and its containerd).
engine_stop() {
	[[ -n $TB_ENGINE_STARTED ]] || return 0
	local pidf=$TB_ENGINE_RUN/dockerd.pid pid i
	pid=$(cat "$pidf" 2>/dev/null) || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 60; i++)); do
		kill -0 "$pid" 2>/dev/null || { log "dockerd stopped"; return 0; }
		sleep 0.5
	done
	log "dockerd $pid did not stop within 30s; killing it"
	kill -KILL "$pid" 2>/dev/null || true
}
