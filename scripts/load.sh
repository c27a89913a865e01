#!/usr/bin/env bash
# Runs a load test against the local stack in one command:
#
#   1. starts the stack with scripts/up.sh unless its gateway already answers
#      /readyz (a running stack is used as it is)
#   2. builds textkit and runs `textkit load` with the stack's URLs, API key
#      and NATS passwords (from $TEXTKIT_DATA_DIR, default .data/): by
#      default the lifecycle mix through GraphQL, open model at 15 steps/s
#      (under the dev gateway's rate limit of 20 requests/s per partner),
#      for $TEXTKIT_LOAD_DURATION (default 30s)
#   3. prints the summary and where ledger.jsonl, report.json and
#      report.html are ($TEXTKIT_DATA_DIR/load/<UTC time>/)
#
# Arguments go to `textkit load` after the defaults, so they win, e.g.
#   scripts/load.sh -target nats -mix hot -duration 60s
#   scripts/load.sh -model closed -workers 16 -ceiling 10s
# See `textkit load -h` and docs/load.md (how to read the report, and how
# to raise the gateway's rate limits for a throughput run).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

for arg in "$@"; do
	case "$arg" in
	-h | --help)
		sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	esac
done

GATEWAY_URL="http://127.0.0.1:$TEXTKIT_GATEWAY_PORT"
GATEWAY_OPS_URL="http://127.0.0.1:$TEXTKIT_GATEWAY_OPS_PORT"
if ! curl -fsS -o /dev/null --max-time 2 "$GATEWAY_OPS_URL/readyz" 2>/dev/null; then
	log "load: no gateway is ready at $GATEWAY_OPS_URL/readyz: starting the stack with scripts/up.sh"
	"$REPO_ROOT/scripts/up.sh" >&2
fi

mkdir -p "$DATA_DIR/bin"
go build -o "$DATA_DIR/bin/" ./cmd/textkit || die "go build ./cmd/textkit failed"
OUT="$DATA_DIR/load/$(date -u +%Y%m%dT%H%M%SZ)"
"$DATA_DIR/bin/textkit" load \
	-data-dir "$DATA_DIR" -out "$OUT" \
	-graphql-url "$GATEWAY_URL/graphql" -nats-url "nats://127.0.0.1:$TEXTKIT_NATS_PORT" \
	-mix lifecycle -target graphql -model open -rate 15 \
	-duration "${TEXTKIT_LOAD_DURATION:-30s}" "$@"
printf '\nOpen %s in a browser for the plots.\n' "$OUT/report.html"
