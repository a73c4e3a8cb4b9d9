#!/usr/bin/env bash
# Builds Vigil's two images on any machine with Docker (or Podman: DOCKER=podman) and prints
# their sizes. Usage: cmd/image/build-image.sh [TAG_PREFIX]   (default: vigil)
#   <prefix>:<version>       full: embedded ClickHouse (chdb)
#   <prefix>:<version>-slim  slim: no chdb (files, OTLP forwarding, a ClickHouse server)
set -euo pipefail
cd "$(dirname "$0")/../.."
docker=${DOCKER:-docker}
prefix=${1:-vigil}
version=$(node -p 'require("./package.json").version')
revision=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
created=$(date -u +%Y-%m-%dT%H:%M:%SZ)
for target in full slim; do
  tag="$prefix:$version"
  [ "$target" = slim ] && tag="$tag-slim"
  "$docker" build --target "$target" \
    --build-arg VERSION="$version" --build-arg REVISION="$revision" --build-arg CREATED="$created" \
    -t "$tag" .
  echo "$tag: $("$docker" image inspect --format '{{.Size}}' "$tag" | awk '{ printf "%.0f MB", $1 / 1e6 }')"
done
