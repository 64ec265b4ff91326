# %% [markdown]
# # 1. Quantizers: k-means and product quantization
#
# Deep Semantic Coding (Wang & Qi) sends a photo as a few bytes: the labels of a classifier and the
# **product-quantization (PQ) codes** of the photo's feature vector. Both the server's index and
# the payload rest on two quantizers, and this notebook builds them up from scratch:
#
# 1. **k-means** on 2-D points: centroids, Voronoi cells, the inertia falling at each iteration;
# 2. **product quantization**: cut a vector into M sub-vectors, run k-means in each sub-space,
#    store a vector as M small integers; its reconstruction error against M and nbits;
# 3. **asymmetric distance computation (ADC)**: distances from a query to millions of codes by
#    table look-ups, checked against brute force, with the lookup table drawn.
#
# Notebook 2 uses these pieces inside the paper's semantic index (where the equations of the paper
# get their numbers). About 10 minutes of reading; every cell runs in well under a second once the
# Numba kernels are compiled (the first call of each compiles it; later runs load it from a cache).

# %%
import numpy as np
import matplotlib.pyplot as plt

import dscref
from dscref.kmeans import KMeans
from dscref.pq import ProductQuantizer
from dscref.scoring import adc_l2, topk

plt.rcParams.update({"figure.figsize": (6, 4), "figure.dpi": 80})
print("dscref", dscref.__version__)

# %% [markdown]
# ## k-means on 2-D points
#
# Six Gaussian blobs of 300 points each. Everything random in this tutorial comes from a seeded
# `numpy.random.Generator`, so every number printed here is reproducible.

# %%
rng = np.random.default_rng(0)
centers = rng.uniform(-6, 6, size=(6, 2))
x2 = (centers[rng.integers(0, 6, 1800)] + rng.standard_normal((1800, 2))).astype(np.float32)
plt.scatter(x2[:, 0], x2[:, 1], s=3, c="0.4")
plt.title("1800 points in 2-D")
plt.gca().set_aspect("equal")
plt.show()

# %% [markdown]
# k-means looks for k centroids $c_1..c_k$ minimising the **inertia**, the summed squared distance
# of every point to its nearest centroid:
#
# $$J = \sum_{j=1}^{N} \min_{i} \|x_j - c_i\|_2^2 .$$
#
# Lloyd's algorithm alternates two steps: *assign* every point to its nearest centroid, then
# *update* every centroid to the mean of its points. Neither step can increase $J$.
# `dscref.kmeans.KMeans` implements it (k-means++ seeding by default); `fit` returns the model,
# with `centroids_` and the inertia after every assignment step in `inertia_history_`. Like faiss,
# it trains on a random sample of at most 256 points per centroid by default; with 1800 points and
# k = 6 that would be 1536 of them, so `max_points_per_centroid=None` makes it use them all.

# %%
km = KMeans(n_clusters=6, n_iter=30, tol=0, init="random", seed=7, max_points_per_centroid=None).fit(x2)
print("centroids_:", km.centroids_.shape, km.centroids_.dtype)
print("assignment steps run:", km.n_iter_)
print("inertia, first five steps:", np.round(km.inertia_history_[:5], 1))
print("final inertia:", round(km.inertia_, 1))

# %% [markdown]
# The inertia never increases (up to float32 rounding). Random seeding (`init="random"`: six
# random points) starts badly on purpose, so that the descent is visible:

# %%
hist = np.array(km.inertia_history_)
assert np.all(np.diff(hist) <= 1e-4 * hist[:-1]), "Lloyd's inertia went up"
plt.plot(np.arange(1, hist.size + 1), hist, "o-")
plt.xlabel("assignment step")
plt.ylabel("inertia J")
plt.title("k-means inertia per iteration")
plt.show()

# %% [markdown]
# Each centroid owns a **Voronoi cell**: the points of the plane nearer to it than to any other
# centroid. `predict` assigns points to cells, so predicting a fine grid draws them. Since the
# seeding depends only on the seed, stopping after 1, 2 and 4 steps, and at convergence (13 steps
# here: `n_iter=30` is only a cap), shows the centroids walking to the blobs.

# %%
gx, gy = np.meshgrid(np.linspace(-10, 10, 120), np.linspace(-10, 10, 120))
grid = np.c_[gx.ravel(), gy.ravel()].astype(np.float32)
fig, axes = plt.subplots(1, 4, figsize=(12, 3.2), sharey=True)
for ax, steps in zip(axes, [1, 2, 4, 30]):
    m = KMeans(n_clusters=6, n_iter=steps, tol=0, init="random", seed=7, max_points_per_centroid=None).fit(x2)
    ax.imshow(m.predict(grid).reshape(gx.shape), extent=(-10, 10, -10, 10), origin="lower",
              cmap="Pastel1", alpha=0.8)
    ax.scatter(x2[::3, 0], x2[::3, 1], s=1, c="0.3")
    ax.scatter(*m.centroids_.T, marker="x", s=80, c="k")
    ax.set_title(f"{steps} step(s): J = {m.inertia_:.0f}")
