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

# How long to wait for one service to become healthy.
: "${TEXTKIT_WAIT_SECONDS:=60}"

# shellcheck disable=SC2034 # used by the scripts that source this file
# Our own binaries, in start order; down.sh stops them in reverse.
OUR_SERVICES=(twilio-emulator provisioner retention gateway)
# shellcheck disable=SC2034
# Dependencies, in start order.
DEP_SERVICES=(nats redis vault)

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
