# %% [markdown]
# # 6. Scaling: index files, a sharded build, and what crosses the network
#
# The paper stops at 1M images. This notebook shows the three tools dscref has for going further,
# on a small synthetic database (20,000 items, 128-d) so that everything runs in seconds:
#
# 1. **one index file**, saved atomically and loaded memory-mapped (`dscref.io`);
# 2. **a sharded build** of the DSC index on a local Dask cluster (`dscref.distributed`),
#    whose search equals the single index's exactly;
# 3. **what crosses the network** during the build and at query time, in bytes.
#
# About 10 minutes of reading. The Dask part needs the `dask` extra (`pip install "dscref[dask]"`).

# %%
import pickle
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from dscref.index import SemanticIndex
from dscref.synthetic import make_semantic_dataset

plt.rcParams.update({"figure.figsize": (6, 4), "figure.dpi": 80})
warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm without ipywidgets
WORK = Path(tempfile.mkdtemp(prefix="dscref-scaling-"))  # scratch folder, removed at the end

data = make_semantic_dataset(20_000, d=128, seed=0)
print(f"database {data.xb.shape} {data.xb.dtype}, top-1 labels {data.labels_b.shape}; "
      f"{len(data.xq)} queries with their top-5 labels {data.topk_q.shape}")

# %% [markdown]
# ## One index, one file
#
# ``dscref.io.save_index`` writes any dscref index as one file: a 64-byte header, every array
# raw and 64-byte aligned, then a JSON manifest naming the class and every attribute (arrays by
# offset, dtype, shape and crc32). The write goes to a temporary file that replaces the target
# only when complete, so a crash never leaves half an index. ``dscref.io.load_index`` with
# `mmap=True` maps the arrays instead of reading them: opening costs milliseconds whatever the
# size, and pages are read when a query touches them.

# %%
from dscref.io import load_index, save_index, verify_index

index = SemanticIndex(n_lists=1000, M=8, nbits=8, seed=0, progress=False).build(data.xb, data.labels_b)
path = WORK / "dsc.dscidx"
save_index(index, path)
t0 = time.perf_counter()
loaded = load_index(path, mmap=True)
t_load = time.perf_counter() - t0
print(f"{path.name}: {path.stat().st_size / 2**20:.2f} MiB, loaded in {1e3 * t_load:.1f} ms")
print(f"codes_ {loaded.codes_.shape} {loaded.codes_.dtype}: a view of the file's mapping "
      f"(owns its data: {loaded.codes_.flags.owndata}, writeable: {loaded.codes_.flags.writeable})")

# %%
queries = [index.encode_query(q, top_labels=t) for q, t in zip(data.xq, data.topk_q)]
a, b = index.search(queries, k=100), loaded.search(queries, k=100)
assert np.array_equal(a.I, b.I) and np.array_equal(a.D, b.D)
print("the memory-mapped index returns the same ids and distances as the one in memory: checked")

# %% [markdown]
# The file is checked on every load (header, manifest checksum, sizes, every array's extent, and
# the index's own invariants); the arrays' crc32 are checked when the data is small or read
# anyway, and always by ``dscref.io.verify_index``. A damaged file raises
# `dscref.errors.IndexFormatError` naming the fault, never a wrong answer:

# %%
from dscref.errors import IndexFormatError

verify_index(path)
print("verify_index: every checksum matches")
bad = WORK / "damaged.dscidx"
raw = bytearray(path.read_bytes())
raw[len(raw) // 2] ^= 0xFF  # flip the bits of one byte in the array section
bad.write_bytes(bytes(raw))
try:
    verify_index(bad)
except IndexFormatError as e:
    print("IndexFormatError:", str(e)[:200])

# %% [markdown]
# ## Where the bytes of an index go
#
# Per item the index stores an 8-byte code (M = 8 sub-codes of 8 bits, `codes_`), an 8-byte id
# (`ids_`) and a 4-byte squared norm (`db_norm2_`, for eq. 15): 20 bytes. Per list it stores the
# partition mean (`centroids_`, `d` floats) and the terms ⟨c, r_mk⟩ of the lookup tables of
# eq. (14) (`cr_`, `M × 256` floats), whatever the number of items; per partition with its own
# quantizer the codebooks, `M × 256 × (d/M)` floats. With 20,000 items the per-list tables
# dominate; at 1M items and d = 2048, 988 partitions own a quantizer and the codebooks take
# 2 GB of a 2.15 GB file.

# %%
parts = {name: getattr(loaded, name).nbytes for name in ("codes_", "ids_", "db_norm2_", "centroids_", "cr_")}
parts["quantizer codebooks"] = sum(pq.codebooks_.nbytes for pq in loaded.pqs_)
parts["the rest (small tables, manifest)"] = path.stat().st_size - sum(parts.values())
for k, v in parts.items():
    print(f"{k:26s} {v / 1024:9.1f} KiB")
print(f"{len(loaded.own_pq_lists)} partitions own a quantizer, the others share one "
      f"({len(loaded.pqs_)} quantizers in all)")
fig, ax = plt.subplots(figsize=(6, 2.8))
ax.barh(list(parts), [v / 1024 for v in parts.values()])
ax.set(xlabel="KiB", title=f"{path.name}: {path.stat().st_size / 2**20:.2f} MiB for {loaded.ntotal:,} items")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## A sharded build with Dask
#
# A query names five partitions, so an index cut **by partition** lets a query touch at most five
# shards. ``dscref.distributed.build_semantic_index_dask`` builds one:
#
# 1. one pass over the labels counts the partitions and assigns them to shards, balancing items;
# 2. a seeded sample of the features goes to **one worker**, which trains the partition means
#    (eq. 3) and the residual quantizers (eqs. 4-6) with `SemanticIndex.train`;
# 3. the trained model is **replicated once** to every worker;
# 4. every chunk of features is encoded where it is read and split by shard;
# 5. one task per shard writes a complete `SemanticIndex` of its partitions with `save_index`;
#    the JSON manifest is written last.
#
# Here the cluster is two workers of one thread each, inside this process (`processes=False`:
# no process start-up; the workers still talk through Dask's communication layer, so the bytes
# they exchange are the bytes a real cluster would send). The features are read from a `.npy`
# file chunk by chunk (``dscref.distributed.features_from_npy``), as on a cluster with a shared
# file system.

# %%
from distributed import Client, LocalCluster

from dscref.distributed import ShardedSearcher, build_semantic_index_dask, features_from_npy, training_sample

np.save(WORK / "features.npy", data.xb)
np.save(WORK / "labels.npy", data.labels_b)
cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None)
client = Client(cluster)
x = features_from_npy(WORK / "features.npy", chunk_rows=5000)
y = features_from_npy(WORK / "labels.npy", chunk_rows=5000)
print(client)
print("features:", x)

