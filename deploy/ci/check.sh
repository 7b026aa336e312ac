#!/usr/bin/env bash
# Checks the deployment files without a container engine or a cluster (run by .ci/run after
# the tests, which build target/debug/passerelle):
#   - the systemd unit: `systemd-analyze verify` (no warning allowed) and
#     `systemd-analyze security --offline=true`, exposure at most 2.0 (printed);
#   - every Kubernetes manifest against the Kubernetes schemas, offline
#     (`kubernetes-validate --strict`); custom resources without an offline schema
#     (CloudNativePG's Cluster) are skipped, with that reason printed;
#   - compose.yaml against the compose specification (`check-jsonschema`, bundled schema).
set -euo pipefail
cd "$(dirname "$0")/../.."
bin="${PASSERELLE_BIN:-$PWD/target/debug/passerelle}"

python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
  'check-jsonschema>=0.29' 'kubernetes-validate>=1.31' >/dev/null

echo "--- systemd unit: verify"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The unit as shipped, with ExecStart pointing at the binary CI just built (verify checks
# that the command exists and is executable).
sed "s#/usr/local/bin/passerelle#${bin}#" deploy/systemd/passerelle.service >"$tmp/passerelle.service"
test -x "$bin" || { echo "no binary at $bin" >&2; exit 1; }
if ! systemd-analyze verify --man=no "$tmp/passerelle.service" >"$tmp/verify.log" 2>&1 \
   || [ -s "$tmp/verify.log" ]; then
  cat "$tmp/verify.log" >&2
  echo "systemd-analyze verify: the unit has errors or warnings" >&2
  exit 1
fi
echo "passerelle.service: verified, no warning"

echo "--- systemd unit: security exposure (must be <= 2.0)"
systemd-analyze security --offline=true --threshold=20 --no-pager deploy/systemd/passerelle.service \
  >"$tmp/security.log" 2>&1 || { cat "$tmp/security.log" >&2; exit 1; }
grep -E '^✗' "$tmp/security.log" || true
line=$(grep 'Overall exposure level' "$tmp/security.log")
echo "$line"
exposure=$(sed -E 's/.*: ([0-9]+\.[0-9]+).*/\1/' <<<"$line")
awk -v e="$exposure" 'BEGIN { exit !(e <= 2.0) }' \
  || { echo "exposure $exposure is above 2.0" >&2; exit 1; }

echo "--- Kubernetes manifests (offline schemas)"
for f in deploy/k8s/*.yaml; do
  if grep -q '^apiVersion: postgresql.cnpg.io/' "$f"; then
    echo "SKIP $f: CloudNativePG Cluster is a custom resource; no offline schema (the operator validates it at apply time)"
    python3 - "$f" <<'PY'
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
assert doc["kind"] == "Cluster" and doc["metadata"]["name"], "malformed Cluster"
assert isinstance(doc["spec"]["instances"], int) and doc["spec"]["storage"]["size"]
PY
    continue
  fi
  python3 -m kubernetes_validate --strict --quiet "$f"
  echo "ok $f"
done

echo "--- compose file (compose specification schema)"
python3 -m check_jsonschema --builtin-schema vendor.compose-spec deploy/compose.yaml
