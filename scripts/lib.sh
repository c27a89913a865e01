# shellcheck shell=bash
# Shared settings and helpers for scripts/deps.sh, up.sh, down.sh and test.sh.
# Source it; it sets no shell options of its own.
#
# Every port and directory can be overridden from the environment, so a test
# can run a second stack on other ports in a temporary directory. The README's
# "Ports" table lists the same defaults (deploy/compose_test.go checks that).

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Third-party binaries built by scripts/deps.sh, outside git. Same rule as
# internal/testenv.CacheDir.
if [[ -n "${TEXTKIT_CACHE:-}" ]]; then
	CACHE_DIR="$TEXTKIT_CACHE"
elif [[ -n "${XDG_CACHE_HOME:-}" ]]; then
	CACHE_DIR="$XDG_CACHE_HOME/textkit"
else
	CACHE_DIR="$HOME/.cache/textkit"
fi

# Runtime data of the local stack (gitignored).
DATA_DIR="${TEXTKIT_DATA_DIR:-$REPO_ROOT/.data}"

: "${TEXTKIT_NATS_PORT:=4222}"
: "${TEXTKIT_NATS_MONITOR_PORT:=8222}"
: "${TEXTKIT_REDIS_PORT:=6399}"
: "${TEXTKIT_VAULT_PORT:=8200}"
: "${TEXTKIT_VAULT_CLUSTER_PORT:=8201}"
: "${TEXTKIT_TWILIO_EMULATOR_PORT:=8790}"
: "${TEXTKIT_GATEWAY_PORT:=8080}"
: "${TEXTKIT_GATEWAY_OPS_PORT:=9100}"
: "${TEXTKIT_PROVISIONER_PORT:=9101}"
: "${TEXTKIT_RETENTION_PORT:=9102}"

# The clustered stack (scripts/up.sh --cluster, docs/scaling.md): one port
# per node or replica, comma-separated, none shared with the single stack
# above, so both can run at once. Its data lives in $DATA_DIR/cluster.
: "${TEXTKIT_CLUSTER_NATS_PORTS:=4231,4232,4233}"
: "${TEXTKIT_CLUSTER_NATS_MONITOR_PORTS:=8231,8232,8233}"
: "${TEXTKIT_CLUSTER_NATS_ROUTE_PORTS:=6231,6232,6233}"
: "${TEXTKIT_CLUSTER_REDIS_PORTS:=7001,7002,7003,7004,7005,7006}"
# Each Redis node's cluster bus (node-to-node gossip and failover votes):
# set, not Redis's implicit port + 10000, so it is checked free like the rest.
: "${TEXTKIT_CLUSTER_REDIS_BUS_PORTS:=17001,17002,17003,17004,17005,17006}"
: "${TEXTKIT_CLUSTER_VAULT_PORTS:=8211,8212,8213}"
: "${TEXTKIT_CLUSTER_VAULT_CLUSTER_PORTS:=8221,8222,8223}"
: "${TEXTKIT_CLUSTER_TWILIO_EMULATOR_PORTS:=8791}"
: "${TEXTKIT_CLUSTER_GATEWAY_PORTS:=8081,8082}"
: "${TEXTKIT_CLUSTER_GATEWAY_OPS_PORTS:=9111,9112}"
: "${TEXTKIT_CLUSTER_PROVISIONER_PORTS:=9121,9122,9123}"
: "${TEXTKIT_CLUSTER_RETENTION_PORTS:=9131,9132}"

# TEXTKIT_CLUSTER=1 (what `up.sh --cluster` and `down.sh --cluster` set)
# selects the clustered stack: its own data directory and service names.
: "${TEXTKIT_CLUSTER:=0}"
[[ "$TEXTKIT_CLUSTER" == 0 || "$TEXTKIT_CLUSTER" == 1 ]] ||
	{ printf 'error: TEXTKIT_CLUSTER=%s: want 0 or 1\n' "$TEXTKIT_CLUSTER" >&2; exit 1; }

