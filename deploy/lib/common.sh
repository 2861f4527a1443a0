# shellcheck shell=bash
# Shared by the deploy scripts: logging, failing, and where caches live.
# Sourced, not run.

# TB_CACHE keeps what is slow to make and safe to reuse between runs: the compose
# plugin binary, the debootstrap base, and (when the e2e starts its own engine) the
# Docker data root with the stand-in images.
TB_CACHE=${TICKERBOARD_CACHE:-/var/cache/tickerboard}
TB_START=${TB_START:-$(date +%s)}

log() { printf '%s [%4ss] %s\n' "$(date +%H:%M:%S)" "$(($(date +%s) - TB_START))" "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }

# timed NAME CMD... runs CMD and logs how long it took, for the report and for
# noticing when a cache stopped working.
timed() {
	local name=$1 t0 rc=0
	shift
	t0=$(date +%s)
	"$@" || rc=$?
	log "$name: $(($(date +%s) - t0))s (exit $rc)"
	return "$rc"
}

# apt_install PKG... installs Debian packages that are missing, once per run.
apt_install() {
	local missing=() p
	for p in "$@"; do
		[[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) == *"ok installed" ]] || missing+=("$p")
	done
	((${#missing[@]})) || return 0
	log "apt-get install ${missing[*]}"
	local logf=${TB_ARTIFACTS:-/tmp}/apt-get.log
	if [[ -z ${TB_APT_UPDATED:-} ]]; then
		apt_locked apt-get update -qq >>"$logf" 2>&1 ||
			{ tail -20 "$logf" >&2; die "apt-get update failed (log: $logf)"; }
		TB_APT_UPDATED=1
	fi
	# Packages' scripts must not start services (docker.io would start a second
	# dockerd): policy-rc.d says no while they run, unless the machine has its own.
	local policy=/usr/sbin/policy-rc.d made_policy= rc=0
	if [[ ! -e $policy ]]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 0755 "$policy" && made_policy=1
	fi
	DEBIAN_FRONTEND=noninteractive apt_locked apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >>"$logf" 2>&1 || rc=$?
	[[ -z $made_policy ]] || rm -f "$policy"
	((rc == 0)) || { tail -20 "$logf" >&2; die "apt-get install ${missing[*]} failed (log: $logf)"; }
}

# apt_locked APT-GET-COMMAND... runs it, waiting up to 10 minutes while another apt or
# dpkg (another test, unattended upgrades) holds the package locks. Its output goes
# to stdout, for the caller to keep.
apt_locked() {
	local i out rc
	for ((i = 0; i < 120; i++)); do
		rc=0
		out=$("$@" -o DPkg::Lock::Timeout=5 2>&1) || rc=$?
		printf '%s\n' "$out"
		((rc != 0)) || return 0
		[[ $out == *"Could not get lock"* || $out == *"Unable to lock"* ]] || return "$rc"
		((i % 12)) || log "waiting for another apt-get to finish"
		sleep 5
	done
	return 1
}
