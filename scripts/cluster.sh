#!/usr/bin/env bash
# Starts the clustered TextKit Customers stack on loopback and returns,
# leaving it running (`scripts/up.sh --cluster` runs this; docs/scaling.md):
#
#   1. scripts/deps.sh, scripts/secrets.sh (its own secrets.env)
#   2. three nats-server nodes (routes, JetStream file storage with sync
#      always; deploy/nats/cluster.conf), a Redis Cluster of six
#      redis-servers (three masters with a replica each, AOF always;
#      deploy/redis/cluster.conf; created once with redis-cli --cluster
#      create), three Vault nodes with raft storage (deploy/vault/cluster.hcl;
#      initialised once, unsealed on every start): kept running if they are
#   3. builds our binaries, runs `textkit vault-init` and `textkit seed`,
#      (re)starts the Twilio emulator, 3 provisioners, 2 retention workers
#      and 2 gateways, every one given the seed lists of NATS, Redis and
#      Vault, and waits until every /readyz answers
#   4. prints both GraphQL URLs and the partner API key
#
# Everything lives in $TEXTKIT_DATA_DIR/cluster (default .data/cluster/);
# ports come from the TEXTKIT_CLUSTER_*_PORTS lists of scripts/lib.sh, none
# shared with the single stack, so both can run at once. Stop it with
# `scripts/down.sh --cluster`. TEXTKIT_SKIP_DEPS=1 skips deps.sh.
# TEXTKIT_CLUSTER_PROVISIONERS=1 or 2 starts only that many provisioners
# (default 3; the throughput runs of docs/scaling.md use it).
set -euo pipefail
export TEXTKIT_CLUSTER=1
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"
T_START=$(now_ms)
[[ $# -eq 0 ]] || die "scripts/up.sh --cluster takes no other argument (got $*)"
PROVISIONERS="${TEXTKIT_CLUSTER_PROVISIONERS:-3}"
[[ "$PROVISIONERS" =~ ^[123]$ ]] || die "TEXTKIT_CLUSTER_PROVISIONERS=$PROVISIONERS: want 1, 2 or 3"

if [[ "${TEXTKIT_SKIP_DEPS:-0}" != 1 ]]; then
	"$REPO_ROOT/scripts/deps.sh"
fi
NATS_BIN="$(find_bin nats-server)"
REDIS_BIN="$(find_bin redis-server)"
REDIS_CLI="$(dirname "$REDIS_BIN")/redis-cli"
[[ -x "$REDIS_CLI" ]] || REDIS_CLI="$(command -v redis-cli)" || die "redis-cli not found (it comes with redis-server)"
VAULT_BIN="$(find_bin vault)"
command -v curl >/dev/null || die "curl is not on PATH (scripts/deps.sh installs it)"

mkdir -p "$DATA_DIR"
exec 9>"$DATA_DIR/.lock"
flock -n 9 || die "another scripts/up.sh --cluster or down.sh --cluster is running on $DATA_DIR"

"$REPO_ROOT/scripts/secrets.sh"
# shellcheck source=/dev/null
. "$DATA_DIR/secrets.env"
mkdir -p "$DATA_DIR"/{logs,pids,twilio,bin}
LOGS="$DATA_DIR/logs"
BIN="$DATA_DIR/bin"
# shellcheck source=scripts/lib-up.sh
source "$REPO_ROOT/scripts/lib-up.sh"
declare TEXTKIT_API_KEY="" TEXTKIT_OPERATOR_KEY=""

mapfile -t NATS_PORTS < <(cluster_ports TEXTKIT_CLUSTER_NATS_PORTS)
mapfile -t NATS_MON_PORTS < <(cluster_ports TEXTKIT_CLUSTER_NATS_MONITOR_PORTS)
mapfile -t NATS_ROUTE_PORTS < <(cluster_ports TEXTKIT_CLUSTER_NATS_ROUTE_PORTS)
mapfile -t REDIS_PORTS < <(cluster_ports TEXTKIT_CLUSTER_REDIS_PORTS)
mapfile -t REDIS_BUS_PORTS < <(cluster_ports TEXTKIT_CLUSTER_REDIS_BUS_PORTS)
mapfile -t VAULT_PORTS < <(cluster_ports TEXTKIT_CLUSTER_VAULT_PORTS)
mapfile -t VAULT_CL_PORTS < <(cluster_ports TEXTKIT_CLUSTER_VAULT_CLUSTER_PORTS)
mapfile -t TWILIO_PORTS < <(cluster_ports TEXTKIT_CLUSTER_TWILIO_EMULATOR_PORTS)
mapfile -t GW_PORTS < <(cluster_ports TEXTKIT_CLUSTER_GATEWAY_PORTS)
mapfile -t GW_OPS_PORTS < <(cluster_ports TEXTKIT_CLUSTER_GATEWAY_OPS_PORTS)
mapfile -t PROV_PORTS < <(cluster_ports TEXTKIT_CLUSTER_PROVISIONER_PORTS)
mapfile -t RET_PORTS < <(cluster_ports TEXTKIT_CLUSTER_RETENTION_PORTS)
# The topology is fixed (docs/scaling.md); the lists only move it.
for want in "NATS_PORTS 3" "NATS_MON_PORTS 3" "NATS_ROUTE_PORTS 3" "REDIS_PORTS 6" "REDIS_BUS_PORTS 6" "VAULT_PORTS 3" \
	"VAULT_CL_PORTS 3" "TWILIO_PORTS 1" "GW_PORTS 2" "GW_OPS_PORTS 2" "PROV_PORTS 3" "RET_PORTS 2"; do
	read -r arr n <<<"$want"
	declare -n ref="$arr"
	((${#ref[@]} == n)) || die "the clustered stack needs $n ports in the list behind $arr, got ${#ref[@]}"
	unset -n ref
done

# join SEP PREFIX SUFFIX PORTS... prints PREFIX<port>SUFFIX for each port,
# separated by SEP.
join() {
	local sep="$1" pre="$2" suf="$3" out="" p
	shift 3
	for p in "$@"; do out+="${out:+$sep}$pre$p$suf"; done
	printf '%s\n' "$out"
}
NATS_URLS="$(join , nats://127.0.0.1: "" "${NATS_PORTS[@]}")"
REDIS_ADDRS="$(join , 127.0.0.1: "" "${REDIS_PORTS[@]}")"
VAULT_URLS="$(join , http://127.0.0.1: "" "${VAULT_PORTS[@]}")"

# ---- NATS: three nodes ------------------------------------------------------------
log "up --cluster: dependencies (data in $(rel "$DATA_DIR"))"
T_DEPS=$(now_ms)
for i in 1 2 3; do
	name="nats-$i"
	if ! pid_alive "$name" >/dev/null; then
		require_free_port "$name" "${NATS_PORTS[i - 1]}" TEXTKIT_CLUSTER_NATS_PORTS
		require_free_port "$name" "${NATS_MON_PORTS[i - 1]}" TEXTKIT_CLUSTER_NATS_MONITOR_PORTS
		require_free_port "$name" "${NATS_ROUTE_PORTS[i - 1]}" TEXTKIT_CLUSTER_NATS_ROUTE_PORTS
	fi
	mkdir -p "$DATA_DIR/$name"
	SVC_ENV=(
		TEXTKIT_NATS_SERVER_NAME="textkit-nats-$i"
		TEXTKIT_NATS_LISTEN="127.0.0.1:${NATS_PORTS[i - 1]}"
		TEXTKIT_NATS_MONITOR_LISTEN="127.0.0.1:${NATS_MON_PORTS[i - 1]}"
		TEXTKIT_NATS_CLUSTER_LISTEN="127.0.0.1:${NATS_ROUTE_PORTS[i - 1]}"
		TEXTKIT_NATS_ROUTE_1="nats-route://127.0.0.1:${NATS_ROUTE_PORTS[0]}"
		TEXTKIT_NATS_ROUTE_2="nats-route://127.0.0.1:${NATS_ROUTE_PORTS[1]}"
		TEXTKIT_NATS_ROUTE_3="nats-route://127.0.0.1:${NATS_ROUTE_PORTS[2]}"
		TEXTKIT_NATS_STORE_DIR="$DATA_DIR/$name"
		TEXTKIT_NATS_GATEWAY_PASSWORD="$TEXTKIT_NATS_GATEWAY_PASSWORD"
		TEXTKIT_NATS_PROVISIONER_PASSWORD="$TEXTKIT_NATS_PROVISIONER_PASSWORD"
		TEXTKIT_NATS_RETENTION_PASSWORD="$TEXTKIT_NATS_RETENTION_PASSWORD"
		TEXTKIT_NATS_PARTNER_PASSWORD="$TEXTKIT_NATS_PARTNER_PASSWORD"
		TEXTKIT_NATS_PARTNER2_PASSWORD="$TEXTKIT_NATS_PARTNER2_PASSWORD"
		TEXTKIT_NATS_SYS_PASSWORD="$TEXTKIT_NATS_SYS_PASSWORD"
	)
	ensure_dep "$name" "$NATS_BIN" -c "$REPO_ROOT/deploy/nats/cluster.conf"
done

# ---- Redis Cluster: six nodes ----------------------------------------------------------
# requirepass and masterauth in a 0600 file, never on a command line.
mkdir -p "$DATA_DIR/redis"
(umask 077 && printf 'requirepass "%s"\nmasterauth "%s"\n' "$TEXTKIT_REDIS_PASSWORD" "$TEXTKIT_REDIS_PASSWORD" >"$DATA_DIR/redis/secret.conf")
SVC_ENV=()
for i in 1 2 3 4 5 6; do
	name="redis-$i"
	if ! pid_alive "$name" >/dev/null; then
		require_free_port "$name" "${REDIS_PORTS[i - 1]}" TEXTKIT_CLUSTER_REDIS_PORTS
		require_free_port "$name" "${REDIS_BUS_PORTS[i - 1]}" TEXTKIT_CLUSTER_REDIS_BUS_PORTS
	fi
	mkdir -p "$DATA_DIR/$name"
	ensure_dep "$name" "$REDIS_BIN" "$REPO_ROOT/deploy/redis/redis.conf" \
		--port "${REDIS_PORTS[i - 1]}" --cluster-port "${REDIS_BUS_PORTS[i - 1]}" --dir "$DATA_DIR/$name" \
		--include "$DATA_DIR/redis/secret.conf" --include "$REPO_ROOT/deploy/redis/cluster.conf"
done

# ---- Vault: three raft nodes ------------------------------------------------------------
for i in 1 2 3; do
	name="vault-$i"
	if ! pid_alive "$name" >/dev/null; then
		require_free_port "$name" "${VAULT_PORTS[i - 1]}" TEXTKIT_CLUSTER_VAULT_PORTS
		require_free_port "$name" "${VAULT_CL_PORTS[i - 1]}" TEXTKIT_CLUSTER_VAULT_CLUSTER_PORTS
	fi
	mkdir -p "$DATA_DIR/$name/raft"
	TEXTKIT_VAULT_STORAGE_DIR="$DATA_DIR/$name/raft" \
		TEXTKIT_VAULT_NODE_ID="textkit-vault-$i" \
		TEXTKIT_VAULT_JOIN_1="http://127.0.0.1:${VAULT_PORTS[0]}" \
		TEXTKIT_VAULT_JOIN_2="http://127.0.0.1:${VAULT_PORTS[1]}" \
		TEXTKIT_VAULT_JOIN_3="http://127.0.0.1:${VAULT_PORTS[2]}" \
		TEXTKIT_VAULT_LISTEN="127.0.0.1:${VAULT_PORTS[i - 1]}" \
		TEXTKIT_VAULT_CLUSTER_LISTEN="127.0.0.1:${VAULT_CL_PORTS[i - 1]}" \
		TEXTKIT_VAULT_API_ADDR="http://127.0.0.1:${VAULT_PORTS[i - 1]}" \
		TEXTKIT_VAULT_CLUSTER_ADDR="https://127.0.0.1:${VAULT_CL_PORTS[i - 1]}" \
		sh "$REPO_ROOT/deploy/vault/vault.sh" config "$REPO_ROOT/deploy/vault/cluster.hcl" "$DATA_DIR/$name/vault.hcl" ||
		die "could not render deploy/vault/cluster.hcl"
	SVC_ENV=(HOME="$DATA_DIR/$name")
	ensure_dep "$name" "$VAULT_BIN" server -config "$DATA_DIR/$name/vault.hcl"
done
# vault_sh ARGS... runs deploy/vault/vault.sh with the root token in its
# environment (not argv) and HOME inside the data directory.
vault_sh() {
	env -i PATH="$PATH" HOME="$DATA_DIR/vault-1" VAULT_ADDR="http://127.0.0.1:${VAULT_PORTS[0]}" \
		TEXTKIT_VAULT_BIN="$VAULT_BIN" TEXTKIT_WAIT_SECONDS="$TEXTKIT_WAIT_SECONDS" \
		TEXTKIT_VAULT_ROOT_TOKEN="$TEXTKIT_VAULT_ROOT_TOKEN" \
		sh "$REPO_ROOT/deploy/vault/vault.sh" "$@"
}

# ---- our binaries (built while the dependencies start) ------------------------------
T_BUILD=$(now_ms)
: >"$LOGS/build.log"
go build -o "$BIN/" ./cmd/textkit ./cmd/twilio-emulator ./cmd/provisioner ./cmd/retention ./cmd/gateway \
	2>>"$LOGS/build.log" || fail build "go build failed"
log "up --cluster: built our binaries into $(rel "$BIN") in $(elapsed "$T_BUILD")"

# ---- wait for the dependencies ----------------------------------------------------------
for i in 1 2 3; do
	wait_for "nats-$i" http_ok "http://127.0.0.1:${NATS_MON_PORTS[i - 1]}/healthz?js-enabled-only=true"
done
for i in 1 2 3 4 5 6; do
	wait_for "redis-$i" redis_ping "${REDIS_PORTS[i - 1]}" "$TEXTKIT_REDIS_PASSWORD"
done
# cluster_info PORT prints CLUSTER INFO of the node at PORT.
cluster_info() { REDISCLI_AUTH="$TEXTKIT_REDIS_PASSWORD" "$REDIS_CLI" -h 127.0.0.1 -p "$1" cluster info 2>/dev/null | tr -d '\r'; }
if [[ "$(cluster_info "${REDIS_PORTS[0]}")" == *cluster_known_nodes:1* ]]; then
	# New nodes (nodes.conf keeps the layout across restarts): make the
	# cluster once, three masters and a replica each.
	printf '=== %s up.sh --cluster: redis-cli --cluster create\n' "$(date -Is)" >>"$LOGS/redis-create.log"
	mapfile -t nodes < <(for p in "${REDIS_PORTS[@]}"; do printf '127.0.0.1:%s\n' "$p"; done)
	REDISCLI_AUTH="$TEXTKIT_REDIS_PASSWORD" "$REDIS_CLI" --cluster create \
		"${nodes[@]}" --cluster-replicas 1 --cluster-yes \
		>>"$LOGS/redis-create.log" 2>&1 </dev/null || fail redis-create "redis-cli --cluster create failed"
	log "  created the Redis Cluster (3 masters, 3 replicas)"
fi
redis_cluster_ok() {
	local p
	for p in "${REDIS_PORTS[@]}"; do
		[[ "$(cluster_info "$p")" == *cluster_state:ok* ]] || return 1
	done
}
wait_for redis-1 redis_cluster_ok
vault_answers() { curl -sS -o /dev/null --max-time 2 "http://127.0.0.1:$1/v1/sys/seal-status"; }
for i in 1 2 3; do
	wait_for "vault-$i" vault_answers "${VAULT_PORTS[i - 1]}"
done
t0=$(now_ms)
printf '=== %s up.sh --cluster: vault.sh unseal-cluster\n' "$(date -Is)" >>"$LOGS/vault-unseal.log"
mapfile -t vault_nodes < <(for p in "${VAULT_PORTS[@]}"; do printf 'http://127.0.0.1:%s\n' "$p"; done)
vault_sh unseal-cluster "$DATA_DIR/secrets.env" "${vault_nodes[@]}" \
	>>"$LOGS/vault-unseal.log" 2>&1 </dev/null || fail vault-unseal "could not initialise or unseal the Vault cluster"
log "  vault cluster unsealed, every node a voter, root token checked in $(elapsed "$t0")"
log "up --cluster: dependencies healthy in $(elapsed "$T_DEPS")"

# ---- stop our old services, vault-init, seed ---------------------------------------------
for ((i = ${#OUR_SERVICES[@]} - 1; i >= 0; i--)); do
	stop_service "${OUR_SERVICES[i]}"
done
declare TEXTKIT_VAULT_TOKEN_GATEWAY="" TEXTKIT_VAULT_TOKEN_PROVISIONER="" TEXTKIT_VAULT_TOKEN_RETENTION=""
if [[ -s "$DATA_DIR/vault.env" ]]; then
	vault_sh revoke "$DATA_DIR/vault.env" 2>>"$LOGS/vault-init.log" </dev/null ||
		log "  WARNING: could not revoke the previous service tokens; see $(rel "$LOGS/vault-init.log")"
fi
rm -f "$DATA_DIR/vault.env"
SVC_ENV=(TEXTKIT_VAULT_ROOT_TOKEN="$TEXTKIT_VAULT_ROOT_TOKEN" TEXTKIT_LOG_LEVEL="${TEXTKIT_LOG_LEVEL:-info}")
one_shot vault-init vault-init -addr "$VAULT_URLS" -env-out "$DATA_DIR/vault.env"
chmod 0600 "$DATA_DIR/vault.env"
# shellcheck source=/dev/null
. "$DATA_DIR/vault.env"
SVC_ENV=(TEXTKIT_REDIS_ADDR="$REDIS_ADDRS" TEXTKIT_REDIS_PASSWORD="$TEXTKIT_REDIS_PASSWORD" TEXTKIT_LOG_LEVEL="${TEXTKIT_LOG_LEVEL:-info}")
one_shot seed seed -file "$REPO_ROOT/deploy/seed.json"
make_key "$DATA_DIR/api-key" -role partner -partner "$DOCS_PARTNER_ID" -name dev-partner
make_key "$DATA_DIR/api-key-2" -role partner -partner "$SECOND_PARTNER_ID" -name dev-partner-2
make_key "$DATA_DIR/operator-key" -role operator -name dev-operator
TEXTKIT_API_KEY=$(<"$DATA_DIR/api-key")
TEXTKIT_OPERATOR_KEY=$(<"$DATA_DIR/operator-key")

# ---- our services ---------------------------------------------------------------------------
log "up --cluster: our services"
T_SVC=$(now_ms)
COMMON=(
	TEXTKIT_NATS_URL="$NATS_URLS"
	TEXTKIT_REDIS_ADDR="$REDIS_ADDRS"
	TEXTKIT_REDIS_PASSWORD="$TEXTKIT_REDIS_PASSWORD"
	# every acknowledged write confirmed by a replica (WAIT): docs/config.md#durable-writes
	TEXTKIT_REDIS_MIN_REPLICA_ACKS="${TEXTKIT_REDIS_MIN_REPLICA_ACKS:-1}"
	TEXTKIT_VAULT_ADDR="$VAULT_URLS"
	TEXTKIT_LOG_LEVEL="${TEXTKIT_LOG_LEVEL:-info}"
)
TWILIO_URL="http://127.0.0.1:${TWILIO_PORTS[0]}"

# start_ours NAME BINARY PORT... starts replica NAME of our BINARY with
# SVC_ENV after checking its ports are free.
start_ours() {
	local name="$1" bin="$2" p
	shift 2
	for p in "$@"; do require_free_port "$name" "$p" "TEXTKIT_CLUSTER_*_PORTS"; done
	start_bg "$name" "$BIN/$bin"
	log "  $name started (pid $(<"$DATA_DIR/pids/$name.pid"))"
}

SVC_ENV=(
	TEXTKIT_TWILIO_EMULATOR_ADDR="127.0.0.1:${TWILIO_PORTS[0]}"
	TEXTKIT_TWILIO_EMULATOR_STATE="$DATA_DIR/twilio/state.json"
	TEXTKIT_TWILIO_ACCOUNT_SID="$TEXTKIT_TWILIO_ACCOUNT_SID"
	TEXTKIT_TWILIO_AUTH_TOKEN="$TEXTKIT_TWILIO_AUTH_TOKEN"
	TEXTKIT_LOG_LEVEL="${TEXTKIT_LOG_LEVEL:-info}"
)
start_ours twilio-emulator twilio-emulator "${TWILIO_PORTS[0]}"
wait_for twilio-emulator port_busy "${TWILIO_PORTS[0]}"

for ((i = 1; i <= PROVISIONERS; i++)); do
	SVC_ENV=("${COMMON[@]}"
		TEXTKIT_HTTP_ADDR="127.0.0.1:${PROV_PORTS[i - 1]}"
		TEXTKIT_NATS_USER=provisioner
		TEXTKIT_NATS_PASSWORD="$TEXTKIT_NATS_PROVISIONER_PASSWORD"
		TEXTKIT_NATS_REPLICAS=3
		TEXTKIT_VAULT_TOKEN="$TEXTKIT_VAULT_TOKEN_PROVISIONER"
		TEXTKIT_TWILIO_API_URL="$TWILIO_URL"
		TEXTKIT_TWILIO_ACCOUNT_SID="$TEXTKIT_TWILIO_ACCOUNT_SID"
		TEXTKIT_TWILIO_AUTH_TOKEN="$TEXTKIT_TWILIO_AUTH_TOKEN"
	)
	start_ours "provisioner-$i" provisioner "${PROV_PORTS[i - 1]}"
	if ((i == 1)); then
		# The first creates the streams at three replicas; the others and
		# retention find them.
		wait_for provisioner-1 http_ok "http://127.0.0.1:${PROV_PORTS[0]}/readyz"
	fi
done
for i in 1 2; do
	SVC_ENV=("${COMMON[@]}"
		TEXTKIT_HTTP_ADDR="127.0.0.1:${RET_PORTS[i - 1]}"
		TEXTKIT_NATS_USER=retention
		TEXTKIT_NATS_PASSWORD="$TEXTKIT_NATS_RETENTION_PASSWORD"
		TEXTKIT_VAULT_TOKEN="$TEXTKIT_VAULT_TOKEN_RETENTION"
	)
	start_ours "retention-$i" retention "${RET_PORTS[i - 1]}"
done
for i in 1 2; do
	SVC_ENV=("${COMMON[@]}"
		TEXTKIT_HTTP_ADDR="127.0.0.1:${GW_PORTS[i - 1]}"
		TEXTKIT_OPS_ADDR="127.0.0.1:${GW_OPS_PORTS[i - 1]}"
		TEXTKIT_NATS_USER=gateway
		TEXTKIT_NATS_PASSWORD="$TEXTKIT_NATS_GATEWAY_PASSWORD"
		TEXTKIT_VAULT_TOKEN="$TEXTKIT_VAULT_TOKEN_GATEWAY"
		TEXTKIT_MUTATION_TIMEOUT="${TEXTKIT_MUTATION_TIMEOUT:-10s}"
		TEXTKIT_DEV=true
	)
	start_ours "gateway-$i" gateway "${GW_PORTS[i - 1]}" "${GW_OPS_PORTS[i - 1]}"
done
for ((i = 2; i <= PROVISIONERS; i++)); do wait_for "provisioner-$i" http_ok "http://127.0.0.1:${PROV_PORTS[i - 1]}/readyz"; done
for i in 1 2; do wait_for "retention-$i" http_ok "http://127.0.0.1:${RET_PORTS[i - 1]}/readyz"; done
for i in 1 2; do wait_for "gateway-$i" http_ok "http://127.0.0.1:${GW_OPS_PORTS[i - 1]}/readyz"; done
log "up --cluster: services ready in $(elapsed "$T_SVC"); total $(elapsed "$T_START")"

GRAPHQL_1="http://127.0.0.1:${GW_PORTS[0]}/graphql"
GRAPHQL_2="http://127.0.0.1:${GW_PORTS[1]}/graphql"
register_docs_customer "$GRAPHQL_1" gateway-1

cat <<EOF

TextKit Customers (clustered) is up (data, logs and pids in $(rel "$DATA_DIR")/).
  GraphQL:  $GRAPHQL_1
            $GRAPHQL_2   (two gateways; either serves every request)
  API key:  $TEXTKIT_API_KEY   (partner $DOCS_PARTNER_ID)
  Operator key: $TEXTKIT_OPERATOR_KEY
  NATS:     $NATS_URLS   (JetStream, streams at 3 replicas)
  Redis:    $REDIS_ADDRS   (Redis Cluster: 3 masters, 3 replicas)
  Vault:    $VAULT_URLS   (raft, 3 nodes)
  Replicas: provisioner :${PROV_PORTS[*]:0:PROVISIONERS}   retention :${RET_PORTS[*]}   gateway ops :${GW_OPS_PORTS[*]}
  Logs:     $(rel "$LOGS")/<service>.log      Stop: scripts/down.sh --cluster

Try it:
curl -sS $GRAPHQL_2 -H 'Content-Type: application/json' -H 'Authorization: Bearer $TEXTKIT_API_KEY' -d '{"query":"{ viewer { role partnerId } customers(first: 5) { nodes { id space status version } } }"}'
EOF
