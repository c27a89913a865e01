# shellcheck shell=bash
# Helpers of scripts/up.sh and scripts/cluster.sh, sourced after lib.sh once
# LOGS, BIN and DATA_DIR are set. Services get their environment from the
# global array SVC_ENV.

# rel PATH prints PATH relative to the repo when it is inside it.
rel() { local p="$1"; printf '%s\n' "${p#"$REPO_ROOT"/}"; }

# show_log NAME prints the tail of NAME's log to stderr.
show_log() {
	local f="$LOGS/$1.log"
	if [[ -s "$f" ]]; then
		log "---- last lines of $(rel "$f") ----"
		tail -n 25 "$f" >&2
		log "----"
	fi
}

fail() { # fail NAME MESSAGE
	show_log "$1"
	die "$2; see $(rel "$LOGS/$1.log")"
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# require_free_port NAME PORT VAR fails when something else listens on PORT.
require_free_port() {
	if port_busy "$2"; then
		die "$1: port $2 on 127.0.0.1 is already in use by another program; stop it, or set $3 to another port"
	fi
}

# start_bg NAME PROGRAM ARGS... starts PROGRAM detached (own session, no
# stdin, output appended to logs/NAME.log) with the environment in the
# global array SVC_ENV, and records its pid.
start_bg() {
	local name="$1" prog="$2"
	shift 2
	local logf="$LOGS/$name.log"
	printf '=== %s up.sh: starting %s\n' "$(date -Is)" "$name" >>"$logf"
	# 9>&-: the daemon must not inherit (and so hold) up.sh's lock.
	setsid nohup env "${SVC_ENV[@]}" "$prog" "$@" >>"$logf" 2>&1 </dev/null 9>&- &
	printf '%s\n' "$!" >"$DATA_DIR/pids/$name.pid"
	readlink -f "$prog" >"$DATA_DIR/pids/$name.exe"
}

# wait_for NAME CHECK... runs CHECK until it succeeds, failing with the log
# when NAME's process exits or TEXTKIT_WAIT_SECONDS pass.
wait_for() {
	local name="$1" t0 deadline
	shift
	t0=$(now_ms)
	deadline=$((t0 + TEXTKIT_WAIT_SECONDS * 1000))
	until "$@" >/dev/null 2>&1; do
		if ! pid_alive "$name" >/dev/null; then
			fail "$name" "$name exited during startup"
		fi
		if (($(now_ms) > deadline)); then
			fail "$name" "$name did not become healthy within ${TEXTKIT_WAIT_SECONDS}s (check: $*)"
		fi
		sleep 0.2
	done
	log "  $name healthy after $(elapsed "$t0")"
}

http_ok() { curl -fsS -o /dev/null --max-time 2 "$1"; }

# redis_ping PORT PASSWORD answers PING over RESP (no redis-cli needed). A
# subshell, so a failed connect cannot disturb this shell's descriptors.
redis_ping() (
	local l1="" l2=""
	exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
	# shellcheck disable=SC2016 # $4 is RESP, not a shell variable
	printf '*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n*1\r\n$4\r\nPING\r\n' "${#2}" "$2" >&3
	read -r -t 2 l1 <&3 || true
	read -r -t 2 l2 <&3 || true
	exec 3>&-
	[[ "$l1" == +OK* && "$l2" == +PONG* ]]
)

# ensure_dep NAME PROGRAM ARGS... keeps NAME running if up.sh started it
# with exactly this environment (SVC_ENV), program and arguments, and the
# files among the arguments (config files) had the same contents; otherwise
# (not running, or secrets, ports or config changed) it restarts it. Data
# directories are kept either way.
ensure_dep() {
	local name="$1" fp pid arg
	shift
	fp="$({
		printf '%s\n' "${SVC_ENV[@]}" "$@"
		for arg in "${@:2}"; do
			if [[ -f "$arg" ]]; then cat "$arg"; fi
		done
	} | sha256sum | cut -c1-64)"
	if pid="$(pid_alive "$name")"; then
		if [[ "$(cat "$DATA_DIR/pids/$name.config" 2>/dev/null)" == "$fp" ]]; then
			log "  $name already running (pid $pid): kept"
			return
		fi
		log "  $name runs with another configuration (secrets, ports or config file changed): restarting it"
	fi
	stop_service "$name"
	start_bg "$name" "$@"
	printf '%s\n' "$fp" >"$DATA_DIR/pids/$name.config"
	log "  $name started (pid $(<"$DATA_DIR/pids/$name.pid"))"
}