# %%
SAMPLE = 10_000
t0 = time.perf_counter()
manifest = build_semantic_index_dask(x, y, WORK / "sharded", n_lists=1000, M=8, nbits=8, seed=0,
                                     sample_size=SAMPLE, n_shards=4, client=client)
print(f"built in {time.perf_counter() - t0:.1f} s:",
      ", ".join(f"{k} {v:.2f} s" for k, v in manifest["timings"].items()))
for s in manifest["shards"]:
    print(f"  {s['file']}: {len(s['partitions']):3d} partitions, {s['n_items']:5d} items, "
          f"{s['n_quantizers']} quantizers, {s['bytes'] / 2**20:.2f} MiB")

# %% [markdown]
# ## The same index, cut in four
#
# The shards hold exactly the codes a single machine computes when it trains on the same sample
# (``dscref.distributed.training_sample`` gives its ids), so
# ``dscref.distributed.ShardedSearcher`` returns exactly `SemanticIndex.search`: scores, ids,
# ties and candidate counts. The device side does not change: `encode_query` gives the same
# 47-byte query.

# %%
sample = training_sample(len(data.xb), SAMPLE, 0)
single = SemanticIndex(n_lists=1000, M=8, nbits=8, seed=0, progress=False)
single.train(data.xb[sample], data.labels_b[sample]).add(data.xb, data.labels_b)
local = ShardedSearcher(WORK / "sharded")  # client=None: the shards memory-mapped in this process
qs = [local.encode_query(q, t) for q, t in zip(data.xq, data.topk_q)]
ref = single.search([single.encode_query(q, top_labels=t) for q, t in zip(data.xq, data.topk_q)], k=100)
got = local.search(qs, k=100)
assert np.array_equal(got.I, ref.I) and np.array_equal(got.D, ref.D)
assert np.array_equal(got.n_candidates, ref.n_candidates)
print("sharded search == single-index search (ids, distances, candidate counts): checked")

# %%
on_cluster = ShardedSearcher(WORK / "sharded", client=client)  # each shard loaded once on a worker
t0 = time.perf_counter()
remote = on_cluster.search(qs, k=100)
print(f"{len(qs)} queries through the cluster in {time.perf_counter() - t0:.2f} s")
assert np.array_equal(remote.I, ref.I) and np.array_equal(remote.D, ref.D)
touched = [len({int(on_cluster.owner[l]) for l in q.labels}) for q in qs]
print(f"same result through Dask futures: checked; shards touched per query: mean {np.mean(touched):.1f} "
      f"of {manifest['n_shards']}, at most {max(touched)}")

# %% [markdown]
# ## What crossed the network
#
# Every Dask worker logs the data it sent: to another worker (a dependency of a task there) or
# to the client (a result), with Dask's *estimate* of each object's size (`dask.sizeof`).
# Grouping the log by task name shows the traffic of the build and of the searches above. The
# README's accounting for the real scale: the training sample once (`sample_size × d × 4`
# bytes), the trained model once per worker, about 24 bytes per item from the encoders to the
# shard writers (code, id, label), and at query time one `Query` per touched shard and
# k (score, id) pairs back. By design, **features stay on the worker that reads them**, except
# the sampled rows; the log shows how far that holds here.

# %%
from collections import defaultdict

from dask.utils import key_split

