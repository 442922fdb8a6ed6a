#!/usr/bin/env bash
# Validates the Helm chart (deploy/helm/patternflow) offline, as `make check` and CI run it:
#
#   1. helm and kubeconform, built from the Go module proxy with `go install` at pinned
#      versions, cached in .tools/go-bin/ (the Go build and module caches in ~/.cache/go-build
#      and ~/go make a rebuild after a version bump quick);
#   2. JSON schemas for kubeconform, built by scripts/k8s-schemas.ts from Kubernetes' OpenAPI
#      document (module k8s.io/kubernetes) and the CRDs of KEDA (github.com/kedacore/keda/v2)
#      and the Prometheus operator (github.com/prometheus-operator/prometheus-operator), all
#      fetched with `go mod download` (checksummed by the Go checksum database), cached in
#      .tools/k8s-schemas/<versions>-<converter hash>/;
#   3. `helm lint --strict` (values.schema.json included) and `helm template` of the default
#      values, of deploy/helm/examples/strimzi-sasl-keda.yaml (SASL_SSL, CAs, KEDA on every
#      stage, ServiceMonitors) and of two variants for the remaining branches;
#   4. `kubeconform -strict` of every render against those schemas only (no download), for the
#      oldest Kubernetes the chart admits and the one it targets, so an unknown or misplaced
#      field, a wrong type or a missing required field fails;
#   5. scripts/helm-env-check.ts: the renders agree with the services' own configuration code;
#   6. proof that each of those checks can fail: broken inputs that must be refused, and are.
#
#   scripts/helm-check.sh        exit 0 valid, 1 invalid, 2 a tool is missing
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

HELM_VERSION=v3.22.0
KUBECONFORM_VERSION=v0.8.0
# The manifests are validated against each: the oldest release the chart admits (its
# kubeVersion, >=1.32) and the oldest KEDA 2.21 is tested on (1.34-1.36), which helm also
# renders with.
KUBERNETES_VERSIONS=(1.32.13 1.34.4)
KUBERNETES_VERSION=${KUBERNETES_VERSIONS[-1]}
KEDA_VERSION=v2.21.0
PROMETHEUS_OPERATOR_VERSION=v0.85.0

CHART=deploy/helm/patternflow
EXAMPLE=deploy/helm/examples/strimzi-sasl-keda.yaml
TOOLS=$ROOT/.tools
BIN=$TOOLS/go-bin
RENDERS=$TOOLS/helm-check
started=$SECONDS

say() { echo "helm-check: $*"; }
die() { echo "helm-check: $*" >&2; exit "${2:-1}"; }

GO=$(command -v go || true)
if [ -z "$GO" ] && [ -x /usr/local/go/bin/go ]; then GO=/usr/local/go/bin/go; fi
[ -n "$GO" ] || die "Go is needed to build helm and kubeconform (go install); none on PATH or in /usr/local/go" 2
# The go.mod files of these versions name the Go they need; never fetch another toolchain.
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false

