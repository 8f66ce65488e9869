#!/usr/bin/env bash
# Installs everything layerfs needs on a fresh Debian machine (as root): system packages, npm
# dependencies, the native addon (built by `npm ci` through node-gyp), and the TypeScript build.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v fusermount3 >/dev/null 2>&1 || need_apt+=(fuse3)
[ -e /usr/include/fuse3/fuse_lowlevel.h ] || need_apt+=(libfuse3-dev)
command -v getfattr >/dev/null 2>&1 || need_apt+=(attr)
command -v setfacl >/dev/null 2>&1 || need_apt+=(acl)
command -v fuse-overlayfs >/dev/null 2>&1 || need_apt+=(fuse-overlayfs)
command -v mkfs.xfs >/dev/null 2>&1 || need_apt+=(xfsprogs)
command -v make >/dev/null 2>&1 || need_apt+=(make)
command -v podman >/dev/null 2>&1 || need_apt+=(podman)
command -v runc >/dev/null 2>&1 || need_apt+=(runc)
command -v debootstrap >/dev/null 2>&1 || need_apt+=(debootstrap)
command -v fio >/dev/null 2>&1 || need_apt+=(fio)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
# the image side's peers (tests compare with them) and tools
command -v skopeo >/dev/null 2>&1 || need_apt+=(skopeo)
command -v umoci >/dev/null 2>&1 || need_apt+=(umoci)
command -v docker-registry >/dev/null 2>&1 || need_apt+=(docker-registry)
command -v htpasswd >/dev/null 2>&1 || need_apt+=(apache2-utils)   # the registry tests' basic auth (bcrypt htpasswd)
command -v zstd >/dev/null 2>&1 || need_apt+=(zstd)
command -v pigz >/dev/null 2>&1 || need_apt+=(pigz)
command -v flock >/dev/null 2>&1 || need_apt+=(util-linux)
# fuse-native (the second transport) loads the system's libfuse.so.2
ldconfig -p 2>/dev/null | grep -q 'libfuse.so.2 ' || need_apt+=(libfuse2)
command -v g++ >/dev/null 2>&1 || need_apt+=(g++)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing packages ${need_apt[*]}; run as root or install them" >&2
    exit 1
  fi
  echo "setup: installing ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
# Debian's docker-registry starts a service on all interfaces at install: the tests start their own
# on 127.0.0.1, so stop it (and keep it from starting at boot).
if command -v systemctl >/dev/null 2>&1 && systemctl is-enabled docker-registry >/dev/null 2>&1; then
  systemctl disable --now docker-registry >/dev/null 2>&1 || true
fi
pkill -f '^/usr/bin/docker-registry serve /etc/docker/registry' 2>/dev/null || true

modprobe overlay 2>/dev/null || true
modprobe fuse 2>/dev/null || true

npm ci --no-audit --no-fund
npm run build --silent
