"""How a grid landscape is split into shard jobs. Torch-free: the workflow imports it to build its DAG."""

from __future__ import annotations

from typing import Any


def shard_count(landscape: dict[str, Any]) -> int:
    """Shard jobs a grid landscape is split into: ceil(resolution**dim / shard_points), 1 when unsharded.

    ``landscape`` holds ``dim`` and ``resolution``; ``sampling`` (default "grid") and ``shard_points``
    (default None: never split) as in the config's landscape block. Scattered samples are never split.
    """
    if landscape.get("sampling", "grid") != "grid" or not landscape.get("shard_points"):
        return 1
    return -(-(int(landscape["resolution"]) ** int(landscape["dim"])) // int(landscape["shard_points"]))
