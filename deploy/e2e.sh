#!/usr/bin/env bash
# End-to-end test of the shipped stack, run for real: `docker compose up` of
# compose.yaml (db, app, nginx) on this machine, checked through nginx on
# localhost:$TICKERBOARD_PORT (8080):
#   1. up -d --build --wait: every service healthy, the page loads, /events streams a
#      snapshot; the app captures from the WAL (its log says `capture: wal`, and one
#      replication slot, tickerboard_…, is active);
#   2. the README's `docker compose exec -T db psql …` inserting a score reaches an SSE
#      client through nginx within a second of the commit;
#   3. --scale app=3: all healthy, a client resuming with Last-Event-ID on another
#      instance gets exactly the missed events, exactly one instance leads (/metrics),
#      and only it streams from the one slot; stopping the leader's container hands
#      leadership and the slot over within seconds;
#   4. down then up keeps the data (named volume) and the slot; down -v leaves nothing
#      behind.
#
# It brings what it needs: Debian's docker.io (a private dockerd with vfs storage if
# no engine is running, stopped again at the end), the compose v2 plugin built from
# its Go module, and stand-ins for images Docker Hub cannot serve here
# (deploy/lib/standins.sh). Caches live in $TICKERBOARD_CACHE (/var/cache/tickerboard).
#
# Usage: deploy/e2e.sh [--prepare] [--keep]
#   --prepare  only get the engine, compose and the images ready
#   --keep     leave a private engine running at the end, and after a failure the
#              stack too; export DOCKER_HOST=unix:///run/tickerboard-docker/docker.sock
#              to reach them
# Logs of a failed run go to $TB_ARTIFACTS (artifacts/e2e in the repo).
set -Eeuo pipefail

TB_DEPLOY=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TB_ROOT=$(dirname "$TB_DEPLOY")
TB_START=$(date +%s)
TB_PORT=${TICKERBOARD_PORT:-8080}
TB_PROJECT=${TICKERBOARD_E2E_PROJECT:-tickerboard-e2e}
TB_ARTIFACTS=${TB_ARTIFACTS:-$TB_ROOT/artifacts/e2e}
export TICKERBOARD_PORT=$TB_PORT

# shellcheck source=deploy/lib/common.sh
. "$TB_DEPLOY/lib/common.sh"
# shellcheck source=deploy/lib/engine.sh
. "$TB_DEPLOY/lib/engine.sh"
# shellcheck source=deploy/lib/compose.sh
. "$TB_DEPLOY/lib/compose.sh"
# shellcheck source=deploy/lib/standins.sh
. "$TB_DEPLOY/lib/standins.sh"

prepare_only=
keep=
for arg in "$@"; do
	case $arg in
	--prepare) prepare_only=1 ;;
	--keep) keep=1 ;;
	*) die "unknown argument $arg (usage: deploy/e2e.sh [--prepare] [--keep])" ;;
	esac
done

mkdir -p "$TB_ARTIFACTS"
BASE=http://127.0.0.1:$TB_PORT
CHECK=$TB_ARTIFACTS/e2echeck
PSQL=(psql -U postgres -d tickerboard)
failed_step=
builds=() # background builds still running, for on_exit to stop

# dc runs docker compose on the repo's compose.yaml under the e2e's own project
# name, so a demo someone left running (project "tickerboard") is never touched.
dc() { docker compose --project-directory "$TB_ROOT" -f "$TB_ROOT/compose.yaml" -p "$TB_PROJECT" "$@"; }

# psql_at SQL runs SQL in the db container the README's way and prints bare values.
psql_at() { dc exec -T db "${PSQL[@]}" -qAt -c "$1"; }

step() {
	failed_step=$1
	log "== $1"
}

