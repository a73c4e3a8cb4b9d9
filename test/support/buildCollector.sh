#!/usr/bin/env bash
# Builds an OpenTelemetry Collector (otlp receiver, batch processor, debug and otlp_http exporters)
# with the Collector's own builder, once: the Vigil → Collector tests run it as a real OTLP gateway,
# the receiver's interoperability tests as a sender (otlp_http with each compression), and
# `npm run bench -- peers` runs it as the peer Vigil is measured against. Prints the binary path.
# The debug exporter, not contrib's file exporter: `go mod tidy` of the latter needs
# otlpencodingextension v0.165.0, which the Go module proxy does not serve.
set -euo pipefail
version=v0.165.0
# The stable modules (confmap providers) are numbered 1.x alongside the 0.x components.
stable=v1.71.0
# Bumped whenever the component list below changes, so a cached build of the old list is not reused.
components=3
dir="${VIGIL_OTELCOL_DIR:-$HOME/.cache/vigil-otelcol}/$version-c$components"
bin="$dir/otelcol-vigil"
if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi
export PATH="$(go env GOPATH)/bin:$PATH"
command -v builder >/dev/null && builder version 2>/dev/null | grep -q "$version" || go install "go.opentelemetry.io/collector/cmd/builder@$version" >&2
mkdir -p "$dir"
cat >"$dir/manifest.yaml" <<MANIFEST
dist:
  name: otelcol-vigil
  description: OpenTelemetry Collector for Vigil's interoperability tests
  output_path: $dir/build
receivers:
  - gomod: go.opentelemetry.io/collector/receiver/otlpreceiver $version
processors:
  - gomod: go.opentelemetry.io/collector/processor/batchprocessor $version
exporters:
  - gomod: go.opentelemetry.io/collector/exporter/debugexporter $version
  - gomod: go.opentelemetry.io/collector/exporter/otlphttpexporter $version
providers:
  - gomod: go.opentelemetry.io/collector/confmap/provider/fileprovider $stable
  - gomod: go.opentelemetry.io/collector/confmap/provider/envprovider $stable
  - gomod: go.opentelemetry.io/collector/confmap/provider/yamlprovider $stable
MANIFEST
builder --config "$dir/manifest.yaml" >&2
mv "$dir/build/otelcol-vigil" "$bin"
rm -rf "$dir/build"
echo "$bin"
