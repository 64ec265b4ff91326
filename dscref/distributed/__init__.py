"""A sharded DSC index built and searched with Dask (optional extra: ``pip install dscref[dask]``).

The paper stops at 1M images. With 100M-1B photos the database no longer fits one machine, but
the DSC index splits naturally: a query names five partitions (its semantic head), so an index
cut **by partition** into shards lets a query touch at most five shards. This package builds
such an index with :mod:`dask.distributed` and searches it:

* :mod:`~dscref.distributed.build` -- :func:`build_semantic_index_dask`: train on a sample on one
  worker, broadcast the model, encode every chunk in parallel, write one index file per shard
  (whole partitions, balanced by :func:`assign_shards`) and the manifest last;
* :mod:`~dscref.distributed.search` -- :class:`ShardedSearcher`: each head entry goes to the
  shard owning its partition; the merged result equals a single-index search exactly;
* :mod:`~dscref.distributed.sources` -- the rows as lazy dask arrays (:func:`features_from_npy`,
  :func:`synthetic_database`, :func:`synthetic_plan`) and the :func:`training_sample`;
* :mod:`~dscref.distributed.manifest` -- reading and validating ``manifest.json`` (every field
  typed and cross-checked, shard files confined to the index directory);
* ``_dask`` -- the lazy Dask import, the client, the progress bar.

Dask is imported lazily: ``import dscref`` and ``import dscref.distributed`` never need it.
"""

from __future__ import annotations

from .build import SAMPLE_NAME, assign_shards, build_semantic_index_dask
from .manifest import MANIFEST_NAME
from .search import ShardedSearcher
from .sources import features_from_npy, synthetic_database, synthetic_plan, training_sample

__all__ = ["training_sample", "assign_shards", "build_semantic_index_dask", "ShardedSearcher",
           "features_from_npy", "synthetic_database", "synthetic_plan", "MANIFEST_NAME", "SAMPLE_NAME"]