main() {
	[[ $(id -u) == 0 || -n ${DOCKER_HOST:-} ]] || die "run as root (it installs packages and may start dockerd)"
	command -v go >/dev/null || die "go is not on PATH"
	trap on_exit EXIT

	step "prepare"
	# One run at a time on a machine: runs share the engine, the caches and the port.
	mkdir -p "$TB_ENGINE_RUN"
	exec 9>"$TB_ENGINE_RUN/e2e.lock"
	if ! flock -n 9; then
		log "another deploy/e2e.sh is running; waiting up to 20 minutes for it"
		flock -w 1200 9 || die "another deploy/e2e.sh still holds $TB_ENGINE_RUN/e2e.lock"
	fi
	port_free
	timed "engine" engine_start
	# The compose plugin (minutes to build the first time) and the checker compile
	# while the images are made.
	compose_ensure >"$TB_ARTIFACTS/compose-plugin.log" 2>&1 &
	builds+=($!)
	(cd "$TB_ROOT" && go build -o "$CHECK" ./deploy/e2echeck) >"$TB_ARTIFACTS/e2echeck-build.log" 2>&1 &
	builds+=($!)
	timed "images" images_ensure
	wait "${builds[0]}" || { cat "$TB_ARTIFACTS/compose-plugin.log" >&2; die "no docker compose"; }
	cat "$TB_ARTIFACTS/compose-plugin.log" >&2
	wait "${builds[1]}" || { cat "$TB_ARTIFACTS/e2echeck-build.log" >&2; die "building deploy/e2echeck failed"; }
	builds=()
	log "prepared"
	[[ -z $prepare_only ]] || return 0
	# A stack left behind by an interrupted run would hold the port and the volume.
	dc down -v --remove-orphans >/dev/null 2>&1 || true

	step "1. up --build --wait"
	timed "compose up --build --wait" dc up -d --build --wait --wait-timeout 300 ||
		die "docker compose up did not make every service healthy"
	expect_healthy db 1
	expect_healthy app 1
	expect_healthy nginx 1
	"$CHECK" page -base "$BASE"
	"$CHECK" stream -base "$BASE"
	[[ $(docker image inspect -f '{{.Config.User}}' "$(app_image)") == 65532* ]] ||
		die "the app image does not run as the nonroot user"
	expect_wal_capture

	step "2. psql insert reaches an SSE client through nginx"
	local game out
	# The README's command word for word: it scores in the first live game of the
	# feeds (run before the e2e's own game exists, which must keep its own score).
	out=$(dc exec -T db psql -U tickerboard_writer -d tickerboard \
		-c "INSERT INTO scores (game_id, team, points) VALUES ((SELECT min(id) FROM games WHERE status = 'live'), 'home', 3);" 2>&1) ||
		die "the README's psql command failed: $out"
	[[ $out == "INSERT 0 1" ]] || die "the README's psql command said ${out@Q}"
	# Then the same command on a game of the e2e's own, timed from commit to client.
	game=$(psql_at "INSERT INTO games (league, home_team, away_team, status) VALUES ('E2E', 'Home $$', 'Away $$', 'live') RETURNING id")
	[[ $game =~ ^[0-9]+$ ]] || die "creating a game gave ${game@Q}"
	"$CHECK" latency -base "$BASE" -game "$game" -team home -points 3 -within 1s -- \
		docker compose --project-directory "$TB_ROOT" -p "$TB_PROJECT" \
		exec -T db "${PSQL[@]}" -c "INSERT INTO scores (game_id, team, points) VALUES ($game, 'home', 3);"

	step "3. --scale app=3"
	timed "compose up --scale app=3 --wait" dc up -d --scale app=3 --wait --wait-timeout 180 ||
		die "scaling to 3 app instances did not leave every service healthy"
	expect_healthy app 3
	# What each instance costs Postgres, for the README's scaling story.
	psql_at "SELECT client_addr || ': ' || count(*) || ' connections (' ||
	                string_agg(DISTINCT left(regexp_replace(query, '\s+', ' ', 'g'), 40), '; ') || ')'
	         FROM pg_stat_activity WHERE datname = 'tickerboard' AND client_addr IS NOT NULL
	         GROUP BY client_addr ORDER BY 1" | sed 's/^/postgres connections from /' >&2
	"$CHECK" resume -base "$BASE" -- docker compose --project-directory "$TB_ROOT" -p "$TB_PROJECT" \
		exec -T db "${PSQL[@]}" -qAt -c
	local leader container holders t0 took new logs
	out=$("$CHECK" leader -base "$BASE" -instances 3 -within 30s) || die "leader: $out"
	log "leader: $out"
	leader=${out%% *}
	holders=$(leader_lock_holders)
	[[ $holders == 1 ]] || die "$holders sessions hold the leader lock, want 1"
	expect_wal_capture "${leader%:*}"
	container=$(container_at "${leader%:*}") || die "no app container has address ${leader%:*}"
	log "stopping the leader's container $container ($leader)"
	t0=$(date +%s.%N)
	docker stop -t 10 "$container" >/dev/null
	log "leader container stopped after $(elapsed "$t0")s"
	out=$("$CHECK" leader -base "$BASE" -instances 2 -exclude "$leader" -within 20s) || die "failover: $out"
	took=$(elapsed "$t0")
	log "failover: $out; $took s from docker stop to a new leader"
	new=${out%% *}
	# (Read whole, then searched: grep -q on a pipe would cut docker logs off, and
	# pipefail would count that as a failure.)
	logs=$(docker logs "$(container_at "${new%:*}")" 2>&1)
	grep -q 'msg="leading:' <<<"$logs" || die "the new leader's log does not say it leads"
	holders=$(leader_lock_holders)
	[[ $holders == 1 ]] || die "$holders sessions hold the leader lock after failover, want 1"
	expect_wal_capture "${new%:*}"
	"$CHECK" stream -base "$BASE"

	step "4. down, up: the data stays"
	timed "compose down" dc down
	timed "compose up --wait" dc up -d --wait --wait-timeout 180 || die "up after down failed"
	local back
	back=$(curl -fsS "$BASE/api/games/$game") || die "GET /api/games/$game after down/up failed"
	grep -Eq "\"home_team\": *\"Home $$\"" <<<"$back" || die "game $game did not survive down/up: $back"
	grep -Eq '"home_score": *3[,}]' <<<"$back" || die "game $game lost its score over down/up: $back"
	log "game $game and its score survived down/up"
	expect_wal_capture

	step "5. down -v leaves nothing"
	timed "compose down -v" dc down -v --remove-orphans
	local left
	left=$(leftovers)
	[[ -z $left ]] || die "left behind after down -v: $left"
	failed_step=
	log "PASS: all end-to-end checks passed"
}

