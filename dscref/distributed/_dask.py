"""The Dask plumbing of :mod:`dscref.distributed`: the lazy import, the client, a progress bar.

Dask is imported here, inside the functions, never at import time: ``import dscref`` and
``import dscref.distributed`` never need it (``pip install 'dscref[dask]'`` for the functions that
do).
"""

from __future__ import annotations

import logging

__all__ = ["import_dask", "get_client", "progress"]

log = logging.getLogger(__name__)


def import_dask():
    """The modules ``(dask, dask.array)``, imported on first use; ImportError naming the extra."""
    try:
        import dask
        import dask.array as da
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ImportError("dscref.distributed needs Dask: pip install 'dscref[dask]'") from exc
    return dask, da


def get_client(client):
    """The given dask.distributed Client, or the current default one."""
    try:
        from distributed import Client, default_client
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ImportError("dscref.distributed needs dask.distributed: pip install 'dscref[dask]'") from exc
    if client is not None:
        if not isinstance(client, Client):
            raise TypeError(f"client must be a dask.distributed Client, got {type(client).__name__}")
        return client
    try:
        return default_client()
    except ValueError:
        raise ValueError("no dask.distributed Client: start one (Client() for a local cluster, "
                         "Client('tcp://scheduler:8786') for a real one) or pass client=") from None


def progress(futures) -> None:
    """A tqdm bar over finishing futures (silent when logging is quiet)."""
    from distributed import as_completed
    from tqdm.auto import tqdm

    with tqdm(total=len(futures), desc="sharded build: shards written", leave=False,
              disable=not log.isEnabledFor(logging.INFO)) as bar:
        for _ in as_completed(futures):
            bar.update(1)