plt.tight_layout()
plt.show()

# %% [markdown]
# A quantizer built from k-means stores a point as the **index of its centroid**: with
# $k = 2^{\text{nbits}}$ centroids, nbits bits per point. Here k = 6 (3 bits would do), and the
# mean squared error of the reconstruction $x \approx c_{\text{index}(x)}$ is the inertia per point:

# %%
idx, d2 = km.predict(x2, return_distances=True)
mse = float(((x2 - km.centroids_[idx]) ** 2).sum(1).mean())
np.testing.assert_allclose(mse, km.inertia_ / len(x2), rtol=1e-5)
print(f"3-bit code per point, MSE {mse:.3f} (= inertia / N)")

# %% [markdown]
# ## Product quantization
#
# One k-means cannot describe a 2048-d feature with 64 bits: it would need $2^{64}$ centroids.
# Product quantization (Jégou, Douze & Schmid 2011) cuts a vector $x \in \mathbb{R}^d$ into M
# sub-vectors of $d/M$ dimensions,
#
# $$x = [s_1, s_2, \dots, s_M], \qquad s_m \in \mathbb{R}^{d/M},$$
#
# and runs one k-means of $2^{\text{nbits}}$ centroids **per sub-space**. The sub-codebooks
# $\mathcal{R}_m = \{r_m^1, \dots, r_m^{2^{\text{nbits}}}\}$ together give $2^{M \cdot \text{nbits}}$
# reconstructions for the price of $M \cdot 2^{\text{nbits}}$ stored sub-vectors. The paper writes
# this split and these codebooks as its eqs. 4-6, and applies them per partition: notebook 2.
# `dscref.pq.ProductQuantizer(M, nbits)` implements it: `fit`, `encode`, `decode`.
#
# The smallest example that can be drawn: 4-D points, M = 2 sub-spaces of 2 dimensions each.

# %%
rng = np.random.default_rng(1)
mix = rng.standard_normal((4, 4))
x4 = (rng.standard_normal((3000, 4)) @ mix + 2 * np.sign(rng.standard_normal((3000, 4)))).astype(np.float32)
pq4 = ProductQuantizer(M=2, nbits=4, seed=0).fit(x4)
print("codebooks_:", pq4.codebooks_.shape, "= (M, 2**nbits, d/M)")
codes4 = pq4.encode(x4)
print("codes:", codes4.shape, codes4.dtype, "  first point's code:", codes4[0])

# %% [markdown]
# Each sub-space has its own 16 codewords (crosses) and its own Voronoi cells; the code of a point
# is one cell index per sub-space. Point 0 (the star) is shown in both halves with its codewords:

# %%
fig, axes = plt.subplots(1, 2, figsize=(9, 4))
for m, ax in enumerate(axes):
    s = x4[:, 2 * m:2 * m + 2]
    ax.scatter(s[::3, 0], s[::3, 1], s=2, c=codes4[::3, m], cmap="tab20")  # every 3rd point
    ax.scatter(*pq4.codebooks_[m].T, marker="x", c="k", s=60)
    ax.scatter(*s[0], marker="*", s=250, c="red", edgecolors="k")
    ax.scatter(*pq4.codebooks_[m, codes4[0, m]], marker="o", s=120, facecolors="none", edgecolors="red")
    ax.set_title(f"sub-space m = {m + 1}: dims {2 * m}..{2 * m + 1}, code {codes4[0, m]}")
plt.tight_layout()
plt.show()

# %% [markdown]
# Decoding concatenates the chosen codewords, $\hat x = [r_1^{e_1}, \dots, r_M^{e_M}]$. Checked by
# hand for point 0:

# %%
by_hand = np.concatenate([pq4.codebooks_[m, codes4[0, m]] for m in range(2)])
np.testing.assert_array_equal(pq4.decode(codes4[:1])[0], by_hand)
print("x[0]     =", x4[0])
print("decoded  =", by_hand)

# %% [markdown]
# ### Reconstruction error against M and nbits
#
# Now a realistic shape: 4000 vectors of 64 dimensions with a decaying spectrum (like image
# features, a few directions carry most of the energy), L2-normalised. More sub-spaces (M) and
# more bits per sub-space (nbits) both lower the error; the code costs $M \cdot \text{nbits}$ bits.

# %%
rng = np.random.default_rng(2)
d = 64
basis = np.linalg.qr(rng.standard_normal((d, d)))[0]
x = (rng.standard_normal((4000, d)) * (1.0 / np.arange(1, d + 1) ** 0.5)) @ basis.T
x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
xt, xq = x[:3000], x[3000:]        # train / held-out
print(xt.shape, xq.shape, "mean squared norm", float((xq ** 2).sum(1).mean()))

