{{- define "vitalgate.labels" -}}
app.kubernetes.io/name: vitalgate
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}

{{- define "vitalgate.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag }}
{{- end }}

{{/* The pod settings every role shares: the image as an unprivileged user, its env. */}}
{{- define "vitalgate.pod" -}}
securityContext:
  runAsNonRoot: true
  runAsUser: 10001
  runAsGroup: 10001
  fsGroup: 10001
  seccompProfile: {type: RuntimeDefault}
terminationGracePeriodSeconds: 30
{{- end }}

{{- define "vitalgate.container" -}}
image: {{ include "vitalgate.image" . }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
securityContext:
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  capabilities: {drop: [ALL]}
envFrom:
  - configMapRef: {name: {{ .Release.Name }}-env}
  - secretRef: {name: {{ .Values.secretName }}}
volumeMounts:
  - {name: data, mountPath: /var/lib/vitalgate}
  - {name: tmp, mountPath: /tmp}
{{- end }}

{{- define "vitalgate.volumes" -}}
volumes:
  - {name: data, emptyDir: {}}
  - {name: tmp, emptyDir: {}}
{{- end }}