# port_free fails clearly when something already listens on the port nginx needs.
port_free() {
	local who=
	if command -v ss >/dev/null; then
		who=$(ss -Hltnp "sport = :$TB_PORT" 2>/dev/null || true)
	elif (exec 3<>"/dev/tcp/127.0.0.1/$TB_PORT") 2>/dev/null; then
		who="something accepts connections on 127.0.0.1:$TB_PORT"
	fi
	[[ -z $who ]] || die "port $TB_PORT is taken (set TICKERBOARD_PORT to use another): $who"
}

# expect_healthy SERVICE N checks that N containers of SERVICE run and are healthy.
expect_healthy() {
	local svc=$1 want=$2 ids id healthy=0 state
	ids=$(dc ps -q "$svc")
	for id in $ids; do
		state=$(docker inspect -f '{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}' "$id")
		[[ $state == "running healthy" ]] && healthy=$((healthy + 1))
	done
	[[ $healthy == "$want" ]] || die "$healthy healthy $svc containers, want $want"
	log "$svc: $want healthy"
}

# container_at IP prints the id of the project's app container with that address.
container_at() {
	local id
	for id in $(dc ps -q app); do
		if [[ " $(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}' "$id")" == *" $1 "* ]]; then
			echo "$id"
			return 0
		fi
	done
	return 1
}

# leader_lock_holders counts the sessions holding the leader election's advisory lock
# (store.LeaderLockKey; a bigint key shows in pg_locks as classid/objid halves).
leader_lock_holders() {
	psql_at "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted
	         AND ((classid::bigint << 32) | objid::bigint) = 7294615230472"
}

