"""The failed-nightly-run alert, as code: a Prefect automation that POSTs to a webhook.

Apply it (again: it replaces itself) to the Prefect server of ``PREFECT_API_URL``::

    FLEXICLIP_ALERT_WEBHOOK_URL=https://alerts.example/hook python deploy/prefect/alert_failed_run.py

It writes two objects to that server, nothing to the repository:

- a ``CustomWebhookNotificationBlock`` named ``flexiclip-nightly-alert``: a JSON POST
  ``{"subject": ..., "body": ...}`` to the webhook URL, read from the environment at apply time
  (a chat or pager relay, or any HTTP endpoint; it needs no internet access of its own);
- an automation ``flexiclip-nightly-failed``: when a flow run of ``flexiclip-nightly`` ends
  ``Failed`` or ``Crashed`` (more than ``max_failed_fraction`` of its clips failed, or the run
  could not proceed), send that notification, naming the run, its state message and its tags.

The server's triggers and actions services must run: ``prefect server start`` runs them unless
told ``--no-services`` (or ``PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED`` /
``PREFECT_SERVER_SERVICES_ACTIONS_ENABLED`` are false). See docs/pipeline.md §10.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any
from uuid import UUID

FLOW_NAME = "flexiclip-nightly"
BLOCK_NAME = "flexiclip-nightly-alert"
AUTOMATION_NAME = "flexiclip-nightly-failed"
URL_VARIABLE = "FLEXICLIP_ALERT_WEBHOOK_URL"

SUBJECT = "flexiclip nightly run {{ flow_run.name }} ended {{ flow_run.state.name }}"
BODY = (
    "flow run {{ flow_run.id }} ({{ flow_run.name }}) of {{ flow.name }}: {{ flow_run.state.name }}\n"
    "{{ flow_run.state.message }}\n"
    "tags: {{ flow_run.tags | join(', ') }}"
)


def automation(block_document_id: UUID) -> Any:
    """The automation (an `AutomationCore`) that sends the block's notification on a failed run."""
    from prefect.events.actions import SendNotification
    from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture

    return AutomationCore(
        name=AUTOMATION_NAME,
        description="Notify when a flexiclip nightly flow run ends Failed or Crashed.",
        trigger=EventTrigger(
            expect={"prefect.flow-run.Failed", "prefect.flow-run.Crashed"},
            match={"prefect.resource.id": "prefect.flow-run.*"},
            match_related={"prefect.resource.role": "flow", "prefect.resource.name": FLOW_NAME},
            posture=Posture.Reactive,
            threshold=1,
        ),
        actions=[SendNotification(block_document_id=block_document_id, subject=SUBJECT, body=BODY)],
    )


async def apply_alert(client: Any, url: str) -> UUID:
    """Create or replace the webhook block and the automation on ``client``'s server; the
    automation's id."""
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    block = CustomWebhookNotificationBlock(
        name=BLOCK_NAME,
        url=url,
        method="POST",
        json_data={"subject": "{{subject}}", "body": "{{body}}"},
    )
    block_id = await block.asave(BLOCK_NAME, overwrite=True, client=client)
    for old in await client.read_automations_by_name(AUTOMATION_NAME):
        await client.delete_automation(old.id)
    return await client.create_automation(automation(block_id))


async def remove_alert(client: Any) -> None:
    """Delete the automation (the block stays: it holds no run state)."""
    for old in await client.read_automations_by_name(AUTOMATION_NAME):
        await client.delete_automation(old.id)


async def _main() -> int:
    from prefect.client.orchestration import get_client

    url = os.environ.get(URL_VARIABLE, "").strip()
    if not url:
        print(f"error: set {URL_VARIABLE} to the webhook that receives the alert", file=sys.stderr)
        return 2
    async with get_client() as client:
        automation_id = await apply_alert(client, url)
    print(f"automation {AUTOMATION_NAME} ({automation_id}) notifies {BLOCK_NAME} on a failed {FLOW_NAME} run")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(_main()))
