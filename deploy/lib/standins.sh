# shellcheck shell=bash
# Stand-in images. Docker Hub and gcr.io cannot be reached from the machines this
# project is tested on, so for each image that compose.yaml or the Dockerfile names and
# `docker pull` cannot fetch, a stand-in is built under that exact tag from a
# `debootstrap --variant=minbase bookworm` base and Debian's packages (recipes in
# deploy/standins/*/, and standin_build_golang below). Stand-ins carry the label
# org.tickerboard.standin=<recipe hash> and are rebuilt when their recipe changes; real
# images (no label) are left alone. Sourced, not run.

# apt_repo_uri SUITE prints the URI this machine's apt fetches the Debian suite SUITE
# from (its mirror or proxy, as configured), without a trailing slash.
apt_repo_uri() {
	apt-get indextargets --format '$(CODENAME) $(REPO_URI)' 'Identifier: Packages' 2>/dev/null |
		awk -v suite="$1" '$1 == suite { sub(/\/$/, "", $2); print $2; exit }'
}

# The stand-ins fetch Debian from wherever this machine's apt does; the repository
# names no mirror. TICKERBOARD_DEBIAN_MIRROR / _SECURITY override it, e.g. on a
# machine that is not Debian.
TB_DEBIAN_MIRROR=${TICKERBOARD_DEBIAN_MIRROR:-$(apt_repo_uri bookworm)}
TB_DEBIAN_SECURITY=${TICKERBOARD_DEBIAN_SECURITY:-$(apt_repo_uri bookworm-security)}
if [[ -z $TB_DEBIAN_MIRROR ]]; then
	TB_DEBIAN_MIRROR=$(apt-get indextargets --format '$(ORIGIN) $(CODENAME) $(REPO_URI)' 'Identifier: Packages' 2>/dev/null |
		awk '$1 == "Debian" && $2 !~ /-security$/ { sub(/\/$/, "", $3); print $3; exit }')
fi
if [[ -n $TB_DEBIAN_MIRROR && -z $TB_DEBIAN_SECURITY ]]; then
	TB_DEBIAN_SECURITY=$(apt-get indextargets --format '$(CODENAME) $(REPO_URI)' 'Identifier: Packages' 2>/dev/null |
		awk '$1 ~ /-security$/ { sub(/\/$/, "", $2); print $2; exit }')
	TB_DEBIAN_SECURITY=${TB_DEBIAN_SECURITY:-${TB_DEBIAN_MIRROR%/debian}/debian-security}
fi
# Bump when standin_rootfs changes what it makes.
TB_BASE_RECIPE=2
TB_STANDINS=$TB_DEPLOY/standins

# images_named lists the images compose.yaml and the Dockerfile refer to.
images_named() {
	{
		sed -n 's/^[[:space:]]*image:[[:space:]]*\([^[:space:]#]*\).*/\1/p' "$TB_ROOT/compose.yaml"
		sed -n 's/^FROM[[:space:]]\{1,\}\([^[:space:]]*\).*/\1/p' "$TB_ROOT/Dockerfile" | grep -v '^scratch$'
	} | tr -d "\"'" | sort -u
}

# standin_recipe IMAGE prints the stand-in directory under deploy/standins for IMAGE.
standin_recipe() {
	case $1 in
	postgres:*) echo postgres ;;
	nginx:*) echo nginx ;;
	golang:*) echo golang ;;
	gcr.io/distroless/static*) echo distroless ;;
	*) return 1 ;;
	esac
}

image_label() { docker image inspect -f '{{index .Config.Labels "org.tickerboard.standin"}}' "$1" 2>/dev/null; }
image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# images_ensure makes every image the stack needs available locally: present, pulled,
# or built as a stand-in.
images_ensure() {
	local img
	for img in $(images_named); do
		image_ensure "$img"
	done
}

image_ensure() {
	local img=$1 recipe hash have
	recipe=$(standin_recipe "$img") || recipe=
	if [[ -n $recipe ]]; then
		hash=$(standin_hash "$recipe")
	fi
	if image_exists "$img"; then
		have=$(image_label "$img")
		if [[ -z $have ]]; then
			log "image $img: present"
			return 0
		fi
		if [[ $have == "$hash" ]]; then
			log "image $img: stand-in present ($hash)"
			return 0
		fi
		log "image $img: stand-in is out of date ($have, want $hash)"
	elif timeout 120 docker pull -q "$img" >/dev/null 2>&1; then
		log "image $img: pulled"
		return 0
	else
		log "image $img: docker pull failed"
	fi
	[[ -n $recipe ]] || die "no stand-in recipe for $img (add one under deploy/standins)"
	timed "stand-in $img" "standin_build_$recipe" "$img" "$hash" || die "building the stand-in for $img failed"
}

