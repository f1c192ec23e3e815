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

# Every manifest file on its own (kustomization files are rendered below instead), then the plain set and every
# overlay rendered (kustomize subset of validate_manifests.mjs) and each rendered object validated.
manifests=()
for f in "$src"/deploy/base/*.yaml "$src"/deploy/uninstall/*.yaml "$src"/deploy/hpa/*.yaml "$src"/deploy/overlays/*/*.yaml \
    "$src"/deploy/validate/*.yaml; do
  case $(basename "$f") in kustomization.yaml) ;; *patch*.yaml|*-ports.yaml) ;; *) manifests+=("$f") ;; esac
done
kustomizations=("$src/deploy" "$src/deploy/base")
for d in "$src"/deploy/overlays/*/; do kustomizations+=("${d%/}"); done
status=0
(cd "$src" && node "$work/validate_manifests.mjs" "${manifests[@]}" $(printf -- '--kustomize %s ' "${kustomizations[@]#"$src"/}")) ||
  status=1

# The renderer against the real kustomize, where kubectl carries one (not a Debian package; CI may lack it).
if command -v kubectl >/dev/null && kubectl kustomize --help >/dev/null 2>&1; then
  for d in "${kustomizations[@]}"; do
    name=${d#"$src"/}
    kubectl kustomize "$d" >"$work/kubectl-render.yaml" 2>"$work/kubectl-render.log" ||
      { echo "FAIL  kubectl kustomize $name: $(tail -1 "$work/kubectl-render.log")"; status=1; continue; }
    if diff -u <(node "$work/validate_manifests.mjs" --canon "$work/kubectl-render.yaml") \
        <(cd "$src" && node "$work/validate_manifests.mjs" --print "$name") >"$work/render.diff"; then
      echo "ok    $name: rendering identical to kubectl kustomize ($(kubectl version --client 2>/dev/null | sed -n 's/^Kustomize Version: //p'))"
    else
      echo "FAIL  $name: rendering differs from kubectl kustomize:"; head -40 "$work/render.diff"; status=1
    fi
  done
else
  echo "info  kubectl not installed: renderings not compared with kubectl kustomize"
fi

# The HPA example scales on paging pressure, which falls only when load spreads over nodes: its Deployment spreads
# the replicas over kubernetes.io/hostname (docs/hpa.md).
if grep -q '^ *name: sgx_enclave_page_fault_stall_seconds_per_second$' "$src/deploy/hpa/hpa.yaml" &&
    grep -q '^ *topologyKey: kubernetes.io/hostname$' "$src/deploy/hpa/deployment.yaml"; then
  echo "ok    deploy/hpa: scales on stall seconds per second, replicas spread over nodes"
else
  echo "FAIL  deploy/hpa: the HPA must scale on sgx_enclave_page_fault_stall_seconds_per_second and the Deployment"
  echo "      spread its replicas with a topology spread constraint on kubernetes.io/hostname"; status=1
fi

# The DaemonSet names the image scripts/build-image.sh tags: epc-exporter:<CMake project version>.
version=$(sed -n 's/^project(epc_exporter VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
if grep -q "^ *image: epc-exporter:$version\$" "$src/deploy/base/daemonset.yaml"; then
  echo "ok    deploy/base/daemonset.yaml: image epc-exporter:$version, as scripts/build-image.sh tags it"
else
  echo "FAIL  deploy/base/daemonset.yaml: image is not epc-exporter:$version (the CMake project version)"; status=1
fi

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
mutate "$src/deploy/base/daemonset.yaml" 's/mountPropagation:/mountPropogation:/' unknown-field.yaml
mutate "$src/deploy/base/daemonset.yaml" 's/containerPort: 9840/containerPort: "9840x"/' wrong-type.yaml
mutate "$src/deploy/base/servicemonitor.yaml" 's/honorLabels: true/honorLabels: "yes"/' crd-wrong-type.yaml
mutate "$src/deploy/hpa/hpa.yaml" 's/maxReplicas: 6/maxReplica: 6/' missing-required.yaml
mutate "$src/deploy/validate/job.yaml" 's/backoffLimit: 0/backoffLimit: none/' job-wrong-type.yaml
mutate "$src/deploy/validate/job.yaml" 's/internalTrafficPolicy: Local/internalTrafficPolicy: Node/' service-bad-enum.yaml
# Broken overlays: a missing resource file, a misspelt field in a patch (caught after rendering), a patch of an
# object that does not exist, a JSON 6902 path that does not exist.
overlay_defect() {  # NAME FILE SED_EXPR: a copy of deploy/ with one overlay file changed
  rm -rf "$bad/$1" && mkdir -p "$bad/$1" && cp -r "$src/deploy" "$bad/$1/"
  sed -i "$3" "$bad/$1/deploy/overlays/$2"
  cmp -s "$src/deploy/overlays/$2" "$bad/$1/deploy/overlays/$2" &&
    { echo "FAIL  self-test: '$3' changed nothing in $2 (update this script)"; status=1; }
  if (cd "$bad/$1" && node "$work/validate_manifests.mjs" --kustomize "deploy/overlays/${2%%/*}") >"$bad/$1.log"; then
    echo "FAIL  self-test: overlay $1 was not rejected"; status=1
  else
    echo "ok    self-test: overlay $1 rejected: $(grep -m1 '^FAIL' "$bad/$1.log" | cut -c1-160)"
  fi
}
overlay_defect missing-resource kube-rbac-proxy/kustomization.yaml 's/- networkpolicy.yaml/- network-policy.yaml/'
overlay_defect patch-unknown-field kube-rbac-proxy/daemonset-patch.yaml 's/readOnlyRootFilesystem: true/readOnlyRootFileSystem: true/'
overlay_defect patch-no-target aks/daemonset-patch.yaml '0,/name: epc-exporter/s//name: epc-exporters/'
overlay_defect json6902-bad-path kube-rbac-proxy/daemonset-ports.yaml 's|containers/0/ports|containers/0/portz|'
for f in "$bad"/*.yaml; do
  if node "$work/validate_manifests.mjs" "$f" >/dev/null; then
    echo "FAIL  self-test: $(basename "$f") was not rejected"
    status=1
  else
    echo "ok    self-test: $(basename "$f") rejected"
  fi
done
exit $status
