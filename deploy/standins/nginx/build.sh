#!/usr/bin/env bash
# Builds the nginx stand-in: run as root inside a fresh minbase container by
# deploy/lib/standins.sh, with this directory copied to /standin and STANDIN_IMAGE set
# to the tag compose.yaml names (nginx:1.30). The official image runs that stable
# line; bookworm carries 1.22 and trixie 1.26, so the stand-in is built on the Debian
# suite in ./suite, whose nginx is that line (checked below), laid out like the
# official image: nginx.conf including conf.d/*.conf, user nginx, logs to
# stdout/stderr, curl for health checks.
set -euxo pipefail
line=${STANDIN_IMAGE#nginx:}
line=${line%%-*}
[[ $line =~ ^[0-9]+\.[0-9]+$ ]] || { echo "want a tag like nginx:1.30, not $STANDIN_IMAGE" >&2; exit 1; }
groupadd --system --gid 101 nginx
useradd --system --gid nginx --no-create-home --home /nonexistent --shell /bin/false --uid 101 nginx
apt-get update
apt-get install -y --no-install-recommends nginx curl ca-certificates
rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled /etc/nginx/sites-available /etc/nginx/conf.d/*
install -m 0644 /standin/conf/nginx.conf /etc/nginx/nginx.conf
install -m 0644 /standin/conf/default.conf /etc/nginx/conf.d/default.conf
chown -R nginx:nginx /var/lib/nginx
mkdir -p /usr/share/nginx/html
ln -sf /dev/stdout /var/log/nginx/access.log
ln -sf /dev/stderr /var/log/nginx/error.log
nginx -t
nginx -v 2>&1 | grep -F "nginx/$line." ||
	{ echo "the suite's nginx is $(nginx -v 2>&1), not the $line line of $STANDIN_IMAGE" >&2; exit 1; }
rm -rf /standin
