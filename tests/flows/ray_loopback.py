"""`ray` CLI entry with the node-IP lookup pinned to 127.0.0.1 and multi-node clustering allowed.

Ray resolves a node's IP through a route lookup toward a public address, which replaces
``--node-ip-address=127.0.0.1``; with ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` it keeps loopback
but refuses a second node. Pinning the lookup and allowing clustering lets two ``ray start``
processes on one machine form a real two-node cluster over loopback (tests only).

Usage: ``python tests/flows/ray_loopback.py start --head ...`` (any `ray` subcommand).
"""

import sys

from ray._private import ray_constants, services

ray_constants.ENABLE_RAY_CLUSTER = True
services.node_ip_address_from_perspective = lambda *args, **kwargs: "127.0.0.1"

from ray.scripts.scripts import main  # noqa: E402  (after the patches: it reads them at call time)

sys.exit(main())
