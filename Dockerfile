# syntax=docker/dockerfile:1
# Vigil's container image, in two variants (cmd/image/build-image.sh builds both):
#   docker build --target full -t vigil:full .   embedded ClickHouse (chdb), the default target
#   docker build --target slim -t vigil:slim .   an agent without chdb: file, OTLP, remote ClickHouse
# Node 24 runs the TypeScript sources directly (type stripping): no build step, the image carries
# sources and production dependencies only. The runtime stages have no npm, run as uid 10001,
# write only to /var/lib/vigil (a volume; run with --read-only --tmpfs /tmp), and run under tini
# so signals reach Vigil and it drains its queues on `docker stop`.
# Behind a TLS-inspecting proxy, npm ci trusts its CA given as a build secret (not kept in the
# image): --secret id=npm-ca,src=proxy-ca.pem (build-image.sh passes $NODE_EXTRA_CA_CERTS).
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS deps-full
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=secret,id=npm-ca \
    if [ -f /run/secrets/npm-ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/npm-ca; fi; \
    npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM ${NODE_IMAGE} AS deps-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=secret,id=npm-ca \
    if [ -f /run/secrets/npm-ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/npm-ca; fi; \
    npm ci --omit=dev --omit=optional --no-audit --no-fund && npm cache clean --force

FROM ${NODE_IMAGE} AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="Vigil" \
      org.opencontainers.image.description="OpenTelemetry-compatible collector that correlates events into incidents, stores them in ClickHouse and drives tickets." \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/vigil-collector/vigil" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"
# tini is PID 1: it forwards SIGTERM to Vigil and reaps children. npm, npx, corepack and yarn
# leave the file system (their bytes stay in the base layer): nothing installs at run time, and
# they are most of the base image's CVEs.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/* \
 && rm -rf /usr/local/lib/node_modules /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack /opt/yarn-* /usr/local/bin/yarn /usr/local/bin/yarnpkg \
 && groupadd --gid 10001 vigil \
 && useradd --uid 10001 --gid vigil --home-dir /var/lib/vigil --shell /usr/sbin/nologin vigil \
 && install -d -o vigil -g vigil /var/lib/vigil /etc/vigil
# Inside a container every listener binds all interfaces (the shipped configs read these).
# NODE_COMPILE_CACHE: a start that finds the cache filled (the process restarted in the same
# container, or a volume there) reuses the TypeScript Node stripped and compiled before: faster
# and smaller (docs/deployment.md, "Agent install"). Where it cannot be created, Node starts without it.
ENV NODE_ENV=production \
    NODE_COMPILE_CACHE=/tmp/vigil-compile-cache \
    VIGIL_HTTP_ENDPOINT=0.0.0.0:4318 \
    VIGIL_GRPC_ENDPOINT=0.0.0.0:4317 \
    VIGIL_SYSLOG_UDP_ENDPOINT=0.0.0.0:5514 \
    VIGIL_SYSLOG_TCP_ENDPOINT=0.0.0.0:5514 \
    VIGIL_ADMIN_ENDPOINT=0.0.0.0:8080
WORKDIR /app
COPY package.json ./
COPY cmd ./cmd
COPY src ./src
COPY proto ./proto
# OTLP gRPC, OTLP/HTTP + JSON events, syslog (UDP and TCP), admin (/metrics, /healthz, /readyz).
# The operators' API stays on loopback until api.auth is set up (docs/api.md).
EXPOSE 4317 4318 5514/udp 5514 8080
VOLUME ["/var/lib/vigil"]
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
USER 10001:10001
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/app/cmd/vigil.ts"]
CMD ["run", "--config", "/etc/vigil/vigil.yaml", "--data-dir", "/var/lib/vigil"]

FROM runtime AS slim
LABEL org.opencontainers.image.description="Vigil agent without embedded ClickHouse: OTLP, syslog and JSON in; files, OTLP forwarding, a ClickHouse server and tickets out."
COPY --from=deps-slim /app/node_modules ./node_modules
COPY config/vigil-slim.yaml /etc/vigil/vigil.yaml

FROM runtime AS full
COPY --from=deps-full /app/node_modules ./node_modules
COPY config/vigil.yaml /etc/vigil/vigil.yaml