sent = defaultdict(int)
for worker, log in client.run(lambda dask_worker: list(dask_worker.transfer_outgoing_log)).items():
    for entry in log:
        to = "client" if entry["who"] is None else "worker"
        for key, nbytes in entry["keys"].items():
            sent[(key_split(key), to)] += nbytes
for (name, to), nbytes in sorted(sent.items(), key=lambda kv: -kv[1]):
    print(f"{name:34s} -> {to:6s} {nbytes / 1024:10.1f} KiB")
moved = sum(sent.values())
print(f"\nin all {moved / 2**20:.2f} MiB moved; the features are {data.xb.nbytes / 2**20:.2f} MiB, "
      f"the training sample {SAMPLE * data.xb.shape[1] * 4 / 2**20:.2f} MiB")

# %% [markdown]
# Reading the table:
#
# * `getitem`, `shuffle-*`: the training sample's rows gathered to the worker that trains.
# * `npy_block`: whole chunks read from the `.npy` files and then sent to the other worker,
#   because the scheduler placed a task needing a chunk (a sample piece, or the encoding of the
#   chunk, which also needs its labels) elsewhere than the read. How many move changes from run to
#   run (here between one and all four feature chunks): features *can* cross the network. The
#   README's per-item accounting assumes they stay; on a real cluster, measure the traffic this way.
# * `encode_block`: the per-shard pieces (codes, ids, labels) sent to the shard writers, about
#   24 bytes per item; `write_shard`, `label_counts`, `shard_summary`: small results for the client;
#   `search_one`: the searches' (score, id) lists.
# * `train`: the trained model replicated to the other worker, logged as 0.1 KiB because Dask
#   does not know the size of a `SemanticIndex` object and estimates it by `sys.getsizeof`. Its
#   real size, pickled, is below: the log undercounts it.
#
# Per query the traffic is tiny:

# %%
model_bytes = len(pickle.dumps(single))
q = qs[0]
table = {
    "model, once per worker": model_bytes,
    "one query's payload (eq. 12)": 7 + q.codes.nbytes,
    "the same Query object, pickled": len(pickle.dumps(q)),
    "k = 100 results (float32 score + int64 id)": 100 * (4 + 8),
}
for k, v in table.items():
    print(f"{k:45s} {v:>10,d} bytes")

# %%
fig, ax = plt.subplots(figsize=(6, 3))
bars = {"all features": data.xb.nbytes, "training sample": SAMPLE * data.xb.shape[1] * 4,
        "logged traffic (build + search)": moved, "model per worker": model_bytes,
        "codes to writers (24 B/item)": 24 * len(data.xb), "one query + results": 47 + 1200}
ax.barh(list(bars), list(bars.values()))
ax.set_xscale("log")
ax.set(xlabel="bytes (log scale)", title="20,000 items, d = 128")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Closing the cluster
#
# A `LocalCluster` holds threads (here) or processes; close the client and the cluster when done.

# %%
client.close()
cluster.close()
print("cluster closed:", cluster.status)

# %% [markdown]
# ## Exercises
#
# 1. The uniform sample gives a quantizer only to partitions with at least 256 sampled rows.
#    Rebuild with a stratified sample, `per_partition=300`, on a new `LocalCluster` (closed at
#    the end), and compare the number of quantizers (the manifest's `n_quantizers` per shard)
#    with the uniform build.

# %% solution
with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as c2, Client(c2) as cl2:
    m2 = build_semantic_index_dask(x, y, WORK / "stratified", n_lists=1000, seed=0, per_partition=300,
                                   n_shards=4, client=cl2)
print("quantizers, uniform sample:   ", sum(s["n_quantizers"] for s in manifest["shards"]),
      f"({manifest['sample_size']} rows)")
print("quantizers, per_partition=300:", sum(s["n_quantizers"] for s in m2["shards"]), f"({m2['sample_size']} rows)")

# %% [markdown]
# 2. With 16 shards instead of 4, how many shards would a query touch? Use
#    ``dscref.distributed.assign_shards`` on the partition sizes and the queries' heads.

# %% solution
from dscref.distributed import assign_shards

sizes = np.bincount(data.labels_b, minlength=1000)
for n_shards in (4, 16, 64):
    owner = assign_shards(sizes, n_shards)
    t = [len(set(owner[h].tolist())) for h in data.topk_q]
    print(f"{n_shards:3d} shards: a query touches {np.mean(t):.2f} on average (at most {max(t)})")

# %% [markdown]
# 3. At the paper's scale (d = 2048, K = 1000, M = 8, nbits = 8) how many bytes is the model
#    replicated to each worker if every partition owns a quantizer? Compare with the README's
#    "about 2 GB".

# %% solution
d, K, M, L = 2048, 1000, 8, 8
codebooks = K * M * 2 ** L * (d // M) * 4
centroids = K * d * 4
print(f"codebooks {codebooks / 1e9:.2f} GB + centroids {centroids / 1e6:.1f} MB = {(codebooks + centroids) / 1e9:.2f} GB")
shutil.rmtree(WORK)
