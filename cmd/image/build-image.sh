#!/usr/bin/env bash
# Builds Vigil's two images and prints their sizes, with Docker (or Podman: DOCKER=podman), or
# with buildah where there is no Docker daemon. Usage: cmd/image/build-image.sh [TAG_PREFIX]
#   <prefix>:<version>       full: embedded ClickHouse (chdb)
#   <prefix>:<version>-slim  slim: no chdb (files, OTLP forwarding, a ClickHouse server)
# Environment: NODE_IMAGE, the Node base image (default: the Dockerfile's, node:24-bookworm-slim;
# without a registry, build one with cmd/image/build-base.sh); NODE_EXTRA_CA_CERTS, a CA file that
# npm ci must trust (a TLS-inspecting proxy), passed as a build secret; BUILDAH_FLAGS, extra
# buildah options (e.g. "--storage-driver vfs").
set -euo pipefail
cd "$(dirname "$0")/../.."
prefix=${1:-vigil}
version=$(node -p 'require("./package.json").version')
revision=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
created=$(date -u +%Y-%m-%dT%H:%M:%SZ)
args=(--build-arg VERSION="$version" --build-arg REVISION="$revision" --build-arg CREATED="$created")
[ -n "${NODE_IMAGE:-}" ] && args+=(--build-arg NODE_IMAGE="$NODE_IMAGE")
[ -f "${NODE_EXTRA_CA_CERTS:-}" ] && args+=(--secret id=npm-ca,src="$NODE_EXTRA_CA_CERTS")
docker=${DOCKER:-docker}
if [ -z "${DOCKER:-}" ] && ! docker info >/dev/null 2>&1 && command -v buildah >/dev/null; then
  read -r -a buildah_flags <<<"${BUILDAH_FLAGS:-}"
  # Docker's image format: the OCI format has no HEALTHCHECK. Chroot isolation needs no
  # namespaces or cgroups from the host, so it builds inside containers and sandboxes too.
  build() { buildah "${buildah_flags[@]}" bud --format docker --isolation chroot "$@"; }
  size() { buildah "${buildah_flags[@]}" images --format '{{.Size}}' "$1"; }
else
  build() { DOCKER_BUILDKIT=1 "$docker" build "$@"; }
  size() { "$docker" image inspect --format '{{.Size}}' "$1" | awk '{ printf "%.0f MB", $1 / 1e6 }'; }
fi
for target in full slim; do
  tag="$prefix:$version"
  [ "$target" = slim ] && tag="$tag-slim"
  build --target "$target" "${args[@]}" -t "$tag" .
  echo "$tag: $(size "$tag")"
done
