#!/usr/bin/env bash
# Stops everything scripts/up.sh started (through its pid files), our
# services first, then Vault, Redis and NATS. `--purge` also deletes the data
# directory ($TEXTKIT_DATA_DIR, default .data/): JetStream store, Redis AOF,
# Vault storage (every transit key), Twilio emulator state, secrets (with
# Vault's unseal key), logs.
#
# `--cluster` (or TEXTKIT_CLUSTER=1) stops the clustered stack of
# `scripts/up.sh --cluster` instead (its data directory is
# $TEXTKIT_DATA_DIR/cluster).
set -euo pipefail
for arg in "$@"; do
	if [[ "$arg" == --cluster ]]; then
		export TEXTKIT_CLUSTER=1
	fi
done
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

purge=0
for arg in "$@"; do
	case "$arg" in
	--purge) purge=1 ;;
	--cluster) ;;
	-h | --help)
		sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*) die "unknown argument $arg (usage: scripts/down.sh [--cluster] [--purge])" ;;
	esac
done

if [[ ! -d "$DATA_DIR" ]]; then
	log "down: nothing to stop ($DATA_DIR does not exist)"
	exit 0
fi
exec 9>"$DATA_DIR/.lock"
flock -w 60 9 || die "another scripts/up.sh or down.sh is still running on $DATA_DIR"

log "down: stopping the stack in $DATA_DIR"
for ((i = ${#OUR_SERVICES[@]} - 1; i >= 0; i--)); do
	stop_service "${OUR_SERVICES[i]}"
done
for ((i = ${#DEP_SERVICES[@]} - 1; i >= 0; i--)); do
	stop_service "${DEP_SERVICES[i]}"
done

if ((purge)); then
	# Refuse to delete a directory up.sh did not make.
	[[ -f "$DATA_DIR/secrets.env" || -d "$DATA_DIR/pids" ]] ||
		die "$DATA_DIR does not look like a stack data directory (no secrets.env, no pids/): not deleting it"
	rm -rf -- "$DATA_DIR"
	log "down: deleted $DATA_DIR"
fi