# go_install <module path>@<version> <package> <name> <ldflags>: builds once per version.
go_install() {
  local module=$1 package=$2 name=$3 ldflags=$4
  local version=${module##*@}
  local target=$BIN/$name-$version/$name
  if [ ! -x "$target" ]; then
    say "building $name $version with $("$GO" env GOVERSION) (go install, from the Go module proxy)" >&2
    local began=$SECONDS
    GOBIN=$(dirname "$target") "$GO" install -trimpath -ldflags "-s -w $ldflags" "$package@$version" >&2 ||
      die "go install $package@$version failed" 2
    say "built $name in $((SECONDS - began)) s" >&2
  fi
  echo "$target"
}

HELM=$(go_install "helm.sh/helm/v3@$HELM_VERSION" helm.sh/helm/v3/cmd/helm helm \
  "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION")
KUBECONFORM=$(go_install "github.com/yannh/kubeconform@$KUBECONFORM_VERSION" \
  github.com/yannh/kubeconform/cmd/kubeconform kubeconform "-X main.version=$KUBECONFORM_VERSION")

# module_dir <module>@<version>: where `go mod download` put it (downloaded once, then cached).
module_dir() {
  local json
  # Outside any module, so that no go.mod around here decides anything.
  json=$(cd / && "$GO" mod download -json "$1") || die "go mod download $1 failed: $json" 2
  sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' <<<"$json"
}

converter_hash=$(sha256sum scripts/k8s-schemas.ts | cut -c1-12)
SCHEMAS=$TOOLS/k8s-schemas/keda-$KEDA_VERSION-prometheus-operator-$PROMETHEUS_OPERATOR_VERSION-$converter_hash
# One tree per Kubernetes version (the CRDs' metadata is that version's ObjectMeta).
for version in "${KUBERNETES_VERSIONS[@]}"; do
  [ -d "$SCHEMAS/$version" ] && continue
  began=$SECONDS
  say "building the schemas: Kubernetes $version, KEDA $KEDA_VERSION, Prometheus operator $PROMETHEUS_OPERATOR_VERSION"
  kubernetes=$(module_dir "k8s.io/kubernetes@v$version")
  keda=$(module_dir "github.com/kedacore/keda/v2@$KEDA_VERSION")
  operator=$(module_dir "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION")
  # Trees of other versions or of an older converter are dropped.
  find "$TOOLS/k8s-schemas" -mindepth 1 -maxdepth 1 ! -path "$SCHEMAS" -exec rm -rf {} + 2>/dev/null || true
  node scripts/k8s-schemas.ts --out "$SCHEMAS/$version" --kubernetes-version "$version" \
    --swagger "$kubernetes/api/openapi-spec/swagger.json" \
    --crd "$keda/config/crd/bases/keda.sh_scaledobjects.yaml" \
    --crd "$keda/config/crd/bases/keda.sh_triggerauthentications.yaml" \
    --crd "$operator/example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml"
  say "schemas built in $((SECONDS - began)) s"
done
for tree in "$SCHEMAS"/*; do
  [[ " ${KUBERNETES_VERSIONS[*]} " == *" $(basename "$tree") "* ]] || rm -rf "$tree"
done

say "$("$HELM" version --short), kubeconform $("$KUBECONFORM" -v), Kubernetes ${KUBERNETES_VERSIONS[*]} schemas"

# The chart and its stage chart move together; the two copies of the env rule must agree.
node --input-type=module -e '
  import { readFileSync } from "node:fs";
  import { parse } from "yaml";
  const [chart, stageChart, schema, stageSchema] = process.argv.slice(1).map((f) => readFileSync(f, "utf8"));
  const parent = parse(chart), stage = parse(stageChart);
  const problems = [];
  for (const field of ["version", "appVersion", "kubeVersion"]) {
    if (parent[field] !== stage[field]) problems.push(`Chart.yaml ${field} ${parent[field]} != stage chart ${stage[field]}`);
  }
  for (const dependency of parent.dependencies) {
    if (dependency.version !== stage.version) problems.push(`dependency ${dependency.alias} asks for stage ${dependency.version}`);
  }
  const env = (text) => { const e = { ...JSON.parse(text).$defs.env }; delete e.description; return JSON.stringify(e); };
  if (env(schema) !== env(stageSchema)) problems.push("$defs.env differs between the two values.schema.json files");
  for (const problem of problems) console.error(`helm-check: ${problem}`);
  process.exit(problems.length > 0 ? 1 : 0);
' "$CHART/Chart.yaml" "$CHART/charts/stage/Chart.yaml" "$CHART/values.schema.json" \
  "$CHART/charts/stage/values.schema.json" || die "the chart and its stage chart disagree"

# Helm warns on stderr about the symbolic link to policies/routing.yaml; that one line is expected.
quiet_helm() {
  "$HELM" "$@" 2> >(grep -v 'found symbolic link in path: .*/charts/stage/files/routing.yaml' >&2)
}

