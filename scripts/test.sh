#!/usr/bin/env bash
# The README's test command and what CI runs (.ci/run): installs the
# dependencies (scripts/deps.sh), runs go vet and golangci-lint (.golangci.yml),
# each fuzz target for a bounded time, then every test with gotestsum, under
# the race detector. Tests start the real services they need themselves
# (internal/testenv finds the binaries deps.sh installed); one of them runs
# scripts/up.sh on free ports. Exits non-zero if vet, the linter or any test
# fails; gotestsum's summary line ("DONE N tests …") is the last thing printed.
#
# Extra arguments go to `go test` in place of the package list, e.g.
#   scripts/test.sh ./internal/testenv/...
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

echo "test: golangci-lint run ${pkgs[*]}"
if ! golangci-lint run --allow-parallel-runners "${pkgs[@]}"; then
	echo "test: golangci-lint found problems (the tests run anyway)"
	status=1
fi

# Each fuzz target runs for a bounded time (TEXTKIT_FUZZTIME, default 15s);
# its seeds (the docs' examples among them) also run in the normal tests.
# A crash fails the run; go test writes the input to testdata/fuzz/ so it
# becomes a regression test once committed. Skipped when packages are given.
# On a loaded machine the fuzzing engine itself can give up waiting for a
# worker ("context deadline exceeded") without any failing input: that run
# is repeated once; a crasher (a new file in testdata/fuzz/<name>) never is.
fuzz_once() {
	local name=$1 pkg=$2 corpus="$2/testdata/fuzz/$1" before after out
	for attempt in 1 2; do
		before=$(ls "$corpus" 2>/dev/null | wc -l)
		if out=$(go test -run '^$' -fuzz "^$name\$" -fuzztime "${TEXTKIT_FUZZTIME:-15s}" "$pkg" 2>&1); then
			echo "$out"
			return 0
		fi
		echo "$out"
		after=$(ls "$corpus" 2>/dev/null | wc -l)
		if ((after > before)) || ! grep -q 'context deadline exceeded' <<<"$out" || ((attempt == 2)); then
			echo "test: fuzz $name found a failure (see testdata/fuzz in $pkg)"
			return 1
		fi
		echo "test: fuzz $name: the fuzzing engine timed out with no failing input; once more"
	done
}

if (($# == 0)) && [[ "${TEXTKIT_FUZZTIME:-15s}" != 0 ]]; then
	for target in \
		"FuzzGraphQLRequest ./internal/gateway/" \
		"FuzzRewriteAnyAtom ./internal/gateway/" \
		"FuzzDecode ./internal/command/" \
		"FuzzContactInfoNormalize ./internal/customer/"; do
		read -r name pkg <<<"$target"
		echo "test: fuzz $name $pkg for ${TEXTKIT_FUZZTIME:-15s}"
		if ! fuzz_once "$name" "$pkg"; then
			status=1
		fi
	done
fi

echo "test: gotestsum (deps, vet, lint and fuzzing took $(elapsed "$T_START"))"
# The race detector needs cgo and a C compiler (the Go machines have gcc).
race=(-race)
if ! command -v "$(go env CC)" >/dev/null || [[ "$(go env CGO_ENABLED)" != 1 ]]; then
	echo "test: no C compiler for cgo: running without the race detector"
	race=()
fi
gotestsum --format testname -- "${race[@]}" -count=1 -timeout 30m "${pkgs[@]}" || status=$?
exit "$status"
