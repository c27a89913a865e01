#!/usr/bin/env bash
# Starts the whole TextKit Customers stack on loopback and returns, leaving it
# running in the background:
#
#   1. scripts/deps.sh (installs/builds NATS, Vault, Redis, … once)
#   2. scripts/secrets.sh (passwords and tokens, generated once)
#   3. NATS (JetStream), Redis (AOF), Vault (raft storage; initialised once,
#      unsealed on every start by deploy/vault/vault.sh): kept running if
#      they already are; their data is on disk and survives down.sh
#   4. builds our binaries into $DATA/bin, runs `textkit vault-init` and
#      `textkit seed`, (re)starts twilio-emulator, provisioner, retention and
#      gateway, and waits until every /readyz answers
#   5. prints the GraphQL URL, the dev API key and a curl to try
#
# Data, logs and pid files live in $TEXTKIT_DATA_DIR (default .data/). Ports
# come from TEXTKIT_*_PORT (see scripts/lib.sh and the README). Stop it all
# with scripts/down.sh.
#
# TEXTKIT_VAULT_DEV=1 runs Vault in dev mode instead: in memory, so every
# transit key is lost when it stops (development of the scripts only).
#
# TEXTKIT_SKIP_DEPS=1 skips step 1 (binaries then come from
# $TEXTKIT_<NAME>_BIN, the cache or PATH). TEXTKIT_SKIP_MISSING_BINARIES=1 is
# for development only: a cmd/<name> without a main package (or that does not
# build) is skipped with a warning instead of failing.
#
# `scripts/up.sh --cluster` (or TEXTKIT_CLUSTER=1) starts the clustered stack
# instead: scripts/cluster.sh, docs/scaling.md.
set -euo pipefail
case "${1:-}" in
--cluster) exec "$(dirname "${BASH_SOURCE[0]}")/cluster.sh" "${@:2}" ;;
"") ;;
*) printf 'error: unknown argument %s (usage: scripts/up.sh [--cluster])\n' "$1" >&2 && exit 2 ;;
esac
if [[ "${TEXTKIT_CLUSTER:-0}" == 1 ]]; then
	exec "$(dirname "${BASH_SOURCE[0]}")/cluster.sh" "$@"
fi
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"
T_START=$(now_ms)

SKIP_MISSING="${TEXTKIT_SKIP_MISSING_BINARIES:-0}"
VAULT_DEV="${TEXTKIT_VAULT_DEV:-0}"
[[ "$VAULT_DEV" == 0 || "$VAULT_DEV" == 1 ]] || die "TEXTKIT_VAULT_DEV=$VAULT_DEV: want 0 (persistent Vault) or 1 (dev mode, in memory)"
OUR_BINARIES=(textkit twilio-emulator provisioner retention gateway)
declare TEXTKIT_API_KEY="" TEXTKIT_OPERATOR_KEY=""

if [[ "${TEXTKIT_SKIP_DEPS:-0}" != 1 ]]; then
	"$REPO_ROOT/scripts/deps.sh"
fi
NATS_BIN="$(find_bin nats-server)"
REDIS_BIN="$(find_bin redis-server)"
VAULT_BIN="$(find_bin vault)"
command -v curl >/dev/null || die "curl is not on PATH (scripts/deps.sh installs it)"

mkdir -p "$DATA_DIR"
exec 9>"$DATA_DIR/.lock"
flock -n 9 || die "another scripts/up.sh or down.sh is running on $DATA_DIR"

"$REPO_ROOT/scripts/secrets.sh"
# Not exported: each process below gets only the secrets it needs.
# shellcheck source=/dev/null
. "$DATA_DIR/secrets.env"

mkdir -p "$DATA_DIR"/{logs,pids,nats,redis,vault,twilio,bin}
LOGS="$DATA_DIR/logs"
BIN="$DATA_DIR/bin"

