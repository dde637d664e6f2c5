{{- define "mfa-authz.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "mfa-authz.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "mfa-authz.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mfa-authz.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "mfa-authz.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "mfa-authz.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "mfa-authz.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "mfa-authz.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "mfa-authz.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Fails rendering on values that cannot run. */}}
{{- define "mfa-authz.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.redis.enabled) -}}
{{- fail "replicaCount > 1 needs redis.enabled=true: the embedded directory store, verified sessions and lockout counters are per replica" -}}
{{- end -}}
{{- if .Values.redis.enabled -}}
{{- if and (not .Values.redis.url) (not .Values.redis.addresses) -}}
{{- fail "redis.enabled=true needs redis.url or redis.addresses" -}}
{{- end -}}
{{- end -}}
{{- $sources := 0 -}}
{{- if .Values.storeKey.existingSecret }}{{ $sources = add1 $sources }}{{ end -}}
{{- if .Values.storeKey.value }}{{ $sources = add1 $sources }}{{ end -}}
{{- if .Values.storeKey.generate }}{{ $sources = add1 $sources }}{{ end -}}
{{- if eq $sources 0 -}}
{{- fail "the store key is required: set storeKey.existingSecret (a Secret you created, e.g. from `openssl rand -hex 32`), storeKey.value, or storeKey.generate=true" -}}
{{- end -}}
{{- if gt $sources 1 -}}
{{- fail "set only one of storeKey.existingSecret, storeKey.value and storeKey.generate" -}}
{{- end -}}
{{- if and .Values.storeKey.value (not (regexMatch "^[0-9a-fA-F]{64}$" .Values.storeKey.value)) -}}
{{- fail "storeKey.value must be 64 hex characters (32 bytes)" -}}
{{- end -}}
{{- if and .Values.istio.authorizationPolicy.enabled (not .Values.istio.authorizationPolicy.selector) -}}
{{- fail "istio.authorizationPolicy.enabled needs istio.authorizationPolicy.selector (the protected workload's labels)" -}}
{{- end -}}
{{- if and .Values.istio.authorizationPolicy.enabled (not .Values.istio.authorizationPolicy.rules) -}}
{{- fail "istio.authorizationPolicy.enabled needs istio.authorizationPolicy.rules (which requests go to mfa-authz)" -}}
{{- end -}}
{{- end -}}

{{- define "mfa-authz.storeKeySecret" -}}
{{- if .Values.storeKey.existingSecret -}}
{{- .Values.storeKey.existingSecret -}}
{{- else -}}
{{- printf "%s-store-key" (include "mfa-authz.fullname" .) -}}
{{- end -}}
{{- end -}}

{{- define "mfa-authz.storeKeyItem" -}}
{{- if .Values.storeKey.existingSecret -}}
{{- .Values.storeKey.existingSecretKey -}}
{{- else -}}
store.key
{{- end -}}
{{- end -}}

{{/* The mfa-authz config file: the user's sections plus server and storage. */}}
{{- define "mfa-authz.config" -}}
{{- $server := dict
  "grpc_address" (printf "0.0.0.0:%d" (int .Values.ports.grpc))
  "http_address" (printf "0.0.0.0:%d" (int .Values.ports.http))
  "forward_auth_path" .Values.server.forwardAuthPath
  "envoy_http_prefix" .Values.server.envoyHttpPrefix
  "shutdown_timeout" .Values.server.shutdownTimeout
  "drain_delay" .Values.server.drainDelay -}}
{{- /* fsGroup makes the mounted key group-readable (0440); only the pod's user is in that group. */ -}}
{{- $storage := dict "key_file" "/run/secrets/mfa-authz/store.key" "allow_readable_key_file" true -}}
{{- if .Values.redis.enabled -}}
{{- $r := dict -}}
{{- with .Values.redis.url }}{{ $_ := set $r "url" . }}{{ end -}}
{{- with .Values.redis.addresses }}{{ $_ := set $r "addresses" . }}{{ end -}}
{{- if .Values.redis.cluster }}{{ $_ := set $r "cluster" true }}{{ end -}}
{{- with .Values.redis.sentinelMaster }}{{ $_ := set $r "sentinel_master" . }}{{ end -}}
{{- with .Values.redis.username }}{{ $_ := set $r "username" . }}{{ end -}}
{{- if .Values.redis.passwordSecret.name }}{{ $_ := set $r "password_file" "/run/secrets/mfa-authz-redis/password" }}{{ end -}}
{{- with .Values.redis.db }}{{ $_ := set $r "db" . }}{{ end -}}
{{- if .Values.redis.tls }}{{ $_ := set $r "tls" true }}{{ end -}}
{{- with .Values.redis.tlsServerName }}{{ $_ := set $r "tls_server_name" . }}{{ end -}}
{{- with .Values.redis.keyPrefix }}{{ $_ := set $r "key_prefix" . }}{{ end -}}
{{- with .Values.redis.poolSize }}{{ $_ := set $r "pool_size" . }}{{ end -}}
{{- with .Values.redis.dialTimeout }}{{ $_ := set $r "dial_timeout" . }}{{ end -}}
{{- with .Values.redis.readTimeout }}{{ $_ := set $r "read_timeout" . }}{{ end -}}
{{- $_ := set $storage "redis" $r -}}
{{- else -}}
{{- $_ := set $storage "path" "/var/lib/mfa-authz/store" -}}
{{- end -}}
{{- $cfg := deepCopy .Values.config -}}
{{- $_ := set $cfg "server" $server -}}
{{- $_ := set $cfg "storage" $storage -}}
{{- toYaml $cfg -}}
{{- end -}}

{{/* The config without what hot-reloads (policy, log level and decisions): a
change there reaches running pods through the mounted ConfigMap; anything else
changes this checksum and rolls the pods. */}}
{{- define "mfa-authz.restartChecksum" -}}
{{- $cfg := include "mfa-authz.config" . | fromYaml -}}
{{- $_ := unset $cfg "policy" -}}
{{- if hasKey $cfg "log" -}}
{{- $log := deepCopy (get $cfg "log") -}}
{{- $_ := unset $log "level" -}}
{{- $_ := unset $log "decisions" -}}
{{- $_ := unset $log "decision_sample_rate" -}}
{{- $_ := set $cfg "log" $log -}}
{{- end -}}
{{- toYaml $cfg | sha256sum -}}
{{- end -}}
