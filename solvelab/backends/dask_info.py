"""What a Dask client's scheduler knows about its workers, across distributed versions
(newer ones list only a few workers unless asked for all with ``n_workers=-1``). Used by
consensus ADMM (its blocks' workers) and the bench's Dask executor (its run slots)."""
from __future__ import annotations

import inspect


def scheduler_info(client) -> dict:
    """``client.scheduler_info()`` with every worker listed."""
    try:
        takes = "n_workers" in inspect.signature(client.scheduler_info).parameters
    except (TypeError, ValueError):
        takes = False
    return client.scheduler_info(n_workers=-1) if takes else client.scheduler_info()
