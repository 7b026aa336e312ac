#!/usr/bin/env bash
# schemathesis (PyPI) against the live server, from proto/openapi.yaml, with a valid token
# of each role: no 5xx, and every response conforms to the document (status codes, content
# types, headers, schemas). See docs/RESILIENCE.md.
#
# Usage: .ci/schemathesis.sh [MAX_EXAMPLES]   (default 10 per operation: the CI run)
# Env:   PASSERELLE_BIN (default target/debug/passerelle), ST (the schemathesis command,
#        default `schemathesis`), ST_ARGS (more schemathesis arguments), ST_SEED,
#        ST_ROLES (the roles whose tokens are used, default all five), ST_LOG (a file to
#        keep the server's log in).
set -euo pipefail
cd "$(dirname "$0")/.."
examples="${1:-10}"
bin="$(realpath "${PASSERELLE_BIN:-target/debug/passerelle}")"
st="${ST:-schemathesis}"
seed="${ST_SEED:-$RANDOM}"
work="$(mktemp -d)"
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  if [ -n "${ST_LOG:-}" ] && [ -f "$work/serve.log" ]; then cp "$work/serve.log" "$ST_LOG"; fi
  rm -rf "$work"
}
trap cleanup EXIT
data="$work/data"
p() { PASSERELLE_LOG_FORMAT=json "$bin" --data-dir "$data" "$@"; }

p init >/dev/null 2>&1
p org add police-63 --name "Commissariat de Clermont-Ferrand" --kind police >/dev/null 2>&1
p org add avec63 --name "AVEC 63" --kind association >/dev/null 2>&1
roles=(referrer receiver coordinator auditor admin)
users=(iscg.martin psy.bernard coord.avec audit.cnil admin.avec)
orgs=(police-63 avec63 avec63 avec63 avec63)
declare -A token
for i in "${!roles[@]}"; do
  p user add "${users[$i]}" --org "${orgs[$i]}" --role "${roles[$i]}" >/dev/null 2>&1
  token[${roles[$i]}]="$(p token issue "${users[$i]}" 2>/dev/null | tail -n1 | tr -d '[:space:]')"
done

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="https://127.0.0.1:$port"
PASSERELLE_LISTEN="127.0.0.1:$port" PASSERELLE_LOG_FORMAT=json \
  "$bin" --data-dir "$data" serve >"$work/serve.log" 2>&1 &
server=$!
# Poll readiness (bounded), never a fixed wait.
for _ in $(seq 1 600); do
  curl -skf --max-time 2 "$base/readyz" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { cat "$work/serve.log" >&2; exit 1; }
  sleep 0.1
done
curl -skf --max-time 2 "$base/readyz" >/dev/null

# A few referrals, so lists, reads and workflow routes have something to answer about.
filing='{"to_org":"avec63","purpose":"psychological_support","urgency":"normal",
 "consent":{"basis":"consent","method":"written","obtained_at":"2026-11-29T10:00:00Z",
  "recipients":["avec63"],"purposes":["psychological_support"],
  "data_categories":["identity","narrative"],"expires_at":"2099-11-29T00:00:00Z"},
 "subject":{"name":"Test Schemathesis"},"safety":{"channel":"sms"},
 "notes":{"narrative":"schemathesis seed"}}'
for _ in 1 2 3; do
  curl -skf -H "Authorization: Bearer ${token[referrer]}" -H 'content-type: application/json' \
    -d "$filing" "$base/api/v1/referrals" >/dev/null
done

checks=not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance
status=0
for role in ${ST_ROLES:-${roles[*]}}; do
  echo "=== schemathesis as the $role (max $examples examples per operation, seed $seed)"
  # shellcheck disable=SC2086
  "$st" run proto/openapi.yaml --url "$base" --tls-verify false \
    -H "Authorization: Bearer ${token[$role]}" \
    --checks "$checks" --max-examples "$examples" --seed "$seed" \
    --request-timeout 30 --no-color --warnings off ${ST_ARGS:-} || status=1
done
if grep -q 'panicked' "$work/serve.log"; then
  echo "the server panicked" >&2
  status=1
fi
exit "$status"
