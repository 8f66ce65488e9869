#!/usr/bin/env bash
# Quick start: install everything (scripts/setup.sh), then run the main job on built-in sample layers.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
node dist/lib/cli/main.js demo "${1:-/tmp/layerfs-demo}"
