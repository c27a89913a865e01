#!/bin/sh
# Runs the persistent Vault of the local stack (scripts/up.sh) and of
# docker-compose.yml. POSIX sh: the hashicorp/vault image is Alpine (busybox,
# no bash, no curl), so this talks to Vault through the vault CLI only.
#
#   vault.sh config TEMPLATE OUT
#       Renders TEMPLATE (deploy/vault/vault.hcl) into OUT, mode 0600,
#       replacing each ${TEXTKIT_…} with that environment variable.
#   vault.sh unseal KEYS_FILE
#       Waits until the Vault at $VAULT_ADDR answers; initialises it if its
#       storage is new (one key share, threshold one) and appends the unseal
#       key to KEYS_FILE (TEXTKIT_VAULT_UNSEAL_KEY=…, mode 0600) before
#       anything else; unseals it with that key; waits until it is active;
#       and makes sure the root token $TEXTKIT_VAULT_ROOT_TOKEN exists: if it
#       does not (a new Vault, or the variable changed), a root token is
#       generated with the unseal key, used to create it under that id, and
#       revoked. Safe to re-run at any point.
#   vault.sh unseal-cluster KEYS_FILE ADDR1 ADDR2 ADDR3
#       The same for a raft cluster (deploy/vault/cluster.hcl): initialises
#       node ADDR1 if it is new, unseals every node (a new node 2 or 3
#       joins node 1 through retry_join once unsealed), waits until one node
#       is active and every node a raft voter, and makes sure the root
#       token exists. VAULT_ADDR is not used.
#   vault.sh revoke ENV_FILE
#       Revokes the service tokens (TEXTKIT_VAULT_TOKEN_…=…) listed in
#       ENV_FILE (textkit vault-init's output) with the root token.
#   vault.sh run TEMPLATE CONFIG KEYS_FILE READY_FILE
#       docker compose's entrypoint: config TEMPLATE into CONFIG, start
#       `vault server` (as user vault when run as root), unseal KEYS_FILE,
#       create READY_FILE (the healthcheck looks for it) and wait for the
#       server, passing SIGTERM and SIGINT on. VAULT_ADDR defaults to
#       http://127.0.0.1:<port of TEXTKIT_VAULT_LISTEN>. With
#       TEXTKIT_VAULT_NODES (the cluster's node addresses, comma-separated,
#       as the nodes reach each other) it runs one node of a cluster: the
#       first node initialises it if new; every node waits for the unseal
#       key in KEYS_FILE (a volume the nodes share), unseals itself and is
#       ready once some node is active.
#
# Environment: VAULT_ADDR, TEXTKIT_VAULT_ROOT_TOKEN (unseal, revoke, run),
# the template's variables (config, run), TEXTKIT_VAULT_BIN (default: vault
# on PATH), TEXTKIT_WAIT_SECONDS (how long to wait for Vault, default 60).
# Secrets go to the vault CLI through its environment and stdin, never argv.
#
# Keeping the unseal key in a file next to the storage it unseals is a
# convenience for a local development stack only: whoever can read both can
# read every key. Never do this in production.
set -eu

VAULT_BIN="${TEXTKIT_VAULT_BIN:-vault}"
WAIT_SECONDS="${TEXTKIT_WAIT_SECONDS:-60}"
SERVER_PID=""

log() { printf 'vault.sh: %s\n' "$*" >&2; }
die() {
	printf 'vault.sh: error: %s\n' "$*" >&2
	exit 1
}

usage() {
	die "usage: vault.sh config TEMPLATE OUT | unseal KEYS_FILE | unseal-cluster KEYS_FILE ADDR... | revoke ENV_FILE | run TEMPLATE CONFIG KEYS_FILE READY_FILE"
}

# anon ARGS... runs the vault CLI without a token.
anon() { VAULT_TOKEN="" "$VAULT_BIN" "$@"; }

# as TOKEN ARGS... runs the vault CLI with TOKEN (through the environment).
as() {
	_tok="$1"
	shift
	VAULT_TOKEN="$_tok" "$VAULT_BIN" "$@"
}

