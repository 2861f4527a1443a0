#!/usr/bin/env bash
# Builds the postgres stand-in: run as root inside a fresh bookworm minbase container
# by deploy/lib/standins.sh, with this directory copied to /standin. Debian's
# postgresql-15, laid out like the official postgres:15 image.
set -euxo pipefail
groupadd --system --gid 999 postgres
useradd --system --gid postgres --uid 999 --home-dir /var/lib/postgresql --shell /bin/bash postgres
mkdir -p /var/lib/postgresql
chown postgres:postgres /var/lib/postgresql
apt-get update
apt-get install -y --no-install-recommends postgresql-common
# No cluster from the package: the entrypoint makes one in $PGDATA on first start.
sed -ri 's/#(create_main_cluster) .*$/\1 = false/' /etc/postgresql-common/createcluster.conf
apt-get install -y --no-install-recommends postgresql-15
rm -rf /var/lib/apt/lists/*
sed -ri "s!^#?(listen_addresses)\s*=\s*\S+.*!\1 = '*'!" /usr/share/postgresql/15/postgresql.conf.sample
grep -F "listen_addresses = '*'" /usr/share/postgresql/15/postgresql.conf.sample
mkdir -p /var/run/postgresql /docker-entrypoint-initdb.d /var/lib/postgresql/data
chown postgres:postgres /var/run/postgresql /var/lib/postgresql/data
chmod 3777 /var/run/postgresql
chmod 1777 /var/lib/postgresql/data
install -m 0755 /standin/docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
rm -rf /standin
