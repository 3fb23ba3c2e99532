#!/usr/bin/env bash
# Builds the real Dockerfile from a clean copy of the repository (git archive of HEAD, not the working
# tree) and runs the image against the local PostgreSQL, without a Docker engine or a registry: podman
# from Debian, runc, a local stand-in for node:20-bookworm-slim made with debootstrap, explicit
# ulimits, the host CA bundle mounted at build time (recipe: /work/shared/reference/container-test.md).
#
# Checks: the image builds, USER node + HEALTHCHECK kept, runs as non-root, read-only mounts hold,
# /readyz 200, a real signed verify is OK and its replay REPLAYED_OTP (keys provisioned with the
# image's own `keys import`, OTPs from python3-yubiotp), the HEALTHCHECK passes, `podman stop -t 10`
# takes < 5 s with exit code 0. Prints `N passed, N failed`; exit status 1 on any failure.
#
# usage: scripts/container-test.sh            (npm run test:container; runs as root, like CI)
# env:   TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres), CONTAINER_TEST_REF
#        (default HEAD), W (scratch dir, default /var/tmp/yubival-container-test; keeps the base rootfs)
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
W=${W:-${TMPDIR:-/var/tmp}/yubival-container-test}
REF=${CONTAINER_TEST_REF:-HEAD}
ADMIN_URL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
BASE=docker.io/library/node:20-bookworm-slim   # what `FROM node:20-bookworm-slim` resolves to
TAG=ci-$$-$RANDOM
IMG=localhost/yubival-under-test:$TAG
NAME=yubival-under-test-$TAG
DB=yubival_ct_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
RUN=$(mktemp -d "${TMPDIR:-/tmp}/yubival-ct-run.XXXXXX")
NPM_VERSION=10.8.2 YARN_VERSION=1.22.22
pass=0 fail=0
ok()  { echo "ok   - $*"; pass=$((pass+1)); }
bad() { echo "FAIL - $*"; fail=$((fail+1)); }
exec 3>&2
t()   { local s=$SECONDS rc=0; "$@" || rc=$?; echo "  [$(( SECONDS - s ))s] $1 ${2:-}" >&3; return $rc; }
finish() { echo "$pass passed, $fail failed"; [ "$fail" = 0 ]; }
mkdir -p "$W"
[ "$(id -u)" = 0 ] || { echo "container-test: needs root (rootful podman, chown to the image's uid 1000)"; exit 1; }

# --- 0. tools (Debian packages) ------------------------------------------------------------------
if ! command -v podman >/dev/null || ! command -v runc >/dev/null || ! command -v debootstrap >/dev/null; then
  t apt-get update -qq
  DEBIAN_FRONTEND=noninteractive t apt-get install -y -qq podman runc debootstrap >/dev/null
fi

# --- 1. podman settings this host needs ------------------------------------------------------------
# runc, not crun: crun 1.8 refuses this cgroup v1 "hybrid" host. Explicit ulimits: podman's default
# (1048576) cannot be set without CAP_SYS_RESOURCE. cgroupfs + file events: there is no systemd.
NOFILE=$(ulimit -Hn); NPROC=$(ulimit -Hu); PIDMAX=$(cat /proc/sys/kernel/pid_max)
if [ "$NPROC" = unlimited ] || [ "$NPROC" -gt "$PIDMAX" ]; then NPROC=$PIDMAX; fi
cat > "$W/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$NOFILE:$NOFILE", "nproc=$NPROC:$NPROC"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
export CONTAINERS_CONF=$W/containers.conf
# Egress TLS is intercepted: npm inside RUN steps gets the host CA bundle (build-time mounts only).
printf 'cafile=/etc/ssl/certs/ca-certificates.crt\n' > "$W/npmrc"
BUILD_MOUNTS=(-v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro
              -v "$W/npmrc:/usr/local/etc/npmrc:ro")

