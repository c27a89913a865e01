#!/usr/bin/env bash
# Installs or builds the third-party programs the stack and the tests run,
# idempotently: a tool already present at the pinned version is left alone.
#
#   bin/nats-server  built from github.com/nats-io/nats-server/v2 at the
#                    version the main go.mod requires
#   bin/vault        `vault` from PATH if there is one, else built from the
#                    tools/vault module (the first build takes ~5 minutes)
#   bin/gotestsum    built from the tools/gotestsum module
#   bin/golangci-lint
#                    built from the tools/golangci-lint module (the first
#                    build takes a few minutes)
#   prism            @stoplight/prism-cli, installed with npm (through
#                    scripts/deps-prism.sh and tools/prism's lockfile)
#   redis-server     Debian's redis-server package (apt-get), when missing
#   chromium         Debian's chromium package (apt-get), when missing: the
#                    headless browser the GraphQL IDE's test drives
#
# bin/ and prism/ live in $TEXTKIT_CACHE (default ~/.cache/textkit), outside
# git. Prints one line per tool. Needs only Go and Node.js (and apt-get for
# Redis, curl and chromium).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

PRISM_VERSION=5.14.2

mkdir -p "$CACHE_DIR/bin"
command -v go >/dev/null || die "go is not on PATH (Go 1.26 is required)"

# go_dep_version BIN MODULE prints the version of MODULE that the Go binary
# BIN was built from (empty if BIN is missing or not built from it).
go_dep_version() {
	[[ -x "$1" ]] || return 0
	go version -m "$1" 2>/dev/null | awk -v m="$2" '($1 == "mod" || $1 == "dep") && $2 == m { print $3; exit }'
}

# module_version DIR MODULE prints the version of MODULE required by DIR/go.mod.
module_version() {
	awk -v m="$2" '$1 == m { print $2; exit } $1 == "require" && $2 == m { print $3; exit }' "$1/go.mod"
}

report() { printf 'deps: %-13s %-9s %-10s %s\n' "$1" "$2" "$3" "$4"; }

# --- nats-server -------------------------------------------------------------
nats_module=github.com/nats-io/nats-server/v2
want="$(module_version . "$nats_module")"
[[ -n "$want" ]] || die "go.mod does not require $nats_module"
bin="$CACHE_DIR/bin/nats-server"
t0=$(now_ms)
if [[ "$(go_dep_version "$bin" "$nats_module")" == "$want" ]]; then
	report nats-server "$want" found "$(elapsed "$t0")"
else
	go build -o "$bin.tmp" "$nats_module"
	mv -f "$bin.tmp" "$bin"
	report nats-server "$want" built "$(elapsed "$t0")"
fi

# --- vault -------------------------------------------------------------------
vault_module=github.com/hashicorp/vault
want="$(module_version tools/vault "$vault_module")"
[[ -n "$want" ]] || die "tools/vault/go.mod does not require $vault_module"
bin="$CACHE_DIR/bin/vault"
t0=$(now_ms)
if [[ -z "${TEXTKIT_VAULT_BIN:-}" ]] && p="$(command -v vault)"; then
	report vault "$("$p" version 2>/dev/null | awk '{print $2; exit}')" found "$(elapsed "$t0") ($p)"
elif [[ -n "${TEXTKIT_VAULT_BIN:-}" ]]; then
	[[ -x "$TEXTKIT_VAULT_BIN" ]] || die "TEXTKIT_VAULT_BIN=$TEXTKIT_VAULT_BIN is not executable"
	report vault "-" found "$(elapsed "$t0") (\$TEXTKIT_VAULT_BIN)"
elif [[ "$(go_dep_version "$bin" "$vault_module")" == "$want" ]]; then
	report vault "$want" found "$(elapsed "$t0")"
else
	log "deps: building vault $want from tools/vault (the first time takes ~5 min and ~4.5 GB of module cache)"
	# tools/vault is its own module; its go.sum is committed. If it ever falls
	# behind go.mod, tidy it (only that module) and retry.
	if ! (cd tools/vault && go build -o "$bin.tmp" .); then
		log "deps: vault build failed; running go mod tidy -e in tools/vault and retrying"
		(cd tools/vault && go mod tidy -e && go build -o "$bin.tmp" .)
	fi
	mv -f "$bin.tmp" "$bin"
	report vault "$want" built "$(elapsed "$t0")"
fi