# standin_hash RECIPE identifies what a stand-in is built from, so a changed recipe,
# base, Go toolchain or module set rebuilds it.
standin_hash() {
	{
		echo "base $TB_BASE_RECIPE $TB_DEBIAN_MIRROR"
		if [[ $1 == golang ]]; then
			# Made by standin_build_golang itself, from this Go and these modules.
			declare -f standin_build_golang
			go version
			sha256sum "$TB_ROOT/go.mod" "$TB_ROOT/go.sum" | cut -d' ' -f1
		else
			(cd "$TB_STANDINS/$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum)
		fi
	} | sha256sum | cut -c1-16
}

# standin_base [SUITE] prints the tag of the SUITE (bookworm) minbase image, importing
# it (from the cached debootstrap tarball, made first if missing).
standin_base() {
	local suite=${1:-bookworm} tag tar
	tag=tickerboard-standin/$suite-minbase:r$TB_BASE_RECIPE
	tar=$(standin_base_tar "$suite")
	if ! image_exists "$tag"; then
		[[ -s $tar ]] || timed "debootstrap $suite minbase" standin_rootfs "$tar" "$suite" >&2 ||
			die "debootstrap failed"
		docker import \
			--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
			--change 'CMD ["bash"]' \
			"$tar" "$tag" >/dev/null || die "docker import $tar failed"
		log "imported $tag"
	fi
	echo "$tag"
}

# standin_base_tar [SUITE] is the cached debootstrap tarball.
standin_base_tar() { echo "$TB_CACHE/rootfs/${1:-bookworm}-minbase-r$TB_BASE_RECIPE.tar"; }

# standin_suite RECIPE prints the Debian suite a recipe's image is built on: the one
# in its `suite` file (for a package bookworm does not carry in the version the
# official image has), else bookworm.
standin_suite() {
	if [[ -f $TB_STANDINS/$1/suite ]]; then
		tr -d '[:space:]' <"$TB_STANDINS/$1/suite"
	else
		echo bookworm
	fi
}

# standin_rootfs TAR [SUITE] makes a trimmed minbase root filesystem tarball of SUITE
# (bookworm), set up the way Debian's own container images are: no services started
# by package scripts, no recommends, no docs or apt lists kept.
standin_rootfs() (
	tar=$1
	suite=${2:-bookworm}
	[[ -n $TB_DEBIAN_MIRROR ]] ||
		die "no Debian mirror in this machine's apt configuration: set TICKERBOARD_DEBIAN_MIRROR"
	apt_install debootstrap
	dir=$(mktemp -d "$TB_CACHE/rootfs.XXXXXX")
	trap 'rm -rf "$dir"' EXIT
	# A suite newer than this debootstrap knows (forky) bootstraps like sid.
	script=()
	[[ -e /usr/share/debootstrap/scripts/$suite ]] || script=(/usr/share/debootstrap/scripts/sid)
	debootstrap --variant=minbase "$suite" "$dir" "$TB_DEBIAN_MIRROR" "${script[@]}" >"$dir.log" 2>&1 ||
		{ tail -20 "$dir.log" >&2; rm -f "$dir.log"; exit 1; }
	rm -f "$dir.log"
	if [[ $suite == bookworm ]]; then
		cat >"$dir/etc/apt/sources.list" <<SOURCES
deb $TB_DEBIAN_MIRROR bookworm main
deb $TB_DEBIAN_MIRROR bookworm-updates main
deb $TB_DEBIAN_SECURITY bookworm-security main
SOURCES
	else
		# Suites still in development sign indexes valid for a week; a mirror that
		# serves a snapshot serves them signed but past that date.
		cat >"$dir/etc/apt/sources.list" <<SOURCES
deb [check-valid-until=no] $TB_DEBIAN_MIRROR $suite main
deb [check-valid-until=no] $TB_DEBIAN_SECURITY $suite-security main
SOURCES
	fi
	printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"
	chmod 0755 "$dir/usr/sbin/policy-rc.d"
	cat >"$dir/etc/apt/apt.conf.d/90container" <<'APT'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };
APT
	cat >"$dir/etc/dpkg/dpkg.cfg.d/90container" <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
DPKG
	rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/* \
		"$dir"/usr/share/man/* "$dir"/usr/share/info/* "$dir"/usr/share/locale/*
	find "$dir/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
	: >"$dir/etc/resolv.conf"
	: >"$dir/etc/hostname"
	chmod 0755 "$dir" # mktemp made it 0700, and it becomes the image's /
	mkdir -p "$(dirname "$tar")"
	tar --numeric-owner -C "$dir" -cf "$tar.tmp" . && mv "$tar.tmp" "$tar"
)

# A recipe under deploy/standins/NAME is build.sh, run as root in a fresh minbase
# container with the recipe directory copied to /standin, and image.conf, the image's
# settings as Dockerfile instructions (ENV, CMD, …) applied when the container is
# committed. No Dockerfile: without the buildx plugin `docker build` is the legacy
# builder, which with vfs storage copies the whole tree at every step, metadata steps
# included (minutes per image, against seconds for one container and one commit).

# standin_container RECIPE [IMAGE] runs the recipe's build.sh (with STANDIN_IMAGE set
# to the tag it is building) and prints the stopped container's id; the caller
# removes it.
standin_container() {
	local recipe=$1 base id logf args=(-e "STANDIN_IMAGE=${2:-}") line
	logf=$(standin_log "$recipe")
	base=$(standin_base "$(standin_suite "$recipe")") || return 1
	while read -r line; do
		[[ $line == STOPSIGNAL\ * ]] && args+=(--stop-signal "${line#STOPSIGNAL }")
	done <"$TB_STANDINS/$recipe/image.conf"
	id=$(docker create "${args[@]}" "$base" bash /standin/build.sh) || return 1
	if ! docker cp "$TB_STANDINS/$recipe/." "$id:/standin" ||
		! docker start -a "$id" >"$logf" 2>&1; then
		tail -30 "$logf" >&2
		docker rm -f "$id" >/dev/null
		return 1
	fi
	echo "$id"
}

# standin_changes RECIPE HASH prints the --change arguments for the image's
# settings, one a line (STOPSIGNAL is set at create time: commit refuses it).
standin_changes() {
	local line
	while read -r line; do
		[[ -z $line || $line == \#* || $line == STOPSIGNAL\ * ]] && continue
		printf '%s\n' --change "$line"
	done <"$TB_STANDINS/$1/image.conf"
	printf '%s\n' --change "LABEL org.tickerboard.standin=$2"
}

# standin_build_commit IMG HASH RECIPE commits the recipe's container as IMG.
standin_build_commit() {
	local img=$1 hash=$2 recipe=$3 id changes rc=0
	id=$(standin_container "$recipe" "$img") || return 1
	mapfile -t changes < <(standin_changes "$recipe" "$hash")
	docker commit "${changes[@]}" "$id" "$img" >/dev/null || rc=1
	docker rm "$id" >/dev/null
	return "$rc"
}
standin_build_postgres() { standin_build_commit "$1" "$2" postgres; }
standin_build_nginx() { standin_build_commit "$1" "$2" nginx; }

# standin_build_distroless IMG HASH imports the root filesystem that the recipe's
# build.sh assembled: the image has nothing of the build container in it.
standin_build_distroless() {
	local img=$1 hash=$2 id changes rc=0
	id=$(standin_container distroless "$img") || return 1
	mapfile -t changes < <(standin_changes distroless "$hash")
	docker cp "$id:/rootfs.tar" - | tar -xOf - rootfs.tar |
		docker import "${changes[@]}" - "$img" >/dev/null || rc=1
	docker rm "$id" >/dev/null
	return "$rc"
}

# standin_log RECIPE is where the output of a stand-in's build goes.
standin_log() { echo "${TB_ARTIFACTS:-/tmp}/standin-$1.log"; }

# standin_build_golang IMG HASH makes a Go image from this machine's own Go, with the
# project's modules inside it served as GOPROXY=file://… (the Dockerfile's build must
# not fetch modules from the network, and HTTPS from inside containers is not trusted
# here). One `docker import` of minbase + Go + modules: with vfs storage every build
# step would copy the whole tree again.
standin_build_golang() (
	img=$1
	hash=$2
	want=${img#golang:}
	want=${want%%-*}
	have=$(go env GOVERSION)
	[[ ${have#go} == "$want" || ${have#go} == "$want".* ]] ||
		{ log "this machine has $have, but the Dockerfile wants $img"; exit 1; }
	standin_base >/dev/null || exit 1
	dir=$(mktemp -d "$TB_CACHE/golang.XXXXXX")
	trap 'rm -rf "$dir"' EXIT
	tar -C "$dir" -xf "$(standin_base_tar)"
	cp -a "$(go env GOROOT)" "$dir/usr/local/go"
	rm -rf "$dir/usr/local/go/test"
	# The modules: fetched into a cache of their own (from this machine's module cache
	# first, then the proxy), so the image holds the project's modules and nothing
	# else. `go mod download` is what the Dockerfile runs; `go list` adds anything
	# else the build loads (best effort: the code may be mid-edit, and the image's
	# build will say so itself).
	modcache=$TB_CACHE/gomodcache
	proxy="file://$(go env GOMODCACHE)/cache/download,$(go env GOPROXY)"
	(cd "$TB_ROOT" && GOFLAGS=-mod=readonly GOMODCACHE=$modcache GOPROXY=$proxy go mod download) >&2 ||
		exit 1
	(cd "$TB_ROOT" && GOFLAGS=-mod=readonly GOMODCACHE=$modcache GOPROXY=$proxy \
		go list -deps ./cmd/tickerboard >/dev/null 2>&1) ||
		log "go list ./cmd/tickerboard failed; the image gets go mod download's modules"
	mkdir -p "$dir/opt" "$dir/go"
	cp -r "$modcache/cache/download" "$dir/opt/goproxy"
	chmod 0755 "$dir"
	tar --numeric-owner -C "$dir" -cf - . | docker import \
		--change "ENV GOLANG_VERSION=${have#go}" \
		--change 'ENV GOTOOLCHAIN=local' \
		--change 'ENV GOPATH=/go' \
		--change 'ENV GOPROXY=file:///opt/goproxy' \
		--change 'ENV PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		--change 'WORKDIR /go' \
		--change 'CMD ["bash"]' \
		--change "LABEL org.tickerboard.standin=$hash" \
		- "$img" >/dev/null
)