# --- 2. local stand-in for node:20-bookworm-slim ---------------------------------------------------
make_base() {
  local R=$W/rootfs
  [ -x "$R/bin/sh" ] || t debootstrap --variant=minbase bookworm "$R" >"$W/debootstrap.log"
  chroot "$R" apt-get clean
  rm -rf "$R"/var/lib/apt/lists/* "$R"/usr/share/doc/* "$R"/usr/share/man/* "$R"/usr/share/info/*
  install -m 0755 "$(readlink -f "$(command -v node)")" "$R/usr/local/bin/node"
  env -u NODE_EXTRA_CA_CERTS chroot "$R" /usr/local/bin/node -e 'if(!process.version.startsWith("v20."))process.exit(1)'
  (cd "$W" && npm pack --silent "npm@$NPM_VERSION" "yarn@$YARN_VERSION" >/dev/null)
  mkdir -p "$R/usr/local/lib/node_modules/npm" "$R/opt/yarn-v$YARN_VERSION"
  tar -xzf "$W/npm-$NPM_VERSION.tgz"   --strip-components=1 -C "$R/usr/local/lib/node_modules/npm"
  tar -xzf "$W/yarn-$YARN_VERSION.tgz" --strip-components=1 -C "$R/opt/yarn-v$YARN_VERSION"
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$R/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$R/usr/local/bin/npx"
  ln -sf "/opt/yarn-v$YARN_VERSION/bin/yarn" "$R/usr/local/bin/yarn"
  local cpk; cpk=$(dirname "$(readlink -f "$(command -v node)")")/../lib/node_modules/corepack
  if [ -d "$cpk" ]; then cp -a "$cpk" "$R/usr/local/lib/node_modules/corepack"
    ln -sf ../lib/node_modules/corepack/dist/corepack.js "$R/usr/local/bin/corepack"; fi
  chroot "$R" sh -c 'getent passwd node >/dev/null || { groupadd -g 1000 node && useradd -u 1000 -g node -s /bin/bash -m node; }'
  printf '%s\n' '#!/bin/sh' 'set -e' \
    'if [ "${1#-}" != "${1}" ] || [ -z "$(command -v "${1}")" ] || { [ -f "${1}" ] && ! [ -x "${1}" ]; }; then' \
    '  set -- node "$@"' 'fi' 'exec "$@"' > "$R/usr/local/bin/docker-entrypoint.sh"
  chmod 0755 "$R/usr/local/bin/docker-entrypoint.sh"
  tar --numeric-owner -C "$R" -cf - . | podman import -q \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "ENV NODE_VERSION=$(node -p process.versions.node)" --change "ENV YARN_VERSION=$YARN_VERSION" \
    --change 'ENTRYPOINT ["docker-entrypoint.sh"]' --change 'CMD ["node"]' - "$BASE" >/dev/null
}
podman image exists "$BASE" || t make_base

cleanup() {
  podman rm -f -t 0 "$NAME" >/dev/null 2>&1 || true
  podman rmi -f "$IMG" >/dev/null 2>&1 || true
  podman image prune -f >/dev/null 2>&1 || true
  psql -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$RUN"
}
trap cleanup EXIT

# --- 3. build from a clean copy of the repository ------------------------------------------------------
mkdir -p "$RUN/src"
git -C "$REPO" archive "$REF" | tar -x -C "$RUN/src"
# --format docker: OCI format silently drops HEALTHCHECK. --no-cache: never reuse a bad npm ci layer.
if t podman build --pull=never --no-cache --format docker "${BUILD_MOUNTS[@]}" -t "$IMG" "$RUN/src" >"$W/build.log" 2>&1 \
   && ! grep -q 'Exit handler never called' "$W/build.log"; then ok "image builds from $(git -C "$REPO" rev-parse --short "$REF")"
else bad "image builds (see $W/build.log)"; tail -20 "$W/build.log"; finish; exit 1; fi
[ "$(podman image inspect -f '{{.Config.User}}' "$IMG")" = node ] && ok "USER node" || bad "USER is not node"
[ "$(podman image inspect -f '{{.Config.Healthcheck}}' "$IMG")" != "<nil>" ] && ok "HEALTHCHECK kept" || bad "no HEALTHCHECK in the image"
! podman run --rm --network=none --entrypoint sh "$IMG" -c 'ls /app/node_modules/typescript /app/node_modules/vitest' >/dev/null 2>&1 \
  && ok "no dev dependencies in the image" || bad "dev dependencies in the image"

# --- 4. a throwaway installation: database, keyfile, AEADs via the image's own `keys import` ---------
psql -q "$ADMIN_URL" -c "CREATE DATABASE $DB" >/dev/null
DATABASE_URL=$(ADMIN_URL=$ADMIN_URL DB=$DB node -e 'const u=new URL(process.env.ADMIN_URL);u.pathname="/"+process.env.DB;console.log(u.toString())')
free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
PORT=$(free_port); APORT=$(free_port)
mkdir -p "$RUN/aeads" "$RUN/etc"
# The keyfile is checked like on the host: mode 0400 (never group/other-readable), owned by the
# container user (node, uid 1000) so that it, and only it, can read it through the read-only mount.
printf '{"1": "%s"}\n' "$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')" > "$RUN/etc/keys.json"
chown 1000:1000 "$RUN/etc/keys.json" "$RUN/aeads"; chmod 0400 "$RUN/etc/keys.json"; chmod 0700 "$RUN/aeads"
PUB=vv$(od -An -N5 -tx1 /dev/urandom | tr -d ' \n' | tr '0123456789abcdef' 'cbdefghijklnrtuv')
AES=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n'); UID6=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
printf '# ykksm 1\n1,%s,%s,%s,000000000000,,\n' "$PUB" "$UID6" "$AES" > "$RUN/import.csv"
chmod 0644 "$RUN/import.csv"
tool() { podman run --rm --network=host -e DATABASE_URL="$DATABASE_URL" -e YUBIVAL_LOG_LEVEL=warn \
  -v "$RUN/etc/keys.json:/etc/yubival/keys.json:ro" "$@"; }
if tool -v "$RUN/aeads:/var/lib/yubival/aeads" -v "$RUN/import.csv:/in/import.csv:ro" \
     "$IMG" node bin/yubival keys import /in/import.csv >"$W/import.log" 2>&1; then ok "keys import in the image wrote an AEAD for $PUB"
else bad "keys import (see $W/import.log)"; cat "$W/import.log"; fi
CLIENT=$(tool "$IMG" node bin/yubival clients gen 2>"$W/clients.log" | tail -1)
[[ "$CLIENT" =~ ^[0-9]+,[A-Za-z0-9+/]{27}=$ ]] && ok "clients gen in the image: client ${CLIENT%%,*}" || bad "clients gen: $CLIENT $(cat "$W/clients.log")"

# --- 5. run it ---------------------------------------------------------------------------------------
t podman run -d --name "$NAME" --network=host \
  -e DATABASE_URL="$DATABASE_URL" -e YUBIVAL_HOST=127.0.0.1 -e YUBIVAL_PORT="$PORT" -e YUBIVAL_ADMIN_PORT="$APORT" \
  -v "$RUN/etc/keys.json:/etc/yubival/keys.json:ro" -v "$RUN/aeads:/var/lib/yubival/aeads:ro" \
  "$IMG" >/dev/null 2>"$W/run.err" || { bad "podman run: $(cat "$W/run.err")"; finish; exit 1; }
ready=""; for _ in $(seq 1 150); do ready=$(curl -fsS "http://127.0.0.1:$PORT/readyz" 2>/dev/null) && break; sleep 0.2; done
[ -n "$ready" ] && ok "/readyz 200: $ready" || { bad "/readyz not 200"; podman logs "$NAME" 2>&1 | tail -20; }
uid=$(podman exec "$NAME" id -u)
[ -n "$uid" ] && [ "$uid" != 0 ] && ok "runs as uid $uid, not root" || bad "runs as uid '$uid'"
[ "$(podman top "$NAME" pid comm | awk 'NR==2{print $1, $2}')" = "1 node" ] && ok "node is PID 1" || bad "node is not PID 1: $(podman top "$NAME" pid comm | tr '\n' ' ')"
! podman exec "$NAME" sh -c 'touch /var/lib/yubival/aeads/x || touch /etc/yubival/keys.json' 2>/dev/null \
  && ok "keyfile and AEAD tree are read-only in the container" || bad "a read-only mount is writable"

# A real signed verify: OTP from python3-yubiotp, request and response signatures checked independently.
OTP=$(/usr/bin/python3 -c '
import sys, random
from binascii import unhexlify as u
from yubiotp.otp import OTP, encode_otp
pub, aes, uid = sys.argv[1:]
print(encode_otp(OTP(u(uid), 1, random.randrange(1 << 24), 0, random.randrange(1 << 16)), u(aes), pub.encode()).decode())
' "$PUB" "$AES" "$UID6")
verify() {
  /usr/bin/python3 -c '
import sys, hmac, hashlib, base64, os, urllib.request, urllib.parse
port, client, otp = sys.argv[1:]
cid, key = client.split(",")
key = base64.b64decode(key)
sign = lambda p: base64.b64encode(hmac.new(key, "&".join(f"{k}={p[k]}" for k in sorted(p)).encode(), hashlib.sha1).digest()).decode()
params = {"id": cid, "otp": otp, "nonce": os.urandom(16).hex()}
params["h"] = sign(params)
body = urllib.request.urlopen(f"http://127.0.0.1:{port}/wsapi/2.0/verify?" + urllib.parse.urlencode(params)).read().decode()
fields = dict(line.split("=", 1) for line in body.split("\r\n") if line)
h = fields.pop("h", "")
print(fields.get("status", "?") + ("" if hmac.compare_digest(h, sign(fields)) else " (bad response signature)"))
' "$PORT" "$CLIENT" "$OTP"
}
first=$(verify 2>&1 || true); [ "$first" = OK ] && ok "signed verify: OK" || bad "signed verify: $first"
again=$(verify 2>&1 || true); [ "$again" = REPLAYED_OTP ] && ok "its replay: REPLAYED_OTP" || bad "replay: $again"
t podman healthcheck run "$NAME" >/dev/null 2>&1 && ok "HEALTHCHECK passes" || bad "HEALTHCHECK fails"
! podman logs "$NAME" 2>&1 | grep -q "$OTP" && ok "no OTP in the container log" || bad "the OTP is in the log"
s=$(date +%s%N); podman stop -t 10 "$NAME" >/dev/null 2>&1; ms=$(( ($(date +%s%N) - s) / 1000000 ))
code=$(podman inspect -f '{{.State.ExitCode}}' "$NAME")
[ "$ms" -lt 5000 ] && [ "$code" = 0 ] && ok "SIGTERM stops it in ${ms} ms, exit 0" || bad "stop took ${ms} ms, exit $code"
podman logs "$NAME" 2>&1 | grep -q '"msg":"shut down cleanly"' && ok "it logged a clean shutdown" || bad "no clean shutdown in the log"

finish
