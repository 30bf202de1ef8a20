#!/usr/bin/env bash
# The nightly deployment on a Prefect *Kubernetes* work pool (docs/clusters.md). Documented, not
# tested here: it needs the prefect-kubernetes collection, a cluster and the KubeRay cluster of
# deploy/kuberay/raycluster.yaml. Each flow run becomes a Kubernetes Job whose pod runs the
# flow in flexiclip's image and joins the KubeRay cluster as the Ray driver.
#
#   pip install prefect-kubernetes    # where you run this script and in the worker's image
#   PREFECT_API_URL=... deploy/prefect-workpool/kubernetes-pool.sh
#   prefect worker start --pool flexiclip-kubernetes --type kubernetes   # in the cluster, with RBAC for Jobs
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${PREFECT_API_URL:?set PREFECT_API_URL to the Prefect server}"
POOL=flexiclip-kubernetes
template=$(mktemp)
trap 'rm -f "$template"' EXIT

# The default template, plus what its variables cannot express: the S3 Secret of
# deploy/kuberay/raycluster.yaml by reference (envFrom: its keys are the variables' names) and
# the read-only models volume the driver resolves the prior from.
prefect work-pool get-default-base-job-template --type kubernetes > "$template"
python - "$template" <<'PY'
import json
import sys

path = sys.argv[1]
template = json.load(open(path))
pod = template["job_configuration"]["job_manifest"]["spec"]["template"]["spec"]
container = pod["containers"][0]
container["envFrom"] = [{"secretRef": {"name": "flexiclip-s3"}}]
container["volumeMounts"] = [{"name": "models", "mountPath": "/models", "readOnly": True}]
pod["volumes"] = [{"name": "models", "persistentVolumeClaim": {"claimName": "flexiclip-models", "readOnly": True}}]
json.dump(template, open(path, "w"), indent=2)
PY
prefect work-pool create "$POOL" --type kubernetes --base-job-template "$template" --overwrite
prefect --no-prompt deploy --prefect-file deploy/prefect-workpool/kubernetes.prefect.yaml --all
