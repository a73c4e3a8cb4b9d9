# Vigil's container image. Node 24 runs the TypeScript sources directly (type stripping), so the
# image carries sources and production dependencies only; there is no build step.
FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies only; chdb (embedded ClickHouse) is optional and installs on x64 and arm64 glibc.
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM node:24-bookworm-slim
# Inside a container every listener binds all interfaces (config/vigil.yaml reads these).
ENV NODE_ENV=production \
    VIGIL_HTTP_ENDPOINT=0.0.0.0:4318 \
    VIGIL_GRPC_ENDPOINT=0.0.0.0:4317 \
    VIGIL_SYSLOG_UDP_ENDPOINT=0.0.0.0:5514 \
    VIGIL_SYSLOG_TCP_ENDPOINT=0.0.0.0:5514 \
    VIGIL_ADMIN_ENDPOINT=0.0.0.0:8080
RUN groupadd --system --gid 10001 vigil \
 && useradd --system --uid 10001 --gid vigil --home-dir /var/lib/vigil --shell /usr/sbin/nologin vigil \
 && install -d -o vigil -g vigil /var/lib/vigil /etc/vigil
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY cmd ./cmd
COPY src ./src
COPY proto ./proto
COPY config/vigil.yaml /etc/vigil/vigil.yaml
USER vigil
# OTLP gRPC, OTLP/HTTP + JSON events, syslog (UDP and TCP), admin (/metrics, /healthz, /readyz).
EXPOSE 4317 4318 5514/udp 5514 8080
VOLUME ["/var/lib/vigil"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "/app/cmd/vigil.ts"]
CMD ["run", "--config", "/etc/vigil/vigil.yaml", "--data-dir", "/var/lib/vigil"]