# expect_wal_capture [IP] checks that the stack captures changes from the WAL, as
# compose.yaml sets the db up for (wal_level=logical), not with the fallback triggers:
# every running app instance logged `capture: wal`, capture_mode says wal, and the db
# has exactly one replication slot, the app's (store.CaptureSlot:
# tickerboard_<db>_<hash>), with a session streaming from it (from IP, the leader, if
# given), and the server runs with compose.yaml's wal_writer_delay (10ms). The leader
# makes or takes the slot after its election, so that part is
# waited for, up to 30 s.
expect_wal_capture() {
	local want=${1:-} id logs mode slots name active from deadline=$((SECONDS + 30))
	for id in $(dc ps -q app); do
		logs=$(docker logs "$id" 2>&1)
		grep -q 'msg="capture: wal ' <<<"$logs" ||
			die "app container $id does not capture from the WAL: $(grep -m1 'msg="capture: ' <<<"$logs" || echo 'its log has no capture line')"
	done
	while :; do
		mode=$(psql_at "SELECT mode FROM capture_mode")
		slots=$(psql_at "SELECT s.slot_name, s.active, coalesce(host(a.client_addr), '')
		                 FROM pg_replication_slots s LEFT JOIN pg_stat_activity a ON a.pid = s.active_pid
		                 ORDER BY 1")
		IFS='|' read -r name active from <<<"$slots"
		if [[ $mode == wal && $slots != *$'\n'* && $name == tickerboard_* && $active == t ]] &&
			[[ -z $want || $from == "$want" ]]; then
			break
		fi
		((SECONDS < deadline)) ||
			die "no WAL capture${want:+ from $want} within 30s: capture_mode ${mode@Q}, replication slots (name|active|client) ${slots@Q}"
		sleep 0.5
	done
	local delay
	delay=$(psql_at "SHOW wal_writer_delay")
	[[ $delay == 10ms ]] ||
		die "wal_writer_delay is ${delay@Q}, not compose.yaml's 10ms: asynchronous commits would reach viewers up to that late"
	log "WAL capture: capture_mode wal, one slot $name, streamed to $from; wal_writer_delay $delay"
}

app_image() { docker inspect -f '{{.Image}}' "$(dc ps -q app | head -n1)"; }

elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

# leftovers lists the project's containers, volumes and networks that still exist.
leftovers() {
	local f=label=com.docker.compose.project=$TB_PROJECT
	{
		docker ps -aq --filter "$f" | sed 's/^/container /'
		docker volume ls -q --filter "$f" | sed 's/^/volume /'
		docker network ls -q --filter "$f" | sed 's/^/network /'
	} | tr '\n' ' '
}

# kill_tree PID ends a process and everything it started, children first.
kill_tree() {
	local child
	for child in $(pgrep -P "$1"); do
		kill_tree "$child"
	done
	kill "$1" 2>/dev/null || true
}

on_exit() {
	local rc=$? job
	# A failure while the compose plugin or the checker still builds: stop them.
	for job in "${builds[@]}"; do
		kill_tree "$job"
	done
	if [[ -n $failed_step && -z $prepare_only ]]; then
		log "failed in step: $failed_step; logs in $TB_ARTIFACTS"
		if docker info >/dev/null 2>&1; then
			dc ps -a >"$TB_ARTIFACTS/compose-ps.txt" 2>&1 || true
			dc logs --no-color --timestamps >"$TB_ARTIFACTS/compose-logs.txt" 2>&1 || true
			tail -n 60 "$TB_ARTIFACTS/compose-logs.txt" >&2 || true
		fi
	fi
	if [[ -z $keep ]]; then
		if [[ -z $prepare_only ]] && docker info >/dev/null 2>&1; then
			dc down -v --remove-orphans >/dev/null 2>&1 || true
			engine_tidy
		fi
		engine_stop
	else
		log "--keep: the engine (and a failed run's stack) is still up (DOCKER_HOST=${DOCKER_HOST:-default})"
	fi
	log "total $(($(date +%s) - TB_START))s, exit $rc"
}

# On one line, so bash has read the whole file before it runs anything: editing this
# script during a run cannot change what the run does next.
trap 'exit 143' TERM INT; main; exit