# json_str NAME prints the first string value of NAME in the JSON on stdin
# (also the first element of an array of strings). Enough for the vault
# CLI's answers, whose values here contain no quotes or spaces.
json_str() { tr -d ' \t\r\n' | sed -nE 's/.*"'"$1"'":\[?"([^"]*)".*/\1/p'; }

# json_bool NAME prints true or false: NAME's value in the JSON on stdin.
json_bool() { tr -d ' \t\r\n' | sed -nE 's/.*"'"$1"'":(true|false).*/\1/p'; }

# status prints `vault status -format=json` ("" when Vault does not answer).
# The command exits 2 when Vault is sealed, with the same JSON.
status() { anon status -format=json 2>/dev/null || true; }

# answers succeeds when Vault answers, and leaves its status in STATUS.
# (Each vault CLI run costs a few hundred milliseconds on a loaded machine:
# one status serves several checks.)
answers() {
	STATUS="$(status)"
	[ -n "$(printf '%s' "$STATUS" | json_bool initialized)" ]
}

# active: unsealed and the active node (raft elects itself after unsealing;
# until then writes fail).
active() {
	answers &&
		[ "$(printf '%s' "$STATUS" | json_bool sealed)" = false ] &&
		[ "$(printf '%s' "$STATUS" | json_bool is_self)" = true ]
}

# wait_until WHAT CHECK... runs CHECK until it succeeds; fails after
# TEXTKIT_WAIT_SECONDS or when the server `run` started exits.
wait_until() {
	_what="$1"
	shift
	_end=$(($(date +%s) + WAIT_SECONDS))
	until "$@"; do
		if [ -n "$SERVER_PID" ] && ! kill -0 "$SERVER_PID" 2>/dev/null; then
			die "vault server exited while waiting for $_what"
		fi
		if [ "$(date +%s)" -ge "$_end" ]; then
			die "gave up waiting for $_what after ${WAIT_SECONDS}s"
		fi
		sleep 0.2 2>/dev/null || sleep 1
	done
}

need_env() {
	for _v in "$@"; do
		eval "_val=\${$_v-}"
		[ -n "$_val" ] || die "$_v is not set"
	done
}

# check_root_token_id fails unless TEXTKIT_VAULT_ROOT_TOKEN can be a custom
# token id (and be written into JSON as it is).
check_root_token_id() {
	case "$TEXTKIT_VAULT_ROOT_TOKEN" in
	*[!A-Za-z0-9_-]*) die "TEXTKIT_VAULT_ROOT_TOKEN may hold only letters, digits, - and _ (scripts/secrets.sh makes one)" ;;
	esac
}

# ---- config --------------------------------------------------------------------

cmd_config() {
	[ $# -eq 2 ] || usage
	_tpl="$1" _out="$2"
	[ -f "$_tpl" ] || die "template $_tpl does not exist"
	_script=""
	# shellcheck disable=SC2013 # the names are single words
	for _n in $(grep -o '[$]{TEXTKIT_[A-Z0-9_]*}' "$_tpl" | sed 's/^[$]{//; s/}$//' | sort -u); do
		eval "_val=\${$_n-}"
		[ -n "$_val" ] || die "$_tpl needs $_n, which is not set"
		case "$_val" in
		*'"'* | *\\* | *'|'* | *'&'*) die "$_n=$_val: quotes, backslashes, | and & are not allowed" ;;
		esac
		_script="${_script}s|[\$]{$_n}|$_val|g;"
	done
	[ -n "$_script" ] || die "$_tpl has no \${TEXTKIT_…} placeholder: is it the right file?"
	(umask 077 && sed "$_script" "$_tpl" >"$_out.tmp") && mv -f "$_out.tmp" "$_out"
}

# ---- unseal --------------------------------------------------------------------

