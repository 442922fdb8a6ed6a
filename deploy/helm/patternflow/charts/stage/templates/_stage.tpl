{{- /*
What differs between the four stages, in one place. The alias the parent chart gives this
chart is the stage (.Chart.Name); everything else follows from it.
  main         the service's entry file in the image (the image's entrypoint is node)
  port         PF_HTTP_PORT: /metrics, /healthz, /readyz (the stage's default port)
  topic        the one input topic KEDA measures, without namespace; empty when the stage reads
               several (the trigger then sums the lag of every topic the group has committed on)
  inputTopics  how many topics the group reads: the ingestor one per source pack, the tagger
               and the router two (the expedited lane and the rest), the sink one per lane of
               the routing policy (counted from the policy)
  policy       reads the routing policy (PF_POLICY_FILE): the router and the sink for its rules
               and lanes, the ingestor and the tagger for its `expedite:` conditions
  postgres     writes PostgreSQL (PF_PG_URL) and the cold files
  groupKey     the PF_GROUP_ID_<STAGE> suffix
*/ -}}
{{- define "stage.traits" -}}
{{- $traits := dict
  "ingestor" (dict "main" "services/ingestor/src/main.ts" "port" 9464 "topic" "" "inputTopics" 3 "policy" true "postgres" false "groupKey" "INGESTOR")
  "inference-tagger" (dict "main" "services/inference-tagger/src/main.ts" "port" 9465 "topic" "" "inputTopics" 2 "policy" true "postgres" false "groupKey" "INFERENCE_TAGGER")
  "priority-router" (dict "main" "services/priority-router/src/main.ts" "port" 9466 "topic" "" "inputTopics" 2 "policy" true "postgres" false "groupKey" "PRIORITY_ROUTER")
  "sink" (dict "main" "services/sink/src/main.ts" "port" 9467 "topic" "" "inputTopics" 0 "policy" true "postgres" true "groupKey" "SINK")
-}}
{{- $stage := get $traits .Chart.Name -}}
{{- if not $stage -}}
{{- fail (printf "the stage chart is used under the alias %q; it must be one of ingestor, inference-tagger, priority-router, sink" .Chart.Name) -}}
{{- end -}}
{{- if eq .Chart.Name "sink" -}}
{{- $_ := set $stage "inputTopics" (len (include "stage.policyDocument" . | fromYaml).lanes) -}}
{{- end -}}
{{- toYaml $stage -}}
{{- end -}}

{{- /* The routing policy text: global.policy, or the repository's policies/routing.yaml. */ -}}
{{- define "stage.policy" -}}
{{- .Values.global.policy | default (.Files.Get "files/routing.yaml") -}}
{{- end -}}

{{- define "stage.policyDocument" -}}
{{- $policy := include "stage.policy" . | fromYaml -}}
{{- if or (hasKey $policy "Error") (not (kindIs "slice" $policy.lanes)) (empty $policy.lanes) -}}
{{- fail "global.policy must be a routing policy in YAML with a non-empty `lanes` list (docs/routing.md)" -}}
{{- end -}}
{{- toYaml $policy -}}
{{- end -}}

{{- /* <release>-<stage>, or <release>-patternflow-<stage> when the release name does not say patternflow. */ -}}
{{- define "stage.fullname" -}}
{{- $base := .Release.Name -}}
{{- if not (contains "patternflow" $base) -}}
{{- $base = printf "%s-patternflow" $base -}}
{{- end -}}
{{- printf "%s-%s" $base .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "stage.selectorLabels" -}}
app.kubernetes.io/name: patternflow
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: {{ .Chart.Name }}
{{- end -}}

{{- define "stage.labels" -}}
{{ include "stage.selectorLabels" . }}
app.kubernetes.io/part-of: patternflow
app.kubernetes.io/version: {{ include "stage.imageTag" . | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "patternflow-stage-%s" .Chart.Version }}
{{- end -}}

{{- define "stage.imageTag" -}}
{{- .Values.global.image.tag | default .Chart.AppVersion -}}
{{- end -}}

{{- /* `[<namespace>.]<name>`, as topicNames() in libs/records names topics. */ -}}
{{- define "stage.topic" -}}
{{- $namespace := .root.Values.global.topicNamespace -}}
{{- if $namespace }}{{ printf "%s.%s" $namespace .name }}{{ else }}{{ .name }}{{ end -}}
{{- end -}}

{{- /* The consumer group of a stage, as groupIdOf() in libs/service computes it. */ -}}
{{- define "stage.groupId" -}}
{{- $override := get .root.Values.global.consumerGroups .stage | default "" -}}
{{- if $override -}}
{{- $override -}}
{{- else -}}
{{- include "stage.topic" (dict "root" .root "name" (printf "patternflow.%s" .stage)) -}}
{{- end -}}
{{- end -}}

{{- /* Partitions of this stage's input topics: the most replicas that get work. */ -}}
{{- define "stage.inputPartitions" -}}
{{- $stage := include "stage.traits" . | fromYaml -}}
{{- if kindIs "invalid" .Values.inputPartitions -}}
{{- mul $stage.inputTopics .Values.global.topicPartitions -}}
{{- else -}}
{{- .Values.inputPartitions -}}
{{- end -}}
{{- end -}}

{{- /*
PF_* for this stage: global.env, then the stage's own env over it, as strings. Helm reads
every number of a values file as a float, which toString prints in exponent form past six
digits (PF_MAX_FETCH_BYTES: 8388608 would become "8.388608e+06"): whole numbers are printed
as integers.
*/ -}}
{{- define "stage.userEnv" -}}
{{- $env := merge (deepCopy (.Values.env | default dict)) (deepCopy (.Values.global.env | default dict)) -}}
{{- range $name, $value := $env }}
{{- $text := toString $value }}
{{- if and (kindIs "float64" $value) (eq $value (float64 (int64 $value))) }}
{{- $text = toString (int64 $value) }}
{{- end }}
{{ $name }}: {{ $text | quote }}
{{- end -}}
{{- end -}}

{{- define "stage.kafkaUsesSasl" -}}
{{- if hasPrefix "SASL_" .Values.global.kafka.securityProtocol }}true{{ end -}}
{{- end -}}

{{- define "stage.kafkaUsesTls" -}}
{{- if has .Values.global.kafka.securityProtocol (list "SSL" "SASL_SSL") }}true{{ end -}}
{{- end -}}

{{- /*
The stage's drain time: on SIGTERM runMain (libs/service) finishes the chunk in flight, commits
and leaves the group, and exits on its own after PF_SESSION_TIMEOUT_MS + 10 s at the latest.
The pod gets 5 s more than that before the kubelet's SIGKILL, so a drain is never cut short.
*/ -}}
{{- define "stage.terminationGracePeriodSeconds" -}}
{{- $env := include "stage.userEnv" . | fromYaml | default dict -}}
{{- $sessionTimeoutMs := get $env "PF_SESSION_TIMEOUT_MS" | default "30000" | atoi -}}
{{- add (div (add $sessionTimeoutMs 999) 1000) 15 -}}
{{- end -}}