# The branches neither the defaults nor the example reach.
VARIANT_TLS=(
  --set global.topicNamespace=staging
  --set global.consumerGroups.sink=staging-archive
  --set global.kafka.securityProtocol=SSL
  --set global.kafka.tls.caSecret=kafka-ca
  --set global.metrics.podAnnotations=true
  --set sink.coldStorage.type=existingClaim
  --set sink.coldStorage.existingClaim=cold-archive
  --set sink.autoscaling.enabled=true
  --set priority-router.replicas=3
  --set ingestor.env.PF_SESSION_TIMEOUT_MS=60000
)
VARIANT_SASL=(
  --set global.kafka.securityProtocol=SASL_SSL
  --set global.kafka.sasl.mechanism=scram-sha-256
  --set global.kafka.sasl.existingSecret=kafka-user
  --set global.kafka.sasl.usernameKey=username
  --set global.registry.url=https://registry.apicurio.svc:8443/apis/ccompat/v7
  --set global.registry.tls.caSecret=registry-ca
  --set sink.coldStorage.type=emptyDir
  --set sink.podDisruptionBudget.enabled=false
  --set inference-tagger.autoscaling.enabled=true
  --set inference-tagger.autoscaling.minReplicaCount=0
  --set inference-tagger.autoscaling.activationLagThreshold=100
)

mkdir -p "$RENDERS"
say "helm lint --strict"
quiet_helm lint --strict --kube-version "$KUBERNETES_VERSION" "$CHART" >/dev/null ||
  die "helm lint failed on the default values"
quiet_helm lint --strict --kube-version "$KUBERNETES_VERSION" "$CHART" -f "$EXAMPLE" >/dev/null ||
  die "helm lint failed on $EXAMPLE"
quiet_helm lint --strict --kube-version "$KUBERNETES_VERSION" "$CHART" "${VARIANT_TLS[@]}" >/dev/null ||
  die "helm lint failed on the TLS variant values"
quiet_helm lint --strict --kube-version "$KUBERNETES_VERSION" "$CHART" "${VARIANT_SASL[@]}" >/dev/null ||
  die "helm lint failed on the SASL variant values"
quiet_helm lint --strict --kube-version "${KUBERNETES_VERSIONS[0]}" "$CHART" >/dev/null ||
  die "helm lint failed on Kubernetes ${KUBERNETES_VERSIONS[0]}, the oldest the chart admits"

render() { quiet_helm template patternflow "$CHART" --namespace patternflow --kube-version "$KUBERNETES_VERSION" "$@"; }
render >"$RENDERS/default.yaml" || die "helm template failed on the default values"
render -f "$EXAMPLE" >"$RENDERS/secure-scaled.yaml" || die "helm template failed on $EXAMPLE"
render "${VARIANT_TLS[@]}" >"$RENDERS/variant-tls.yaml" || die "helm template failed on the TLS variant values"
render "${VARIANT_SASL[@]}" >"$RENDERS/variant-sasl.yaml" || die "helm template failed on the SASL variant values"
RENDERED=("$RENDERS/default.yaml" "$RENDERS/secure-scaled.yaml" "$RENDERS/variant-tls.yaml" "$RENDERS/variant-sasl.yaml")

# kubeconform_on <Kubernetes version> <file>...
kubeconform_on() {
  local version=$1
  shift
  "$KUBECONFORM" -strict -summary -kubernetes-version "$version" \
    -schema-location "$SCHEMAS/$version/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json" \
    -schema-location "$SCHEMAS/$version/crds/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json" "$@"
}
kubeconform() { kubeconform_on "$KUBERNETES_VERSION" "$@"; }
for version in "${KUBERNETES_VERSIONS[@]}"; do
  say "kubeconform -strict, Kubernetes $version"
  kubeconform_on "$version" "${RENDERED[@]}" || die "kubeconform refused the rendered manifests for Kubernetes $version (above)"
done
# Every kind the chart can render must have been validated, none skipped for want of a schema.
for kind in Deployment StatefulSet Service ServiceAccount PodDisruptionBudget ConfigMap ScaledObject TriggerAuthentication ServiceMonitor; do
  grep -q "^kind: $kind\$" "${RENDERED[@]}" || die "no $kind in the renders: the check no longer covers it"
