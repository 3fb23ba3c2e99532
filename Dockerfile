# syntax=docker/dockerfile:1
# yubival container image. Nothing secret is baked in: the keyfile, the AEAD tree and the database URL
# come from read-only mounts / secrets at run time (see docker-compose.yml and the README).

# --- build: dev dependencies, TypeScript → dist/, then only production dependencies are kept ---------
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` (the tsc build) needs the sources, which come in the next layer; no
# dependency needs an install script.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

# --- runtime ----------------------------------------------------------------------------------------
FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    YUBIVAL_HOST=0.0.0.0 \
    YUBIVAL_PORT=8080 \
    YUBIVAL_ADMIN_PORT=9080 \
    YUBIVAL_KEYFILE=/etc/yubival/keys.json \
    YUBIVAL_AEAD_DIR=/var/lib/yubival/aeads \
    YUBIVAL_DATA_DIR=/var/lib/yubival/data
WORKDIR /app
# The code belongs to root: the service user can read it but not change it.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY migrations ./migrations
# Mount points: keyfile and AEADs read-only; the data dir is only used by embedded PGlite (no DATABASE_URL).
RUN mkdir -p /etc/yubival /var/lib/yubival/aeads /var/lib/yubival/data \
 && chown node:node /var/lib/yubival/data && chmod 0700 /var/lib/yubival/data
USER node
EXPOSE 8080 9080
# No curl in the slim image: Node's fetch. The admin listener is plain HTTP on loopback whatever the
# public port does (TLS, rate limits); without it (YUBIVAL_ADMIN_PORT=0) the public port is probed.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "const e=process.env,a=e.YUBIVAL_ADMIN_PORT||'9080',tls=!!e.YUBIVAL_TLS_CERT_FILE;if(a==='0'&&tls)process.env.NODE_TLS_REJECT_UNAUTHORIZED='0';const u=a!=='0'?'http://127.0.0.1:'+a:(tls?'https':'http')+'://127.0.0.1:'+(e.YUBIVAL_PORT||'8080');fetch(u+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Node itself is PID 1 (the base image's entrypoint execs it): SIGTERM reaches yubival, which drains.
# A 128 MB old-space limit keeps the server's RSS under load at ≈ 130 MB (Node's default sizing let it
# grow to ≈ 165 MB with a million keys, garbage that V8 had not yet collected; docs/benchmarks.md).
# Only the server gets it: `yubival keys …` run in the container need more for big imports. Raise it
# with YUBIVAL_AEAD_CACHE_SIZE (≈ 10 MB per 100,000 more cached keys) by overriding the command.
CMD ["node", "--max-old-space-size=128", "bin/yubival", "serve"]