# initialise KEYS_FILE runs `vault operator init` with one key share, appends
# the unseal key to KEYS_FILE and sets INIT_ROOT to the initial root token.
initialise() {
	_keys="$1"
	log "Vault at $VAULT_ADDR is new: initialising it (1 key share, threshold 1)"
	_out="$(anon operator init -key-shares=1 -key-threshold=1 -format=json)" ||
		die "vault operator init failed"
	_key="$(printf '%s' "$_out" | json_str unseal_keys_b64)"
	INIT_ROOT="$(printf '%s' "$_out" | json_str root_token)"
	if [ -z "$_key" ] || [ -z "$INIT_ROOT" ]; then
		die "vault operator init: no unseal key or root token in its answer"
	fi
	# The key first: without it the storage can never be unsealed again.
	if grep -q '^TEXTKIT_VAULT_UNSEAL_KEY=' "$_keys" 2>/dev/null; then
		log "$_keys holds the unseal key of a Vault whose storage is gone: it stays there as a comment"
		sed -i 's/^TEXTKIT_VAULT_UNSEAL_KEY=/# superseded by a new Vault: &/' "$_keys"
	fi
	(umask 077 && printf 'TEXTKIT_VAULT_UNSEAL_KEY=%s\n' "$_key" >>"$_keys")
	chmod 0600 "$_keys"
	log "the unseal key is in $_keys"
}

# root_ok TOKEN succeeds when TOKEN is a valid token with the root policy.
root_ok() {
	as "$1" token lookup -format=json 2>/dev/null | tr -d ' \t\r\n' | grep -q '"policies":\[[^]]*"root"'
}

# generate_root KEY prints a new root token, made with the unseal key KEY
# (`vault operator generate-root`, one-time-password flow).
generate_root() {
	_key="$1"
	anon operator generate-root -cancel >/dev/null 2>&1 || true
	_init="$(anon operator generate-root -init -format=json)" || die "vault operator generate-root -init failed"
	_nonce="$(printf '%s' "$_init" | json_str nonce)"
	_otp="$(printf '%s' "$_init" | json_str otp)"
	if [ -z "$_nonce" ] || [ -z "$_otp" ]; then
		die "vault operator generate-root -init: no nonce or one-time password in its answer"
	fi
	_enc="$(printf '%s\n' "$_key" | anon operator generate-root -nonce="$_nonce" -format=json - | json_str encoded_token)" ||
		die "vault operator generate-root refused the unseal key"
	[ -n "$_enc" ] || die "vault operator generate-root: no encoded token (is the unseal key right?)"
	# The one-time password alone (argv) is worth nothing; the encoded token
	# goes through stdin.
	printf '%s\n' "$_enc" | anon operator generate-root -decode=- -otp="$_otp" ||
		die "vault operator generate-root -decode failed"
}

# ensure_root TEMP_ROOT makes sure TEXTKIT_VAULT_ROOT_TOKEN is a root token,
# creating it with TEMP_ROOT (or one generated from the unseal key), and
# revokes TEMP_ROOT.
ensure_root() {
	_tmp="$1" _key="$2"
	if root_ok "$TEXTKIT_VAULT_ROOT_TOKEN"; then
		if [ -n "$_tmp" ]; then as "$_tmp" token revoke -self >/dev/null; fi
		return 0
	fi
	if [ -z "$_tmp" ]; then
		log "TEXTKIT_VAULT_ROOT_TOKEN is not a root token of this Vault: creating it with a root token generated from the unseal key"
		_tmp="$(generate_root "$_key")"
		[ -n "$_tmp" ] || die "vault operator generate-root gave no token"
	fi
	_made="$(printf '{"id":"%s","policies":["root"],"display_name":"textkit-root","meta":{"created_by":"deploy/vault/vault.sh"}}\n' \
		"$TEXTKIT_VAULT_ROOT_TOKEN" | as "$_tmp" write -format=json auth/token/create-orphan -)" ||
		die "could not create the root token TEXTKIT_VAULT_ROOT_TOKEN"
	as "$_tmp" token revoke -self >/dev/null || log "warning: could not revoke the temporary root token"
	[ "$(printf '%s' "$_made" | json_str client_token)" = "$TEXTKIT_VAULT_ROOT_TOKEN" ] ||
		die "Vault did not create the root token TEXTKIT_VAULT_ROOT_TOKEN under that id"
	log "created the root token TEXTKIT_VAULT_ROOT_TOKEN"
}