has_main() {
	local f
	for f in "$1"/*.go; do
		[[ -f "$f" && "$f" != *_test.go ]] || continue
		grep -q '^package main\b' "$f" && return 0
	done
	return 1
}

# one_shot NAME ARGS... runs $BIN/textkit with ARGS, logging to logs/NAME.log.
one_shot() {
	local name="$1" t0
	shift
	t0=$(now_ms)
	printf '=== %s up.sh: textkit %s\n' "$(date -Is)" "$1" >>"$LOGS/$name.log"
	env "${SVC_ENV[@]}" "$BIN/textkit" "$@" >>"$LOGS/$name.log" 2>&1 </dev/null ||
		fail "$name" "textkit $1 failed"
	log "  textkit $1 done in $(elapsed "$t0")"
}


# make_key FILE ARGS... makes an API key (textkit apikey create ARGS) into
# FILE, mode 0600, unless FILE exists: made once, kept beside the data.
make_key() {
	local file="$1"
	shift
	[[ -s "$file" ]] && return
	env "${SVC_ENV[@]}" "$BIN/textkit" apikey create -quiet "$@" >"$file.tmp" 2>>"$LOGS/seed.log" </dev/null ||
		fail seed "textkit apikey create failed"
	chmod 0600 "$file.tmp"
	mv "$file.tmp" "$file"
}

# The ids the customer-facing docs use in their examples (deploy/seed.json
# holds the partner and the industry; the customer is registered below).
# shellcheck disable=SC2034 # used by the scripts that source this file
DOCS_PARTNER_ID=25521a6f-b8d1-414b-8575-545430f076fd
# The seed's second partner: a second tenant, with its own API key
# (api-key-2) and NATS user (partner-7d3c9a52).
SECOND_PARTNER_ID=7d3c9a52-5c1e-4d4f-9a38-2f3a1b0c9d11
DOCS_INDUSTRY_ID=e4c81004-1a4c-477f-97e3-b67022e9a351
DOCS_CUSTOMER_ID=e4c81004-1a4c-477f-97e3-b67022e9a351

# register_docs_customer GRAPHQL_URL NAME registers the customer the
# customer-facing docs act on (through the API, like any customer, with the
# partner key TEXTKIT_API_KEY) unless it exists, so their examples work as
# written. NAME is the gateway whose log a failure shows.
register_docs_customer() {
	local url="$1" name="$2" found reg
	graphql() {
		curl -sS --max-time 30 "$url" -H 'Content-Type: application/json' \
			-H "Authorization: Bearer $TEXTKIT_API_KEY" -d "$1"
	}
	found=$(graphql '{"query":"{ customer(id: \"'"$DOCS_CUSTOMER_ID"'\") { id status } }"}')
	if [[ "$found" == *'"customer":null'* ]]; then
		reg=$(graphql '{"query":"mutation { registerCustomer(input: {id: \"'"$DOCS_CUSTOMER_ID"'\", space: \"docs-example\", partnerId: \"'"$DOCS_PARTNER_ID"'\", industryId: \"'"$DOCS_INDUSTRY_ID"'\", label: \"Docs example customer\"}) { response userErrors { field message } } }"}')
		[[ "$reg" == *'"response":true'* ]] || fail "$name" "could not register the docs' example customer: $reg"
		log "  registered the docs' example customer $DOCS_CUSTOMER_ID (space docs-example)"
	elif [[ "$found" != *'"customer":{'* ]]; then
		fail "$name" "could not look up the docs' example customer: $found"
	fi
}
