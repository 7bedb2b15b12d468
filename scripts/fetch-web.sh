#!/usr/bin/env bash
# pdf.js (npm's pdfjs-dist, pinned in crates/cairn-server/web/vendor/package-lock.json) for
# the web page's page view. cairn-server's build embeds it when it is there; without it the
# page shows the document view only. Needs npm (Debian: apt-get install npm).
set -euo pipefail
cd "$(dirname "$0")/../crates/cairn-server/web/vendor"
if [ -f node_modules/pdfjs-dist/build/pdf.min.mjs ] && [ -f node_modules/pdfjs-dist/build/pdf.worker.min.mjs ]; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "fetch-web: npm is not installed; the web page will have no page view (apt-get install npm)" >&2
  exit 1
fi
# pdf.js's optional native canvas is for Node; the browser needs none of it.
npm ci --omit=optional --no-audit --no-fund --silent
echo "fetch-web: pdf.js $(node -p 'require("./node_modules/pdfjs-dist/package.json").version' 2>/dev/null || echo installed)"
