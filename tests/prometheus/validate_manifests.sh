#!/usr/bin/env bash
# Offline schema validation of deploy/ manifests (see validate_manifests.mjs). Installs the pinned npm packages
# (package-lock.json) into WORKDIR with `npm ci` when they are missing or the lock file changed; the validation
# itself needs no network. Then proves the check bites: broken copies of the manifests must be rejected.
# Usage: validate_manifests.sh SOURCE_DIR WORKDIR        Exit 77 (skip) without node/npm.
set -euo pipefail
src=$1
work=$2
here=$src/tests/prometheus

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "SKIP: node and npm are needed for manifest validation (Debian package nodejs / npm)"
  exit 77
fi

mkdir -p "$work"
cp "$here/package.json" "$here/package-lock.json" "$here/validate_manifests.mjs" "$work/"
if [ ! -d "$work/node_modules" ] || ! cmp -s "$here/package-lock.json" "$work/node_modules/.package-lock.copy"; then
  echo "info  npm ci (pinned by tests/prometheus/package-lock.json)"
  (cd "$work" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$here/package-lock.json" "$work/node_modules/.package-lock.copy"
fi

manifests=("$src"/deploy/*.yaml "$src"/deploy/hpa/*.yaml)
status=0
node "$work/validate_manifests.mjs" "${manifests[@]}" || status=1

# Self-test: each defect below must be reported.
bad=$work/bad
rm -rf "$bad" && mkdir -p "$bad"
mutate() {  # SOURCE SED_EXPR NAME: a copy of SOURCE with one defect; the pattern must match
  sed "$2" "$1" > "$bad/$3"
  if cmp -s "$1" "$bad/$3"; then
    echo "FAIL  self-test: '$2' changed nothing in $(basename "$1") (update this script)"
    status=1
  fi
}
mutate "$src/deploy/daemonset.yaml" 's/mountPropagation:/mountPropogation:/' unknown-field.yaml
mutate "$src/deploy/daemonset.yaml" 's/containerPort: 9840/containerPort: "9840x"/' wrong-type.yaml
mutate "$src/deploy/servicemonitor.yaml" 's/honorLabels: true/honorLabels: "yes"/' crd-wrong-type.yaml
mutate "$src/deploy/hpa/hpa.yaml" 's/maxReplicas: 6/maxReplica: 6/' missing-required.yaml
for f in "$bad"/*.yaml; do
  if node "$work/validate_manifests.mjs" "$f" >/dev/null; then
    echo "FAIL  self-test: $(basename "$f") was not rejected"
    status=1
  else
    echo "ok    self-test: $(basename "$f") rejected"
  fi
done
exit $status