cmd_unseal() {
	[ $# -eq 1 ] || usage
	_keys="$1"
	need_env VAULT_ADDR TEXTKIT_VAULT_ROOT_TOKEN
	check_root_token_id
	INIT_ROOT=""
	wait_until "Vault at $VAULT_ADDR to answer" answers
	_sealed="$(printf '%s' "$STATUS" | json_bool sealed)"
	if [ "$(printf '%s' "$STATUS" | json_bool initialized)" = false ]; then
		initialise "$_keys"
		_sealed=true
	fi
	_key="$(sed -n 's/^TEXTKIT_VAULT_UNSEAL_KEY=//p' "$_keys" 2>/dev/null | tail -n 1)"
	[ -n "$_key" ] || die "Vault at $VAULT_ADDR is initialised, but $_keys holds no TEXTKIT_VAULT_UNSEAL_KEY, so it cannot be unsealed: restore that line, or start over with empty storage (scripts/down.sh --purge; with compose: docker compose down -v)"
	if [ "$_sealed" = true ]; then
		_out="$(printf '{"key":"%s"}\n' "$_key" | anon write -format=json sys/unseal -)" ||
			die "Vault at $VAULT_ADDR refused the unseal key in $_keys (is it the key of this storage?)"
		[ "$(printf '%s' "$_out" | json_bool sealed)" = false ] ||
			die "Vault at $VAULT_ADDR is still sealed after the unseal key in $_keys"
		log "unsealed Vault at $VAULT_ADDR"
		wait_until "Vault at $VAULT_ADDR to become active" active
	elif [ "$(printf '%s' "$STATUS" | json_bool is_self)" != true ]; then
		wait_until "Vault at $VAULT_ADDR to become active" active
	fi
	ensure_root "$INIT_ROOT" "$_key"
}

# ---- unseal-cluster ------------------------------------------------------------

# unsealed: $VAULT_ADDR answers and is unsealed.
unsealed() { answers && [ "$(printf '%s' "$STATUS" | json_bool sealed)" = false ]; }

# led: $VAULT_ADDR is unsealed and knows an active node (itself or another).
led() {
	unsealed && {
		[ "$(printf '%s' "$STATUS" | json_bool is_self)" = true ] ||
			[ -n "$(printf '%s' "$STATUS" | json_str leader_address)" ]
	}
}

# unseal_member KEYS_FILE unseals the node at $VAULT_ADDR with the key in
# KEYS_FILE, never initialising it: a new node completes its retry_join
# when unsealed, which takes a few tries while it finds the leader.
unseal_member() {
	_keys="$1"
	wait_until "the unseal key in $_keys" key_in "$_keys"
	wait_until "Vault at $VAULT_ADDR to answer" answers
	wait_until "Vault at $VAULT_ADDR to be unsealed" try_unseal
	log "unsealed Vault node $VAULT_ADDR"
}

# key_in KEYS_FILE succeeds once KEYS_FILE holds an unseal key, left in KEY.
key_in() {
	KEY="$(sed -n 's/^TEXTKIT_VAULT_UNSEAL_KEY=//p' "$1" 2>/dev/null | tail -n 1)"
	[ -n "$KEY" ]
}

# try_unseal gives $VAULT_ADDR the key once unless it is unsealed already.
try_unseal() {
	unsealed && return 0
	printf '{"key":"%s"}\n' "$KEY" | anon write -format=json sys/unseal - >/dev/null 2>&1 || true
	return 1
}

# voters ADDR_COUNT succeeds when the raft configuration has that many voters
# (a joined node is a non-voter until autopilot has seen it stable).
voters() {
	_n="$(as "$TEXTKIT_VAULT_ROOT_TOKEN" operator raft list-peers -format=json 2>/dev/null | tr -d ' \t\r\n' | grep -o '"voter":true' | wc -l)"
	[ "$_n" -ge "$1" ]
}

cmd_unseal_cluster() {
	[ $# -ge 2 ] || usage
	_keys="$1"
	shift
	need_env TEXTKIT_VAULT_ROOT_TOKEN
	check_root_token_id
	INIT_ROOT=""
	VAULT_ADDR="$1"
	export VAULT_ADDR
	wait_until "Vault at $VAULT_ADDR to answer" answers
	if [ "$(printf '%s' "$STATUS" | json_bool initialized)" = false ]; then
		initialise "$_keys"
	fi
	for _a in "$@"; do
		VAULT_ADDR="$_a"
		unseal_member "$_keys"
	done
	VAULT_ADDR="$1"
	wait_until "an active node (asking $VAULT_ADDR)" led
	ensure_root "$INIT_ROOT" "$KEY"
	wait_until "all $# nodes to be raft voters" voters "$#"
	log "Vault cluster ready: $# nodes, every one a voter"
}

# ---- revoke --------------------------------------------------------------------

cmd_revoke() {
	[ $# -eq 1 ] || usage
	need_env VAULT_ADDR TEXTKIT_VAULT_ROOT_TOKEN
	[ -f "$1" ] || return 0
	sed -n 's/^TEXTKIT_VAULT_TOKEN_[A-Z_]*=//p' "$1" | while read -r _t; do
		case "$_t" in
		"" | *[!A-Za-z0-9._-]*) continue ;;
		esac
		printf '{"token":"%s"}\n' "$_t" | as "$TEXTKIT_VAULT_ROOT_TOKEN" write auth/token/revoke - >/dev/null 2>&1 ||
			log "warning: could not revoke a service token listed in $1"
	done
}

# ---- run (docker compose) ---------------------------------------------------------

# run_cluster_node KEYS_FILE brings this node of TEXTKIT_VAULT_NODES up:
# the first node initialises a new cluster; every node unseals itself and
# waits until some node is active; the first makes sure of the root token.
run_cluster_node() {
	_keys="$1"
	_first="${TEXTKIT_VAULT_NODES%%,*}"
	_self="${TEXTKIT_VAULT_API_ADDR-}"
	INIT_ROOT=""
	wait_until "Vault at $VAULT_ADDR to answer" answers
	if [ "$_self" = "$_first" ] && [ "$(printf '%s' "$STATUS" | json_bool initialized)" = false ]; then
		initialise "$_keys"
	fi
	unseal_member "$_keys"
	wait_until "an active node" led
	if [ "$_self" = "$_first" ]; then
		ensure_root "$INIT_ROOT" "$KEY"
	fi
}

cmd_run() {
	[ $# -eq 4 ] || usage
	_tpl="$1" _cfg="$2" _keys="$3" _ready="$4"
	need_env TEXTKIT_VAULT_STORAGE_DIR TEXTKIT_VAULT_LISTEN TEXTKIT_VAULT_ROOT_TOKEN
	rm -f "$_ready"
	: "${VAULT_ADDR:=http://127.0.0.1:${TEXTKIT_VAULT_LISTEN##*:}}"
	export VAULT_ADDR
	mkdir -p "$TEXTKIT_VAULT_STORAGE_DIR" "$(dirname "$_cfg")" "$(dirname "$_keys")"
	cmd_config "$_tpl" "$_cfg"
	set -- "$VAULT_BIN"
	if [ "$(id -u)" = 0 ] && command -v su-exec >/dev/null 2>&1 && id vault >/dev/null 2>&1; then
		# The image's own entrypoint would do the same: never run Vault as root.
		chown -R vault:vault "$TEXTKIT_VAULT_STORAGE_DIR" "$_cfg"
		set -- su-exec vault "$VAULT_BIN"
	fi
	trap 'if [ -n "$SERVER_PID" ]; then kill -TERM "$SERVER_PID" 2>/dev/null || true; fi' TERM INT
	trap 'rm -f "$_ready"; if [ -n "$SERVER_PID" ]; then kill -TERM "$SERVER_PID" 2>/dev/null || true; fi' EXIT
	"$@" server -config="$_cfg" &
	SERVER_PID=$!
	if [ -n "${TEXTKIT_VAULT_NODES-}" ]; then
		run_cluster_node "$_keys"
	else
		cmd_unseal "$_keys"
	fi
	: >"$_ready"
	log "Vault is unsealed and ready"
	_rc=0
	while :; do
		wait "$SERVER_PID" && _rc=0 || _rc=$?
		kill -0 "$SERVER_PID" 2>/dev/null || break
	done
	SERVER_PID=""
	exit "$_rc"
}

[ $# -ge 1 ] || usage
cmd="$1"
shift
case "$cmd" in
config) cmd_config "$@" ;;
unseal) cmd_unseal "$@" ;;
unseal-cluster) cmd_unseal_cluster "$@" ;;
revoke) cmd_revoke "$@" ;;
run) cmd_run "$@" ;;
*) usage ;;
esac
