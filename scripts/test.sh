#!/usr/bin/env bash
# The README's test command and what CI runs (.ci/run): installs the
# dependencies (scripts/deps.sh), runs go vet, then every test with gotestsum.
# Tests start the real services they need themselves (internal/testsvc finds
# the binaries deps.sh installed); one of them runs scripts/up.sh on free
# ports. Exits non-zero if vet or any test fails; gotestsum's summary line
# ("DONE N tests …") is the last thing printed.
#
# Extra arguments go to `go test` in place of the package list, e.g.
#   scripts/test.sh ./internal/testsvc/...
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"
T_START=$(now_ms)

"$REPO_ROOT/scripts/deps.sh"

# The tests look binaries up through TEXTKIT_CACHE and PATH; putting the
# cache first makes them run exactly the versions deps.sh pinned.
export TEXTKIT_CACHE="$CACHE_DIR"
export PATH="$CACHE_DIR/bin:$CACHE_DIR/prism/node_modules/.bin:$PATH"
# No prompts, no colour codes in CI logs.
export GIT_TERMINAL_PROMPT=0 NO_COLOR=1

pkgs=("$@")
((${#pkgs[@]})) || pkgs=(./...)

status=0
echo "test: go vet ${pkgs[*]}"
if ! go vet "${pkgs[@]}"; then
	echo "test: go vet failed (the tests run anyway)"
	status=1
fi

echo "test: gotestsum (deps and vet took $(elapsed "$T_START"))"
gotestsum --format testname -- -count=1 -timeout 30m "${pkgs[@]}" || status=$?
exit "$status"