# The helpers below (start_bg, wait_for, ensure_dep, one_shot, …) are shared
# with the clustered stack (scripts/cluster.sh).
# shellcheck source=scripts/lib-up.sh
source "$REPO_ROOT/scripts/lib-up.sh"

# ---- dependencies ------------------------------------------------------------
log "up: dependencies (data in $(rel "$DATA_DIR"))"
T_DEPS=$(now_ms)

if ! pid_alive nats >/dev/null; then
	require_free_port nats "$TEXTKIT_NATS_PORT" TEXTKIT_NATS_PORT
	require_free_port nats "$TEXTKIT_NATS_MONITOR_PORT" TEXTKIT_NATS_MONITOR_PORT
fi
SVC_ENV=(
	TEXTKIT_NATS_LISTEN="127.0.0.1:$TEXTKIT_NATS_PORT"
	TEXTKIT_NATS_MONITOR_LISTEN="127.0.0.1:$TEXTKIT_NATS_MONITOR_PORT"
	TEXTKIT_NATS_STORE_DIR="$DATA_DIR/nats"
	TEXTKIT_NATS_GATEWAY_PASSWORD="$TEXTKIT_NATS_GATEWAY_PASSWORD"
	TEXTKIT_NATS_PROVISIONER_PASSWORD="$TEXTKIT_NATS_PROVISIONER_PASSWORD"
	TEXTKIT_NATS_RETENTION_PASSWORD="$TEXTKIT_NATS_RETENTION_PASSWORD"
	TEXTKIT_NATS_PARTNER_PASSWORD="$TEXTKIT_NATS_PARTNER_PASSWORD"
	TEXTKIT_NATS_PARTNER2_PASSWORD="$TEXTKIT_NATS_PARTNER2_PASSWORD"
	TEXTKIT_NATS_SYS_PASSWORD="$TEXTKIT_NATS_SYS_PASSWORD"
)
ensure_dep nats "$NATS_BIN" -c "$REPO_ROOT/deploy/nats/nats.conf"

if ! pid_alive redis >/dev/null; then
	require_free_port redis "$TEXTKIT_REDIS_PORT" TEXTKIT_REDIS_PORT
fi
# The password goes in a 0600 file rather than on the command line, where
# every local user could read it in ps.
(umask 077 && printf 'requirepass "%s"\n' "$TEXTKIT_REDIS_PASSWORD" >"$DATA_DIR/redis/secret.conf")
SVC_ENV=()
ensure_dep redis "$REDIS_BIN" "$REPO_ROOT/deploy/redis/redis.conf" \
	--port "$TEXTKIT_REDIS_PORT" --dir "$DATA_DIR/redis" --include "$DATA_DIR/redis/secret.conf"

VAULT_URL="http://127.0.0.1:$TEXTKIT_VAULT_PORT"
if ! pid_alive vault >/dev/null; then
	require_free_port vault "$TEXTKIT_VAULT_PORT" TEXTKIT_VAULT_PORT
	if [[ "$VAULT_DEV" != 1 ]]; then
		require_free_port vault "$TEXTKIT_VAULT_CLUSTER_PORT" TEXTKIT_VAULT_CLUSTER_PORT
	fi
fi
# vault_sh ARGS... runs deploy/vault/vault.sh with only what it needs: the
# root token through the environment (not argv), and HOME inside the data
# directory so the vault CLI never touches a ~/.vault-token.
vault_sh() {
	env -i PATH="$PATH" HOME="$DATA_DIR/vault" VAULT_ADDR="$VAULT_URL" \
		TEXTKIT_VAULT_BIN="$VAULT_BIN" TEXTKIT_WAIT_SECONDS="$TEXTKIT_WAIT_SECONDS" \
		TEXTKIT_VAULT_ROOT_TOKEN="$TEXTKIT_VAULT_ROOT_TOKEN" \
		sh "$REPO_ROOT/deploy/vault/vault.sh" "$@"
}
# HOME keeps any ~/.vault-token out of the real home.
SVC_ENV=(HOME="$DATA_DIR/vault")
if [[ "$VAULT_DEV" == 1 ]]; then
	# Dev mode: in memory, unsealed, root token from secrets.env (through
	# the environment, not argv). Its transit keys live only in its memory.
	SVC_ENV+=(
		VAULT_DEV_ROOT_TOKEN_ID="$TEXTKIT_VAULT_ROOT_TOKEN"
		VAULT_DISABLE_MLOCK=true
	)
	ensure_dep vault "$VAULT_BIN" server -dev -dev-no-store-token \
		-dev-listen-address="127.0.0.1:$TEXTKIT_VAULT_PORT"
