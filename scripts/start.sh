#!/usr/bin/env bash
# Installs everything (pinned Node 22, npm workspaces), builds the web app and starts the
# whole system on its embedded defaults: a local AT Protocol network (PLC + PDS) with demo
# accounts, the resolver, the keyserver and the web app. Ctrl-C stops it all.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$HEARTH_ROOT"
npm run build --silent -w apps/web
exec node scripts/start.ts "$@"
