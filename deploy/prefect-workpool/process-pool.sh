#!/usr/bin/env bash
# The nightly deployment on a Prefect *process* work pool (docs/clusters.md, "Prefect work pool").
# Run it on the host that runs the flows, from any folder, with PREFECT_API_URL pointing at the
# Prefect server and this checkout's virtual environment installed (make install):
#
#   PREFECT_API_URL=http://prefect.internal:4200/api deploy/prefect-workpool/process-pool.sh
#   ... process-pool.sh --no-worker     # create the pool and register the deployment only
#
# 1. creates (or updates) the pool prefect.yaml names, 2. registers prefect.yaml's deployment
# (`flexiclip-nightly/nightly`, cron 02:00 Europe/London), 3. runs a worker in the foreground
# (under systemd: deploy/prefect-workpool/flexiclip-worker.service). The worker runs each flow
# run as a child process in this checkout; S3 credentials, AWS_ENDPOINT_URL and RAY_ADDRESS come
# from the worker's environment, never from this repository.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${PREFECT_API_URL:?set PREFECT_API_URL to the Prefect server, e.g. http://prefect.internal:4200/api}"
export PATH="$PWD/${FLEXICLIP_VENV:-.venv}/bin:$PATH"
POOL=flexiclip-process # the work_pool of prefect.yaml's deployment

prefect work-pool create "$POOL" --type process --overwrite
prefect --no-prompt deploy --all
if [ "${1:-}" = "--no-worker" ]; then
    exit 0
fi
exec prefect worker start --pool "$POOL" --type process