else
	# Integrated storage (raft) in $DATA_DIR/vault/raft, config rendered from
	# deploy/vault/vault.hcl. It starts sealed; vault.sh unseals it below.
	mkdir -p "$DATA_DIR/vault/raft"
	TEXTKIT_VAULT_STORAGE_DIR="$DATA_DIR/vault/raft" \
		TEXTKIT_VAULT_LISTEN="127.0.0.1:$TEXTKIT_VAULT_PORT" \
		TEXTKIT_VAULT_CLUSTER_LISTEN="127.0.0.1:$TEXTKIT_VAULT_CLUSTER_PORT" \
		TEXTKIT_VAULT_API_ADDR="$VAULT_URL" \
		TEXTKIT_VAULT_CLUSTER_ADDR="https://127.0.0.1:$TEXTKIT_VAULT_CLUSTER_PORT" \
		sh "$REPO_ROOT/deploy/vault/vault.sh" config "$REPO_ROOT/deploy/vault/vault.hcl" "$DATA_DIR/vault/vault.hcl" ||
		die "could not render deploy/vault/vault.hcl"
	ensure_dep vault "$VAULT_BIN" server -config "$DATA_DIR/vault/vault.hcl"
fi

# ---- our binaries (built while the dependencies start) -------------------------

T_BUILD=$(now_ms)
declare -A BUILT=()
pkgs=()
for b in "${OUR_BINARIES[@]}"; do
	if has_main "cmd/$b"; then
		pkgs+=("./cmd/$b")
	elif [[ "$SKIP_MISSING" == 1 ]]; then
		log "  WARNING: cmd/$b has no main package yet: skipped (TEXTKIT_SKIP_MISSING_BINARIES=1)"
	else
		die "cmd/$b has no main package; the stack needs ${OUR_BINARIES[*]}"
	fi