# --- gotestsum ---------------------------------------------------------------
gts_module=gotest.tools/gotestsum
want="$(module_version tools/gotestsum "$gts_module")"
[[ -n "$want" ]] || die "tools/gotestsum/go.mod does not require $gts_module"
bin="$CACHE_DIR/bin/gotestsum"
t0=$(now_ms)
if [[ "$(go_dep_version "$bin" "$gts_module")" == "$want" ]]; then
	report gotestsum "$want" found "$(elapsed "$t0")"
else
	(cd tools/gotestsum && go build -o "$bin.tmp" "$gts_module")
	mv -f "$bin.tmp" "$bin"
	report gotestsum "$want" built "$(elapsed "$t0")"
fi

# --- golangci-lint -----------------------------------------------------------
gcl_module=github.com/golangci/golangci-lint/v2
want="$(module_version tools/golangci-lint "$gcl_module")"
[[ -n "$want" ]] || die "tools/golangci-lint/go.mod does not require $gcl_module"
bin="$CACHE_DIR/bin/golangci-lint"
t0=$(now_ms)
if [[ "$(go_dep_version "$bin" "$gcl_module")" == "$want" ]]; then
	report golangci-lint "$want" found "$(elapsed "$t0")"
else
	log "deps: building golangci-lint $want from tools/golangci-lint (the first time takes a few minutes)"
	(cd tools/golangci-lint && go build -o "$bin.tmp" "$gcl_module/cmd/golangci-lint")
	mv -f "$bin.tmp" "$bin"
	report golangci-lint "$want" built "$(elapsed "$t0")"
fi

# --- prism -------------------------------------------------------------------
# scripts/deps-prism.sh installs the exact tree of tools/prism's lockfile
# (npm ci); without it, plain npm install of the pinned version.
prism_dir="$CACHE_DIR/prism"
prism_pkg="$prism_dir/node_modules/@stoplight/prism-cli/package.json"
t0=$(now_ms)
prism_version() {
	[[ -f "$prism_pkg" && -x "$prism_dir/node_modules/.bin/prism" ]] || return 0
	node -p 'require(process.argv[1]).version' "$prism_pkg" 2>/dev/null || true
}
before="$(prism_version) $(cat "$prism_dir/.installed" 2>/dev/null || true)"
if [[ -x scripts/deps-prism.sh ]]; then
	scripts/deps-prism.sh
elif [[ "${before%% *}" != "$PRISM_VERSION" ]]; then
	command -v npm >/dev/null || die "npm is not on PATH (Node.js 20 is required for prism)"
	mkdir -p "$prism_dir"
	npm install --prefix "$prism_dir" --no-audit --no-fund --loglevel=error \
		"@stoplight/prism-cli@$PRISM_VERSION" >/dev/null
fi
after="$(prism_version) $(cat "$prism_dir/.installed" 2>/dev/null || true)"
[[ "${after%% *}" != "" ]] || die "prism is not installed in $prism_dir"
if [[ "$before" == "$after" ]]; then
	report prism "${after%% *}" found "$(elapsed "$t0")"
else
	report prism "${after%% *}" installed "$(elapsed "$t0")"
fi

# --- redis-server, chromium (and curl, which up.sh uses) ----------------------
t0=$(now_ms)
missing=()
if [[ -z "${TEXTKIT_REDIS_SERVER_BIN:-}" ]] && ! command -v redis-server >/dev/null; then
	missing+=(redis-server)
fi
command -v curl >/dev/null || missing+=(curl)
if [[ -z "${TEXTKIT_CHROMIUM_BIN:-}" ]] && ! command -v chromium >/dev/null; then
	missing+=(chromium)
fi
if ((${#missing[@]})); then
	command -v apt-get >/dev/null || die "${missing[*]} missing and apt-get is not available: install ${missing[*]} yourself"
	sudo=()
	if [[ "$(id -u)" != 0 ]]; then
		command -v sudo >/dev/null || die "${missing[*]} missing: run as root or install sudo"
		sudo=(sudo)
	fi
	log "deps: apt-get install ${missing[*]}"
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	# Debian starts the packaged redis on 6379 where it can; we run our own
	# on 6399 and leave that one alone.
	report redis-server "$(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p')" installed "$(elapsed "$t0")"
else
	rs="$(find_bin redis-server)"
	report redis-server "$("$rs" --version | sed -n 's/.*v=\([^ ]*\).*/\1/p')" found "$(elapsed "$t0")"
fi
chromium_bin="${TEXTKIT_CHROMIUM_BIN:-$(command -v chromium)}"
how=found
[[ " ${missing[*]} " == *" chromium "* ]] && how=installed
report chromium "$("$chromium_bin" --version 2>/dev/null | sed -n 's/^Chromium \([^ ]*\).*/\1/p')" "$how" "$(elapsed "$t0")"
