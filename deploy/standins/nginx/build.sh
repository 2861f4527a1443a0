#!/usr/bin/env bash
# Builds the nginx stand-in: run as root inside a fresh bookworm minbase container by
# deploy/lib/standins.sh, with this directory copied to /standin. Debian's nginx laid
# out like the official image: nginx.conf including conf.d/*.conf, user nginx, logs
# to stdout/stderr, curl for health checks.
set -euxo pipefail
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
rm -rf /standin