done

node scripts/helm-env-check.ts "${RENDERED[@]}" ||
  die "the rendered manifests disagree with the services' configuration (above)"

# --- The checks above can fail: each broken input below must be refused, for the stated reason.
# expect_failure <what> <text the refusal must contain> <command...>
expect_failure() {
  local what=$1 reason=$2 output
  shift 2
  if output=$("$@" 2>&1); then
    die "not refused: $what"
  fi
  grep -qF -- "$reason" <<<"$output" || die "refused for another reason than expected ($reason): $what: $output"
  say "refused, as it must be: $what: …$(awk -v r="$reason" 'i = index($0, r) { print substr($0, i > 90 ? i - 90 : 1, 90 + length(r) + 30); exit }' <<<"$output")…"
}
broken=$RENDERS/broken.yaml
# break_render <sed expression> <render>: the render with one deliberate mistake, in $broken.
break_render() {
  sed "$1" "$2" >"$broken"
  ! cmp -s "$2" "$broken" || die "the sed expression $1 changed nothing in $2: the broken input is not broken"
}
break_render 's/^  revisionHistoryLimit: 5$/  revisionHistoryLimits: 5/' "$RENDERS/default.yaml"
expect_failure "a misspelt Deployment field" "additional properties 'revisionHistoryLimits' not allowed" kubeconform "$broken"
break_render 's/^\( *\)periodSeconds: 10$/\1periodSeconds: "10"/' "$RENDERS/default.yaml"
expect_failure "a probe period given as a string" "periodSeconds': got string, want integer" kubeconform "$broken"
break_render 's/^  pollingInterval: 15$/  pollInterval: 15/' "$RENDERS/secure-scaled.yaml"
expect_failure "a misspelt ScaledObject field" "additional properties 'pollInterval' not allowed" kubeconform "$broken"
break_render 's/^    - parameter: password$/    - param: password/' "$RENDERS/secure-scaled.yaml"
expect_failure "a TriggerAuthentication entry without its parameter" "missing property 'parameter'" kubeconform "$broken"
expect_failure "more KEDA replicas than partitions" "above the 6 partitions of its input topics" \
  render --set inference-tagger.autoscaling.enabled=true --set inference-tagger.autoscaling.maxReplicaCount=7
expect_failure "more replicas than partitions" "above the 9 partitions of its input topics" \
  render --set sink.replicas=10
expect_failure "a connection variable in env" "PF_KAFKA_BROKERS" \
  quiet_helm lint --strict --kube-version "$KUBERNETES_VERSION" "$CHART" --set global.env.PF_KAFKA_BROKERS=kafka:9092
expect_failure "an unknown value" "additional properties 'replica' not allowed" \
  quiet_helm lint --strict --kube-version "$KUBERNETES_VERSION" "$CHART" --set sink.replica=2
expect_failure "SASL over plaintext (the services refuse credentials without TLS)" \
  "/global/kafka/securityProtocol': value must be one of 'PLAINTEXT', 'SSL', 'SASL_SSL'" \
  quiet_helm lint --strict --kube-version "$KUBERNETES_VERSION" "$CHART" --set global.kafka.securityProtocol=SASL_PLAINTEXT
render --set global.env.PF_COMPRESSION=brotli >"$broken"
expect_failure "a value the services refuse" 'PF_COMPRESSION must be one of' node scripts/helm-env-check.ts "$broken"
render --set-string global.policy='lanes: [hot]' >"$broken" 2>/dev/null
expect_failure "a policy that does not validate" "the routing policy does not load" node scripts/helm-env-check.ts "$broken"
rm -f "$broken"

say "valid: helm lint --strict and helm template on ${#RENDERED[@]} value sets, kubeconform -strict on Kubernetes ${KUBERNETES_VERSIONS[*]}, the services' configuration agrees; 11 broken inputs refused ($((SECONDS - started)) s)"