# %%
rows = []
for M in (2, 4, 8, 16):
    for nbits in (2, 4, 6, 8):
        pq = ProductQuantizer(M=M, nbits=nbits, seed=0).fit(xt)
        err = float(((xq - pq.decode(pq.encode(xq))) ** 2).sum(1).mean())
        rows.append((M, nbits, M * nbits, err))
for M, nbits, bits, err in rows:
    if nbits == 8:
        print(f"M={M:2d} nbits=8: {bits:3d} bits per vector, held-out MSE {err:.4f}")

# %%
fig, ax = plt.subplots()
for nbits in (2, 4, 6, 8):
    r = [(bits, err) for M, nb, bits, err in rows if nb == nbits]
    ax.plot(*zip(*r), "o-", label=f"nbits = {nbits}")
    for (bits, err), M in zip(r, (2, 4, 8, 16)):
        ax.annotate(f"M={M}", (bits, err), fontsize=7, xytext=(3, 3), textcoords="offset points")
ax.set_xscale("log", base=2)
ax.set_xlabel("code size M * nbits (bits)")
ax.set_ylabel("held-out MSE  ||x - x_hat||^2")
ax.set_title("PQ reconstruction error (d = 64, unit vectors)")
ax.legend()
plt.show()

# %% [markdown]
# At equal code size, fewer wider sub-codebooks (larger nbits) win: M = 8, nbits = 8 beats
# M = 16, nbits = 4 (both 64 bits), because one k-means over 8 dimensions can follow correlations
# that two independent 4-D quantizers cannot. The price is training and table size, $2^{\text{nbits}}$
# codewords per sub-space. The paper uses nbits = 8 (one byte per sub-code) and M = 8.

# %%
best = {(M, nb): err for M, nb, _, err in rows}
print(f"64 bits: M=8 nbits=8 -> {best[8, 8]:.4f},  M=16 nbits=4 -> {best[16, 4]:.4f}")
assert best[8, 8] < best[16, 4]

# %% [markdown]
# ## Asymmetric distance computation (ADC)
#
# The server holds only codes. To rank them against a query $q$ it never decodes them: since
# $\|q - \hat x\|^2 = \sum_m \|q_m - r_m^{e_m}\|^2$, it computes once per query a **lookup table**
#
# $$T[m, j] = \|q_m - r_m^{j}\|_2^2, \qquad m = 1..M,\; j = 1..2^{\text{nbits}},$$
#
# (`ProductQuantizer.lut_l2`) and then scores each code by M look-ups and M additions,
# $\sum_m T[m, e_m]$ (`dscref.scoring.adc_l2`): O(M) per code instead of O(d). "Asymmetric"
# because the query stays exact and only the database is quantized. The paper's eq. 14 is this
# sum, with the query quantized too (notebook 2).

# %%
pq = ProductQuantizer(M=8, nbits=8, seed=0).fit(xt)
codes = pq.encode(xt)                     # the "database": 3000 codes of 8 bytes
q = xq[0]
lut = pq.lut_l2(q)
print("lookup table:", lut.shape, lut.dtype, "  database codes:", codes.shape, codes.dtype)

# %% [markdown]
# The table drawn: one row per sub-space, one column per codeword. A database code picks one
# cell per row (the red squares for database item 0); its ADC distance is the sum of those cells.

# %%
e = codes[0]
fig, ax = plt.subplots(figsize=(8, 2.6))
im = ax.imshow(lut, aspect="auto", cmap="viridis", interpolation="nearest")
ax.scatter(e, np.arange(8), marker="s", s=40, facecolors="none", edgecolors="red", linewidths=1.5)
ax.set_xlabel("codeword j")
ax.set_ylabel("sub-space m")
ax.set_title(f"T[m, j] = ||q_m - r_m^j||^2; item 0's code {e.tolist()}")
fig.colorbar(im, ax=ax)
plt.show()
print("picked cells:", np.round(lut[np.arange(8), e], 4))
print("their sum   :", round(float(lut[np.arange(8), e].sum()), 4))

# %% [markdown]
# The check the whole method rests on: the ADC distance **equals** the exact distance from the query
# to the decoded database vector (up to float32 rounding), for every code:

# %%
d_adc = adc_l2(lut, codes)
d_decoded = ((pq.decode(codes) - q) ** 2).sum(1)
np.testing.assert_allclose(d_adc, d_decoded, rtol=1e-4, atol=1e-6)
print("ADC == ||q - decode(code)||^2 for all", len(codes), "codes; item 0:", round(float(d_adc[0]), 4))

