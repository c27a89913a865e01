#!/usr/bin/env bash
# Installs Stoplight Prism, at the version tools/prism pins, into the test
# cache, where internal/testenv.LookBinary finds it
# ($TEXTKIT_CACHE/prism/node_modules/.bin/prism). The Twilio contract tests
# (internal/twilio) run it against Twilio's own OpenAPI description.
# Does nothing when that exact version is installed already.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
src="$root/tools/prism"
cache=${TEXTKIT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/textkit}
dest="$cache/prism"

want=$(cat "$src/package.json" "$src/package-lock.json" | sha256sum | cut -d' ' -f1)
if [ -x "$dest/node_modules/.bin/prism" ] && [ "$(cat "$dest/.installed" 2>/dev/null)" = "$want" ]; then
  exit 0
fi

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "deps-prism: Node.js and npm are needed (Node.js 18.20.1 or newer)" >&2
  exit 1
fi
if ! node -e 'const [a,b,c]=process.versions.node.split(".").map(Number); process.exit(a>18||(a==18&&(b>20||(b==20&&c>=1)))?0:1)'; then
  echo "deps-prism: Node.js $(node --version) is too old for Prism 5.14 (18.20.1 or newer)" >&2
  exit 1
fi

echo "deps-prism: installing Prism into $dest" >&2
mkdir -p "$dest"
cp "$src/package.json" "$src/package-lock.json" "$src/.npmrc" "$dest/"
(cd "$dest" && npm ci --no-audit --no-fund --loglevel=error >&2)
echo "$want" >"$dest/.installed"
echo "deps-prism: $("$dest/node_modules/.bin/prism" --version | tail -n 1)" >&2
