"""Which process runs a flow run, and marking runs whose process died as ``Crashed``.

A flow process that is SIGKILLed cannot report its end, so its flow run stays ``Running`` in
the Prefect API forever. Each nightly run therefore labels its flow run with its host, pid and
process start time (`claim_flow_run`), and at start marks ``Crashed`` every other ``Running``
run of the same flow whose labelled process on this host is gone (`crash_stale_flow_runs`).
Runs on other hosts, or without the label, are left alone: nothing here can tell they died.
The work itself is not lost: the new run adopts what the dead one staged (`tasks.plan`).
"""

from __future__ import annotations

import logging
import os
import socket
from uuid import UUID

from tasks.watchdog import process_start_time

log = logging.getLogger(__name__)

OWNER_LABEL = "flexiclip.process"
"""Flow-run label: ``HOST:PID:START_TICKS`` of the process running it."""


def owner_token() -> str:
    """``HOST:PID:START_TICKS`` of this process (start time tells a reused pid apart)."""
    return f"{socket.gethostname()}:{os.getpid()}:{process_start_time(os.getpid())}"


def owner_alive(token: str) -> bool | None:
    """Whether the process ``token`` names still runs; None when it is on another host or unreadable."""
    parts = token.rsplit(":", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    host, pid, start = parts
    if host != socket.gethostname():
        return None
    return str(process_start_time(int(pid))) == start


def claim_flow_run(flow_run_id: str) -> None:
    """Label the flow run with this process (see `OWNER_LABEL`); errors are logged, not raised."""
    from prefect.client.orchestration import get_client

    try:
        with get_client(sync_client=True) as client:
            client.update_flow_run_labels(UUID(flow_run_id), {OWNER_LABEL: owner_token()})
    except Exception as exc:  # a run without the label is only not recoverable as "Crashed"
        log.warning("could not label flow run %s with its process: %s", flow_run_id, exc)


def crash_stale_flow_runs(flow_name: str, current_run_id: str) -> list[str]:
    """Mark ``Crashed`` each ``Running`` run of ``flow_name`` whose labelled process here is gone.

    Returns the ids marked. Errors are logged, not raised: this is housekeeping.
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.states import Crashed

    marked: list[str] = []
    try:
        with get_client(sync_client=True) as client:
            runs = client.read_flow_runs(
                flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name])),
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.RUNNING]))
                ),
            )
            for run in runs:
                token = (run.labels or {}).get(OWNER_LABEL)
                if str(run.id) == current_run_id or not isinstance(token, str) or owner_alive(token) is not False:
                    continue
                pid = token.rsplit(":", 2)[1]
                message = (
                    f"its process (pid {pid} on {socket.gethostname()}) ended without reporting: killed; "
                    f"run {current_run_id} adopts the clips it staged"
                )
                client.set_flow_run_state(run.id, Crashed(message=message), force=True)
                log.warning("flow run %s (%s) marked Crashed: %s", run.id, run.name, message)
                marked.append(str(run.id))
    except Exception as exc:
        log.warning("could not check for crashed flow runs: %s: %s", type(exc).__name__, exc)
    return marked