done
: >"$LOGS/build.log"
if [[ "$SKIP_MISSING" == 1 ]]; then
	for p in "${pkgs[@]}"; do
		printf '=== go build %s\n' "$p" >>"$LOGS/build.log"
		if go build -o "$BIN/" "$p" 2>>"$LOGS/build.log"; then
			BUILT[${p##*/}]=1
		else
			log "  WARNING: ${p#./} does not build: skipped (TEXTKIT_SKIP_MISSING_BINARIES=1); see $(rel "$LOGS/build.log")"
		fi
	done
elif ((${#pkgs[@]})); then
	go build -o "$BIN/" "${pkgs[@]}" 2>>"$LOGS/build.log" || fail build "go build ${pkgs[*]} failed"
	for p in "${pkgs[@]}"; do BUILT[${p##*/}]=1; done
fi
log "up: built ${!BUILT[*]} into $(rel "$BIN") in $(elapsed "$T_BUILD")"
built() { [[ -n "${BUILT[$1]:-}" ]]; }

# ---- wait for the dependencies -------------------------------------------------
wait_for nats http_ok "http://127.0.0.1:$TEXTKIT_NATS_MONITOR_PORT/healthz?js-enabled-only=true"
wait_for redis redis_ping "$TEXTKIT_REDIS_PORT" "$TEXTKIT_REDIS_PASSWORD"
if [[ "$VAULT_DEV" != 1 ]]; then
	# Any answer will do (sys/health is an error while sealed); then
	# initialise it the first time, unseal it, and make sure the root token
	# of secrets.env works. The unseal key goes into secrets.env.
	vault_answers() { curl -sS -o /dev/null --max-time 2 "$VAULT_URL/v1/sys/seal-status"; }
	wait_for vault vault_answers
	t0=$(now_ms)
	printf '=== %s up.sh: vault.sh unseal\n' "$(date -Is)" >>"$LOGS/vault-unseal.log"
	vault_sh unseal "$DATA_DIR/secrets.env" >>"$LOGS/vault-unseal.log" 2>&1 </dev/null ||
		fail vault-unseal "could not initialise or unseal Vault"
	log "  vault unsealed, root token checked in $(elapsed "$t0")"
fi
wait_for vault http_ok "$VAULT_URL/v1/sys/health"
log "up: dependencies healthy in $(elapsed "$T_DEPS")"

# ---- stop our old services -------------------------------------------------------
for ((i = ${#OUR_SERVICES[@]} - 1; i >= 0; i--)); do
	stop_service "${OUR_SERVICES[i]}"
done

# ---- vault-init and seed ---------------------------------------------------------
# Set by vault.env below (the tokens vault-init issued).
declare TEXTKIT_VAULT_TOKEN_GATEWAY="" TEXTKIT_VAULT_TOKEN_PROVISIONER="" TEXTKIT_VAULT_TOKEN_RETENTION=""
if built textkit; then
	# Re-run every time: transit and the policies are left as they are
	# (and made again if a dev-mode Vault forgot them), and our services,
	# stopped above, get fresh tokens. The previous ones are revoked so a
	# persistent Vault does not collect them.
	if [[ "$VAULT_DEV" != 1 && -s "$DATA_DIR/vault.env" ]]; then
		vault_sh revoke "$DATA_DIR/vault.env" 2>>"$LOGS/vault-init.log" </dev/null ||
			log "  WARNING: could not revoke the previous service tokens; see $(rel "$LOGS/vault-init.log")"
	fi
	rm -f "$DATA_DIR/vault.env"
	# The root token goes through the environment, not argv (ps shows argv).
	SVC_ENV=(
		TEXTKIT_VAULT_ROOT_TOKEN="$TEXTKIT_VAULT_ROOT_TOKEN"
		TEXTKIT_LOG_LEVEL="${TEXTKIT_LOG_LEVEL:-info}"
	)
	one_shot vault-init vault-init -addr "$VAULT_URL" -env-out "$DATA_DIR/vault.env"
	[[ -s "$DATA_DIR/vault.env" ]] || fail vault-init "textkit vault-init wrote no $(rel "$DATA_DIR/vault.env")"
	chmod 0600 "$DATA_DIR/vault.env"
	# shellcheck source=/dev/null
	. "$DATA_DIR/vault.env"

	if [[ -f deploy/seed.json ]]; then
		SVC_ENV=(
			TEXTKIT_REDIS_ADDR="127.0.0.1:$TEXTKIT_REDIS_PORT"
			TEXTKIT_REDIS_PASSWORD="$TEXTKIT_REDIS_PASSWORD"
			TEXTKIT_LOG_LEVEL="${TEXTKIT_LOG_LEVEL:-info}"
		)
		one_shot seed seed -file "$REPO_ROOT/deploy/seed.json"
		# API keys, made once and kept beside the data they live in: a
		# partner key for the docs' example partner, one for the seed's
		# second partner, and an operator key.
		make_key "$DATA_DIR/api-key" -role partner -partner "$DOCS_PARTNER_ID" -name dev-partner
		make_key "$DATA_DIR/api-key-2" -role partner -partner "$SECOND_PARTNER_ID" -name dev-partner-2
		make_key "$DATA_DIR/operator-key" -role operator -name dev-operator
		TEXTKIT_API_KEY=$(<"$DATA_DIR/api-key")
		TEXTKIT_OPERATOR_KEY=$(<"$DATA_DIR/operator-key")
	elif [[ "$SKIP_MISSING" == 1 ]]; then
		log "  WARNING: deploy/seed.json does not exist yet: seed skipped"
	else
		die "deploy/seed.json is missing"
	fi
else
	log "  WARNING: no textkit binary: vault-init and seed skipped"
fi

# ---- our services ------------------------------------------------------------------
COMMON=(
	TEXTKIT_NATS_URL="nats://127.0.0.1:$TEXTKIT_NATS_PORT"
	TEXTKIT_REDIS_ADDR="127.0.0.1:$TEXTKIT_REDIS_PORT"
	TEXTKIT_REDIS_PASSWORD="$TEXTKIT_REDIS_PASSWORD"
	TEXTKIT_VAULT_ADDR="$VAULT_URL"
	TEXTKIT_LOG_LEVEL="${TEXTKIT_LOG_LEVEL:-info}"
)
TWILIO_URL="http://127.0.0.1:$TEXTKIT_TWILIO_EMULATOR_PORT"
T_SVC=$(now_ms)
started=()

# start_ours NAME ARGS... starts our binary NAME with SVC_ENV, or skips it.
start_ours() {
	local name="$1" port_var="$2"
	if ! built "$name"; then
		log "  WARNING: $name not built: not started"
		return
	fi
	if [[ "$name" != twilio-emulator ]] && ! built textkit; then
		# Only with TEXTKIT_SKIP_MISSING_BINARIES=1 (else textkit is required).
		log "  WARNING: $name not started: it needs a Vault token, and textkit vault-init was skipped"
		return
	fi
	require_free_port "$name" "${!port_var}" "$port_var"
	start_bg "$name" "$BIN/$name"
	started+=("$name")
	log "  $name started (pid $(<"$DATA_DIR/pids/$name.pid"))"
}

log "up: our services"
SVC_ENV=(
	TEXTKIT_TWILIO_EMULATOR_ADDR="127.0.0.1:$TEXTKIT_TWILIO_EMULATOR_PORT"
	TEXTKIT_TWILIO_EMULATOR_STATE="$DATA_DIR/twilio/state.json"
	TEXTKIT_TWILIO_ACCOUNT_SID="$TEXTKIT_TWILIO_ACCOUNT_SID"
	TEXTKIT_TWILIO_AUTH_TOKEN="$TEXTKIT_TWILIO_AUTH_TOKEN"
	TEXTKIT_LOG_LEVEL="${TEXTKIT_LOG_LEVEL:-info}"
)
start_ours twilio-emulator TEXTKIT_TWILIO_EMULATOR_PORT
if built twilio-emulator; then
	wait_for twilio-emulator port_busy "$TEXTKIT_TWILIO_EMULATOR_PORT"
fi

SVC_ENV=("${COMMON[@]}"
	TEXTKIT_HTTP_ADDR="127.0.0.1:$TEXTKIT_PROVISIONER_PORT"
	TEXTKIT_NATS_USER=provisioner
	TEXTKIT_NATS_PASSWORD="$TEXTKIT_NATS_PROVISIONER_PASSWORD"
	TEXTKIT_VAULT_TOKEN="$TEXTKIT_VAULT_TOKEN_PROVISIONER"
	TEXTKIT_TWILIO_API_URL="$TWILIO_URL"
	TEXTKIT_TWILIO_ACCOUNT_SID="$TEXTKIT_TWILIO_ACCOUNT_SID"
	TEXTKIT_TWILIO_AUTH_TOKEN="$TEXTKIT_TWILIO_AUTH_TOKEN"
)
start_ours provisioner TEXTKIT_PROVISIONER_PORT

SVC_ENV=("${COMMON[@]}"
	TEXTKIT_HTTP_ADDR="127.0.0.1:$TEXTKIT_RETENTION_PORT"
	TEXTKIT_NATS_USER=retention
	TEXTKIT_NATS_PASSWORD="$TEXTKIT_NATS_RETENTION_PASSWORD"
	TEXTKIT_VAULT_TOKEN="$TEXTKIT_VAULT_TOKEN_RETENTION"
)
start_ours retention TEXTKIT_RETENTION_PORT

SVC_ENV=("${COMMON[@]}"
	TEXTKIT_HTTP_ADDR="127.0.0.1:$TEXTKIT_GATEWAY_PORT"
	TEXTKIT_OPS_ADDR="127.0.0.1:$TEXTKIT_GATEWAY_OPS_PORT"
	TEXTKIT_NATS_USER=gateway
	TEXTKIT_NATS_PASSWORD="$TEXTKIT_NATS_GATEWAY_PASSWORD"
	TEXTKIT_VAULT_TOKEN="$TEXTKIT_VAULT_TOKEN_GATEWAY"
	TEXTKIT_MUTATION_TIMEOUT="${TEXTKIT_MUTATION_TIMEOUT:-10s}"
	TEXTKIT_DEV=true
)
if built gateway; then
	require_free_port gateway-ops "$TEXTKIT_GATEWAY_OPS_PORT" TEXTKIT_GATEWAY_OPS_PORT
fi
start_ours gateway TEXTKIT_GATEWAY_PORT

for name in "${started[@]}"; do
	case "$name" in
	provisioner) wait_for provisioner http_ok "http://127.0.0.1:$TEXTKIT_PROVISIONER_PORT/readyz" ;;
	retention) wait_for retention http_ok "http://127.0.0.1:$TEXTKIT_RETENTION_PORT/readyz" ;;
	gateway) wait_for gateway http_ok "http://127.0.0.1:$TEXTKIT_GATEWAY_OPS_PORT/readyz" ;;
	esac
done
log "up: services ready in $(elapsed "$T_SVC"); total $(elapsed "$T_START")"

# ---- the docs' example customer ------------------------------------------------------
GRAPHQL_URL="http://127.0.0.1:$TEXTKIT_GATEWAY_PORT/graphql"
if [[ " ${started[*]} " == *" gateway "* ]]; then
	register_docs_customer "$GRAPHQL_URL" gateway
fi

# ---- what to do next -----------------------------------------------------------
if [[ "$VAULT_DEV" == 1 ]]; then
	VAULT_MODE="dev mode: in memory, keys lost when it stops"
else
	VAULT_MODE="storage in $(rel "$DATA_DIR")/vault"
fi
cat <<EOF

TextKit Customers is up (data, logs and pids in $(rel "$DATA_DIR")/).
  GraphQL:  $GRAPHQL_URL
  IDE:      http://127.0.0.1:$TEXTKIT_GATEWAY_PORT/ide/   (paste the API key; it is also in $(rel "$DATA_DIR")/api-key)
  API key:  $TEXTKIT_API_KEY   (partner $DOCS_PARTNER_ID)
  Ops:      gateway http://127.0.0.1:$TEXTKIT_GATEWAY_OPS_PORT/readyz and /metrics (provisioner :$TEXTKIT_PROVISIONER_PORT, retention :$TEXTKIT_RETENTION_PORT)
  NATS:     nats://127.0.0.1:$TEXTKIT_NATS_PORT   Redis: 127.0.0.1:$TEXTKIT_REDIS_PORT   Vault: $VAULT_URL ($VAULT_MODE)
  Logs:     $(rel "$LOGS")/<service>.log           Stop:  scripts/down.sh

  Operator key: $TEXTKIT_OPERATOR_KEY

Try it (the docs' examples work as written with the API key above):
curl -sS $GRAPHQL_URL -H 'Content-Type: application/json' -H 'Authorization: Bearer $TEXTKIT_API_KEY' -d '{"query":"{ viewer { role partnerId } customers(first: 5) { nodes { id space status version } } }"}'
EOF
if ((${#started[@]} < ${#OUR_SERVICES[@]})); then
	echo
	echo "WARNING: started only [${started[*]}] of [${OUR_SERVICES[*]}] (TEXTKIT_SKIP_MISSING_BINARIES=1)."
fi