# cluster_ports VAR prints the ports of list variable VAR, one a line,
# failing on anything but a comma-separated list of port numbers.
cluster_ports() {
	local v="$1" p
	[[ "${!v}" =~ ^[0-9]+(,[0-9]+)*$ ]] || die "$v=${!v}: want comma-separated port numbers"
	for p in ${!v//,/ }; do
		((p > 0 && p < 65536)) || die "$v: port $p is out of range"
		printf '%s\n' "$p"
	done
}

# How long to wait for one service to become healthy.
: "${TEXTKIT_WAIT_SECONDS:=60}"

# shellcheck disable=SC2034 # used by the scripts that source this file
# Our own binaries, in start order; down.sh stops them in reverse.
OUR_SERVICES=(twilio-emulator provisioner retention gateway)
# shellcheck disable=SC2034
# Dependencies, in start order.
DEP_SERVICES=(nats redis vault)

if [[ "$TEXTKIT_CLUSTER" == 1 ]]; then
	DATA_DIR="$DATA_DIR/cluster"
	# shellcheck disable=SC2034
	OUR_SERVICES=(twilio-emulator provisioner-1 provisioner-2 provisioner-3 retention-1 retention-2 gateway-1 gateway-2)
	# shellcheck disable=SC2034
	DEP_SERVICES=(nats-1 nats-2 nats-3 redis-1 redis-2 redis-3 redis-4 redis-5 redis-6 vault-1 vault-2 vault-3)
fi

log() { printf '%s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# now_ms prints a monotonic-enough wall clock in milliseconds.
now_ms() { date +%s%3N; }

# elapsed START_MS prints the seconds since START_MS, one decimal.
elapsed() {
	local ms=$(($(now_ms) - $1))
	printf '%d.%ds' $((ms / 1000)) $((ms % 1000 / 100))
}

# find_bin NAME prints the path of a third-party binary: $TEXTKIT_<NAME>_BIN,
# then the cache's bin/ (the versions deps.sh pins), then PATH.
find_bin() {
	local name="$1" var p
	var="TEXTKIT_$(tr 'a-z-' 'A-Z_' <<<"$name")_BIN"
	if [[ -n "${!var:-}" ]]; then
		[[ -x "${!var}" ]] || die "$var=${!var} is not an executable file"
		printf '%s\n' "${!var}"
		return
	fi
	for p in "$CACHE_DIR/bin/$name" "$CACHE_DIR/prism/node_modules/.bin/$name"; do
		if [[ -x "$p" ]]; then
			printf '%s\n' "$p"
			return
		fi
	done
	if p="$(command -v "$name")"; then
		printf '%s\n' "$p"
		return
	fi
	die "$name not found (run scripts/deps.sh or set $var)"
}

# running PID succeeds while PID is a live process (a zombie, exited but not
# yet reaped by its parent, counts as gone).
running() {
	local stat
	kill -0 "$1" 2>/dev/null || return 1
	stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 0
	stat="${stat##*) }"
	[[ "${stat:0:1}" != Z ]]
}

# pid_alive NAME prints the pid of service NAME started by up.sh if its pid
# file names a live process that is still that program.
pid_alive() {
	local f="$DATA_DIR/pids/$1.pid" pid exe
	[[ -f "$f" ]] || return 1
	pid="$(<"$f")"
	[[ "$pid" =~ ^[0-9]+$ ]] || return 1
	running "$pid" || return 1
	# Guard against a recycled pid: the program must be the one we recorded.
	exe="$(cat "$DATA_DIR/pids/$1.exe" 2>/dev/null || true)"
	if [[ -n "$exe" ]]; then
		[[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" == "$exe"* ]] || return 1
	fi
	printf '%s\n' "$pid"
}

# stop_service NAME stops service NAME (SIGTERM, then SIGKILL after 15 s) and
# removes its pid file. Quiet when it is not running.
stop_service() {
	local name="$1" pid i
	if pid="$(pid_alive "$name")"; then
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 150; i++)); do
			running "$pid" || break
			sleep 0.1
		done
		if running "$pid"; then
			log "  $name (pid $pid) ignored SIGTERM for 15s; killing it"
			kill -KILL "$pid" 2>/dev/null || true
			sleep 0.2
		fi
		log "  stopped $name (pid $pid)"
	fi
	rm -f "$DATA_DIR/pids/$name.pid" "$DATA_DIR/pids/$name.exe"
}
