{{- define "vigil.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "vigil.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "vigil.selectorLabels" -}}
app.kubernetes.io/name: {{ include "vigil.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "vigil.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "vigil.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "vigil.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "vigil.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The pod template shared by the DaemonSet, the Deployment and the StatefulSet. */}}
{{- define "vigil.podTemplate" -}}
metadata:
  labels:
    {{- include "vigil.selectorLabels" . | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    # Roll the pods when the configuration changes.
    checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "vigil.serviceAccountName" . }}
  terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
  {{- with .Values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- if .Values.hostNetwork }}
  hostNetwork: true
  # Cluster DNS names (ClickHouse, Redis, ticket systems) still resolve on the host network.
  dnsPolicy: ClusterFirstWithHostNet
  {{- end }}
  securityContext:
    {{- toYaml .Values.podSecurityContext | nindent 4 }}
  {{- if and .Values.persistence.enabled (eq .Values.mode "daemonset") .Values.persistence.fixPermissions }}
  initContainers:
    # The kubelet creates a missing hostPath directory as root, 0755: hand it to Vigil's user
    # (only the directory itself, never what is already inside).
    - name: data-permissions
      image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      command: ["chown", "{{ .Values.podSecurityContext.runAsUser }}:{{ .Values.podSecurityContext.runAsGroup }}", "/var/lib/vigil"]
      securityContext:
        runAsUser: 0
        runAsNonRoot: false
        allowPrivilegeEscalation: false
        readOnlyRootFilesystem: true
        capabilities: { drop: [ALL], add: [CHOWN] }
      volumeMounts:
        - name: data
          mountPath: /var/lib/vigil
  {{- end }}
  containers:
    - name: vigil
      image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args: ["run", "--config", "/etc/vigil/vigil.yaml", "--data-dir", "/var/lib/vigil"]
      env:
        # The agent's identity in shared (Redis) state and in logs.
        - name: VIGIL_AGENT_ID
          valueFrom: { fieldRef: { fieldPath: metadata.name } }
        - name: VIGIL_NODE_NAME
          valueFrom: { fieldRef: { fieldPath: spec.nodeName } }
        {{- if .Values.presets.redis.enabled }}
        - name: VIGIL_REDIS_URL
          {{- if .Values.presets.redis.existingSecret }}
          valueFrom: { secretKeyRef: { name: {{ .Values.presets.redis.existingSecret }}, key: url } }
          {{- else }}
          value: {{ .Values.presets.redis.url | quote }}
          {{- end }}
        {{- end }}
        {{- if .Values.maxHeapMiB }}
        - name: NODE_OPTIONS
          value: "--max-old-space-size={{ .Values.maxHeapMiB }}"
        {{- end }}
        {{- with .Values.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      ports:
        {{- range $name, $p := .Values.ports }}
        - name: {{ $name }}
          containerPort: {{ $p.containerPort }}
          protocol: {{ $p.protocol | default "TCP" }}
          {{- if and $p.hostPort (eq $.Values.mode "daemonset") (not $.Values.hostNetwork) }}
          hostPort: {{ $p.hostPort }}
          {{- end }}
        {{- end }}
      {{- with .Values.probes.liveness }}
      livenessProbe:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.probes.readiness }}
      readinessProbe:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.probes.startup }}
      startupProbe:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      resources:
        {{- toYaml .Values.resources | nindent 8 }}
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      volumeMounts:
        - name: config
          mountPath: /etc/vigil/vigil.yaml
          subPath: vigil.yaml
          readOnly: true
        - name: data
          mountPath: /var/lib/vigil
        - name: tmp
          mountPath: /tmp
        {{- range .Values.secretMounts }}
        - name: {{ .name }}
          mountPath: {{ .mountPath }}
          readOnly: true
        {{- end }}
        {{- with .Values.extraVolumeMounts }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
  volumes:
    - name: config
      configMap:
        name: {{ include "vigil.fullname" . }}
    - name: tmp
      emptyDir: {}
    {{- if and .Values.persistence.enabled (eq .Values.mode "daemonset") }}
    - name: data
      hostPath:
        path: {{ .Values.persistence.hostPath }}
        type: DirectoryOrCreate
    {{- else if and .Values.persistence.enabled (eq .Values.mode "deployment") }}
    - name: data
      persistentVolumeClaim:
        claimName: {{ include "vigil.fullname" . }}
    {{- else if and .Values.persistence.enabled (eq .Values.mode "statefulset") }}
    {{- /* the StatefulSet's volumeClaimTemplates provide "data", one claim per replica */}}
    {{- else }}
    - name: data
      emptyDir: {}
    {{- end }}
    {{- range .Values.secretMounts }}
    - name: {{ .name }}
      secret:
        secretName: {{ .secretName }}
    {{- end }}
    {{- with .Values.extraVolumes }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with .Values.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}