# %% [markdown]
# ### ADC against brute force
#
# What PQ loses is the difference between $\hat x$ and $x$. Against a brute-force search on the
# raw vectors, the 10 nearest neighbours by ADC overlap the true 10 nearest by this much
# (`dscref.scoring.topk` selects the k smallest scores; ties go to the smaller id):

# %%
luts = pq.lut_l2(xq)                                   # one table per query: (1000, 8, 256)
D_adc, I_adc = topk(adc_l2(luts, codes), 10)
exact = ((xq ** 2).sum(1)[:, None] - 2 * xq @ xt.T + (xt ** 2).sum(1)[None])
D_bf, I_bf = topk(exact.astype(np.float32), 10)
overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(I_adc, I_bf)])
r1 = np.mean([I_bf[i, 0] in I_adc[i] for i in range(len(xq))])
print(f"10-NN overlap ADC vs brute force: {overlap:.3f};  true nearest found in ADC top-10: {r1:.3f}")

# %% [markdown]
# Compression and speed are the trade: 8 bytes per vector instead of 256 (float32), and a scan
# of M look-ups per item. The scatter shows where the error comes from: ADC distances track the
# true ones, spread by the quantization noise of the database vectors.

# %%
plt.scatter(exact[:50].ravel(), adc_l2(luts[:50], codes).ravel(), s=1, alpha=0.3)
lim = [0, float(exact[:50].max())]
plt.plot(lim, lim, "k--", lw=1)
plt.xlabel("true ||q - x||^2")
plt.ylabel("ADC ||q - x_hat||^2")
plt.title("50 queries x 3000 database items")
plt.show()
print(f"bytes per vector: raw {4 * d}, PQ {pq.code_size}")

# %% [markdown]
# ## Exercises
#
# 1. **k-means++.** Fit the 2-D blobs with `init="k-means++"` (the default) and `init="random"`
#    for seeds 0..9. Compare the inertia after the first assignment step (`inertia_history_[0]`)
#    and at the end. How many runs of each reach the best inertia found (about 3264)?
# 2. **Where the energy goes.** The 64-d data above is a random rotation of independent
#    coordinates with decaying variances, so every 8-d sub-space gets about the same energy.
#    Rotate it to its principal axes (`x @ basis`: coordinates 0, 1, 2, ... by decreasing
#    variance) and compare the held-out MSE of `ProductQuantizer(M=8, nbits=8)`, and its error
#    per sub-space. Then interleave the principal axes so that sub-space m gets axes
#    m, m + 8, m + 16, ... Which basis wins, and why? (The idea behind OPQ's "eigenvalue allocation".)
# 3. **ADC vs SDC.** Quantize the query too (`pq.decode(pq.encode(q))`) and rank with that
#    table instead ("symmetric" distance). How much does the 10-NN overlap drop?

# %% solution
# Exercise 1: k-means++ starts far better (its seeds are spread out by design), but on these
# six blobs both seedings end in the same few local minima: a good start is not a guarantee.
for init in ("k-means++", "random"):
    runs = [KMeans(n_clusters=6, n_iter=30, init=init, seed=s, max_points_per_centroid=None).fit(x2)
            for s in range(10)]
    first = np.mean([r.inertia_history_[0] for r in runs])
    final = np.array([r.inertia_ for r in runs])
    print(f"{init:10s} mean first-step inertia {first:8.0f};  final {np.round(final).astype(int)};"
          f"  at the best (< 3270): {int((final < 3270).sum())}/10")

# %% solution
# Exercise 2: the basis decides how the 64 bits are spent. In PCA order, sub-space 1 holds most of
# the variance and its 256 codewords are not enough, while the last sub-spaces waste theirs on
# almost nothing. Interleaving the axes balances the sub-spaces AND leaves the coordinates inside
# each one uncorrelated: the lowest error of the three.
def held_out_mse(train, test):
    pq = ProductQuantizer(M=8, nbits=8, seed=0).fit(train)
    r2 = (test - pq.decode(pq.encode(test))) ** 2
    return float(r2.sum(1).mean()), r2.reshape(len(test), 8, -1).sum(2).mean(0)

interleave = np.arange(64).reshape(8, 8).T.ravel()      # sub-space m gets axes m, m+8, ...
for name, t in [("random rotation (as given)", np.eye(64)), ("PCA order", basis),
                ("PCA interleaved", basis[:, interleave])]:
    mse, per_sub = held_out_mse(xt @ t, xq @ t)
    print(f"{name:27s} MSE {mse:.4f}  per sub-space {np.round(per_sub, 3)}")

# %% solution
# Exercise 3: symmetric distances (the query quantized too) lose some accuracy
q_hat = pq.decode(pq.encode(xq))
D_sdc, I_sdc = topk(adc_l2(pq.lut_l2(q_hat), codes), 10)
overlap_sdc = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(I_sdc, I_bf)])
print(f"10-NN overlap: ADC {overlap:.3f}, SDC {overlap_sdc:.3f}")
