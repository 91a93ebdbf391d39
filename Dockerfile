# wxauth as a container image: the single binary of `bun run build` on a slim Debian.
#
#   docker build -t wxauth .
#   docker run -d -p 3000:3000 -v wxauth-data:/var/lib/wxauth --env-file .env wxauth
#
# test/deploy/container.test.ts checks this file without a container engine: it runs the build command on
# the files the COPY lines name, then starts the binary with this file's ENTRYPOINT, CMD, ENV, USER and
# WORKDIR (paths under a temporary root) and runs the HEALTHCHECK command against it.

# ---- build: the same Bun as package.json's engines.bun and @types/bun (the test fails when they differ).
# Pinned by version; to pin the exact image as well, add its digest, from
# `docker buildx imagetools inspect oven/bun:1.4.5`: FROM oven/bun:1.4.5@sha256:<digest> AS build
FROM oven/bun:1.4.5 AS build
WORKDIR /app
# Dependencies first, so that a change in src/ does not reinstall them.
COPY package.json bun.lock bunfig.toml ./
RUN bun install --frozen-lockfile
COPY tsconfig.json ./
COPY src ./src
# Compiles src/index.ts and the sweep worker (src/modules/sessions/sweep-worker.ts) into dist/wxauth.
RUN bun run build

# ---- run: Bun's compiled binary needs glibc (libc, libm, libpthread, libdl) and nothing else.
# debian:bookworm-slim rather than gcr.io/distroless/cc-debian12: wxauth has no command that checks its own
# health, and distroless has neither a shell nor an HTTP client for the HEALTHCHECK; here it is curl, the one
# package added (ca-certificates comes with it). It also lets the RUN below create the non-root user and the
# data directory with its owner.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends curl ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 wxauth \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/wxauth --no-create-home --shell /usr/sbin/nologin wxauth \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/wxauth
COPY --from=build /app/dist/wxauth /usr/local/bin/wxauth
USER 10001:10001
WORKDIR /var/lib/wxauth
# The SQLite database (the default store). With DATABASE_URL and REDIS_URL nothing is written here.
VOLUME /var/lib/wxauth
ENV DATABASE_PATH=/var/lib/wxauth/wxauth.db HOST=0.0.0.0 PORT=3000
EXPOSE 3000
# 200 once every store answered a query, 503 when one does not (see GET /healthz in README.md).
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD curl -fsS -o /dev/null "http://127.0.0.1:${PORT}/healthz" || exit 1
# wxauth stops accepting, finishes in-flight requests, closes its stores and exits 0 on SIGTERM.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/wxauth"]
CMD ["serve"]
