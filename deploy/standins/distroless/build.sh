#!/usr/bin/env bash
# Builds the root filesystem of the gcr.io/distroless/static-debian12:nonroot
# stand-in into /rootfs.tar: no shell, no package manager, just CA certificates, time
# zones, /tmp and the nonroot user (65532), for a static binary. Run as root inside a
# fresh bookworm minbase container by deploy/lib/standins.sh.
set -euxo pipefail
apt-get update
apt-get install -y --no-install-recommends ca-certificates tzdata
rm -rf /var/lib/apt/lists/*
r=/rootfs
mkdir -p $r/etc/ssl/certs $r/usr/share $r/tmp $r/home/nonroot $r/root
cp /etc/ssl/certs/ca-certificates.crt $r/etc/ssl/certs/
cp -a /usr/share/zoneinfo $r/usr/share/
cp /etc/os-release $r/etc/os-release
printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' \
	'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' \
	'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >$r/etc/passwd
printf '%s\n' 'root:x:0:' 'nobody:x:65534:' 'nonroot:x:65532:' >$r/etc/group
echo 'hosts: files dns' >$r/etc/nsswitch.conf
chmod 0755 $r
chmod 1777 $r/tmp
chmod 0700 $r/root
chown 65532:65532 $r/home/nonroot
tar --numeric-owner -C $r -cf /rootfs.tar .
