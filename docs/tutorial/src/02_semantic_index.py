# %% [markdown]
# # 2. The semantic index: partitions, residual PQ, the payload and its lookup tables
#
# Notebook 1 built k-means, product quantization (PQ) and asymmetric distances. Deep Semantic
# Coding puts them together around one idea: **let an image classifier partition the database**.
# The server files every database image under the classifier's top-1 label; the edge device sends
# its query's top-5 labels as a *code head* and, for each of those five partitions, the PQ code of
# the query relative to that partition. The server searches only those five partitions, with
# lookup tables.
#
# This notebook walks through section II-III of the paper on a small data set you can see whole,
# equation by equation (eqs. 1-6 and 11-15): each is quoted, computed with dscref's public API and,
# where the paper states an equality, checked numerically. About 12 minutes of reading.
#
# | step | paper | dscref |
# |---|---|---|
# | classifier probabilities, partition label | eqs. 1-2 | `dscref.features.classifier.Classifier` (here: simulated) |
# | partition centroid | eq. 3 | `dscref.index.SemanticIndex.train` |
# | per-partition residual PQ | eqs. 4-6 | `dscref.pq.ProductQuantizer`, one per partition |
# | code head, payload | eqs. 11-12 | `SemanticIndex.encode_query`, `dscref.codec.encode_payload` |
# | server's query, L2 and cosine tables | eqs. 13-15 | `dscref.index.tables`, `dscref.scoring` |

# %%
import warnings

import numpy as np
import matplotlib.pyplot as plt

from dscref.bitpack import bytes_to_bits, pack
from dscref.codec import PayloadLayout, decode_payload, encode_payload
from dscref.index import SemanticIndex
from dscref.index import tables
from dscref.pq import ProductQuantizer
from dscref.query import Query
from dscref.scoring import adc_cosine, adc_l2, topk

plt.rcParams.update({"figure.figsize": (6, 4), "figure.dpi": 80})
# tqdm (the training progress bar, off here) warns in kernels without ipywidgets: not our concern
warnings.filterwarnings("ignore", message="IProgress not found")
rng = np.random.default_rng(0)
print("ready")

# %% [markdown]
# ## A small database with semantic classes
#
# 20 000 "image features" in 64 dimensions, L2-normalised like the paper's GeM features, drawn around
# 16 class directions (think "church", "bridge", "dog", ...) with uneven class sizes. The real
# pipeline extracts 2048-d features from photos with a CNN (notebook 4); the indexing below does
# not care where the vectors come from.

# %%
K, d, n = 16, 64, 20_000
class_dir = rng.standard_normal((K, d))
class_dir /= np.linalg.norm(class_dir, axis=1, keepdims=True)
true_class = rng.choice(K, n, p=rng.dirichlet(np.full(K, 4.0)))
xb = class_dir[true_class] + 0.11 * rng.standard_normal((n, d))
xb = (xb / np.linalg.norm(xb, axis=1, keepdims=True)).astype(np.float32)
print("database:", xb.shape, xb.dtype, " images per class:", np.bincount(true_class, minlength=K))

# %% [markdown]
# ## Eqs. (1)-(2): the classifier decides the partition
#
# A classifier $\mathcal{M}_c$ (ResNet101 in the paper, EfficientNet-Lite0 in dscref's real
# pipeline: `dscref.features.classifier.Classifier.logits`) gives every database image
# $\mathbf{D}$ a probability per label (eq. 1),
#
# $$\mathbf{p} = \mathcal{M}_c(\mathbf{D}), \quad \mathbf{p} \in \mathbb{R}^K, \tag{1}$$
#
# and the image goes to the partition of its most probable label (eq. 2),
#
# $$i = \arg\max_i \mathbf{p}. \tag{2}$$
#
# Here the classifier is **simulated**: a softmax over similarities to the class directions plus a
# per-image "confusion" vector, noisy enough to be wrong about as often as a real ImageNet
# classifier (the paper counts on a top-5 accuracy near 95 %). A real classifier's mistakes depend
# on the photo, so a distorted copy of an image inherits most of its confusion (below).
# Notebook 4 runs the real one on photos.

# %%
def classifier(x, confusion):
    """Simulated M_c: class probabilities p (n, K) of features x (n, d), per-image confusion (n, K)."""
    logits = 10.0 * x @ class_dir.T + confusion
    p = np.exp(logits - logits.max(1, keepdims=True))
    return p / p.sum(1, keepdims=True)


confusion_b = 3.0 * rng.standard_normal((n, K))
p = classifier(xb, confusion_b)             # eq. (1)
labels = p.argmax(1)                        # eq. (2): the partition of every database image
ranked = np.argsort(-p, axis=1)
print(f"top-1 accuracy {np.mean(labels == true_class):.3f}, "
      f"top-5 accuracy {np.mean((ranked[:, :5] == true_class[:, None]).any(1)):.3f}")

# %%
fig, ax = plt.subplots(figsize=(6, 2.8))
ax.bar(np.arange(K), p[0], color=["C3" if k == labels[0] else "C0" for k in range(K)])
ax.set_xlabel("label i")
ax.set_ylabel("p_i")
ax.set_title(f"eq. 1 for database image 0 (true class {true_class[0]}); eq. 2 picks {labels[0]}")
plt.show()

# %% [markdown]
# The partitions are the classifier's, not the geometry's: a misclassified image sits in a
# partition far from its neighbours. A 2-D projection (the first two principal axes) coloured by
# partition shows both the clean groups and the strays:

# %%
u = np.linalg.svd(xb - xb.mean(0), full_matrices=False)[2][:2]
xy = (xb - xb.mean(0)) @ u.T
plt.scatter(xy[::8, 0], xy[::8, 1], s=2, c=labels[::8], cmap="tab20")
plt.title("database (every 8th image), coloured by partition label")
plt.show()
print(f"{np.mean(labels != true_class):.1%} of the images are filed under a wrong class")

# %% [markdown]
# ## Eq. (3): the centroid of each partition
#
# Each partition $\mathcal{W}_i$ gets one codeword $\mathbf{c}^i$, the point minimising the summed
# squared distance to its members (eq. 3):
#
# $$\mathbf{c}^i = \arg\min_{\mathbf{c}} \sum_{\mathbf{d}_j \in \mathcal{W}_i} \|\mathbf{d}_j - \mathbf{c}\|_2^2 . \tag{3}$$
#
# The minimiser is the partition's **mean**. (The paper writes $\mathbf{c} \in \mathcal{W}_i$,
# which would make it the best member, a medoid; dscref, like k-means and faiss, uses the mean,
# which is never worse: checked below.) `SemanticIndex(n_lists=K)` takes the labels as given, so
# training it computes eq. (3) for every partition, then the quantizers of the next section.

# %%
index = SemanticIndex(n_lists=K, M=8, nbits=8, seed=0, progress=False)
index.train(xb, labels).add(xb, labels)
print(f"ntotal {index.ntotal}, n_lists {index.n_lists}, centroids_ {index.centroids_.shape}")
for i in range(K):
    np.testing.assert_allclose(index.centroids_[i], xb[labels == i].mean(0), rtol=1e-5, atol=1e-6)
print("every centroid_ is its partition's mean (eq. 3)")

# %%
i = int(labels[0])
W = xb[labels == i]
cost = lambda c: float(((W - c) ** 2).sum())
medoid_cost = min(cost(w) for w in W)
print(f"partition {i}: {len(W)} images; summed squared distance to the mean {cost(index.centroids_[i]):.1f}, "
      f"to the best member {medoid_cost:.1f}")
assert cost(index.centroids_[i]) <= medoid_cost

# %% [markdown]
# ## Eqs. (4)-(6): one residual product quantizer per partition
#
# Inside partition $i$ every feature is stored relative to its centroid, as the **residual**
# $\mathbf{d} - \mathbf{c}^i$, and the residuals are product-quantized (notebook 1): split into M
# sub-vectors (eq. 4),
#
# $$\mathbf{d} = [\mathbf{s}_1, \dots, \mathbf{s}_M], \quad \mathbf{s}_m \in \mathbb{R}^{F/M}, \tag{4}$$
#
# each sub-space with its own sub-codebook of $2^L$ sub-codewords (eq. 5) and the partition's M
# sub-codebooks together (eq. 6):
#
# $$\mathcal{R}_m^i = \{\mathbf{r}_m^{i,1}, \dots, \mathbf{r}_m^{i,2^L}\}, \tag{5}$$
# $$\mathcal{R}^i = \{\mathcal{R}_1^i, \dots, \mathcal{R}_M^i\}. \tag{6}$$
#
# In dscref, partition $i$'s quantizer is `index.pqs_[index.list_pq_[i]]`, a fitted
# `dscref.pq.ProductQuantizer` (eqs. 4-6) whose `codebooks_` array (M, $2^L$, F/M) is $\mathcal{R}^i$.
# A partition with fewer training rows than $2^L$ cannot train 256 codewords, so such partitions
# share one quantizer, `pqs_[0]` (listed in `shared_pq_lists_`).

# %%
pq_i = index.pqs_[index.list_pq_[i]]
print(f"partition {i}: quantizer pqs_[{index.list_pq_[i]}], codebooks_ {pq_i.codebooks_.shape} "
      f"= (M, 2**L, F/M)")
print("quantizer of each partition:", index.list_pq_)
print("partitions sharing pqs_[0]:", index.shared_pq_lists_)

# %% [markdown]
# The stored code of database image 0 is the PQ code of its residual under its partition's
# quantizer; `index.codes_` holds all codes in partition order (`offsets_`, `ids_`). Encoding the
# residual by hand gives the same 8 bytes:

# %%
pos = int(np.flatnonzero(index.ids_ == 0)[0])
by_hand = pq_i.encode((xb[0] - index.centroids_[i])[None])[0]
np.testing.assert_array_equal(index.codes_[pos], by_hand)
print(f"image 0 is row {pos} of codes_, inside partition {i}'s rows "
      f"{index.offsets_[i]}..{index.offsets_[i + 1] - 1}; its code {by_hand.tolist()}")

# %% [markdown]
# Why residuals and one quantizer per partition? The residuals are smaller than the vectors and
# each partition's codebooks fit its own shape. Measured on 2000 **new** images (not used in
# training; each filed by the classifier, as a query would be), against a single PQ of the raw
# vectors with the same 8 bytes:

# %%
fresh_class = rng.choice(K, 2000)
fresh = class_dir[fresh_class] + 0.11 * rng.standard_normal((2000, d))
fresh = (fresh / np.linalg.norm(fresh, axis=1, keepdims=True)).astype(np.float32)
fresh_label = classifier(fresh, 3.0 * rng.standard_normal((2000, K))).argmax(1)
rec = np.empty_like(fresh)
for lab in range(K):
    m = fresh_label == lab
    pq = index.pqs_[index.list_pq_[lab]]
    rec[m] = index.centroids_[lab] + pq.decode(pq.encode(fresh[m] - index.centroids_[lab]))
flat_pq = ProductQuantizer(M=8, nbits=8, seed=0).fit(xb)
err_flat = float(((fresh - flat_pq.decode(flat_pq.encode(fresh))) ** 2).sum(1).mean())
err_dsc = float(((fresh - rec) ** 2).sum(1).mean())
print(f"held-out MSE, one PQ of raw vectors: {err_flat:.4f};  centroid + per-partition residual PQ: {err_dsc:.4f}")

# %% [markdown]
# ## Eq. (11): the code head
#
# Now the edge device. Its query photo $\mathbf{Q}$ goes through the same classifier, and the five
# most probable labels form the code head (eq. 11):
#
# $$\{i_1, i_2, \dots, i_5\} = \arg\max_i{}^5\; \mathbf{p}. \tag{11}$$
#
# (The paper's formula has $\mathbf{q}$ under the arg max, but the text means the classifier's
# probabilities of eq. 1.) In the real pipeline `dscref.features.classifier.Classifier.topk` gives
# them. Our 40 queries are distorted copies of database images, so each has one known "true match";
# each query keeps most of its original's classifier confusion, plus some of its own.

# %%
targets = rng.choice(n, 40, replace=False)
xq = xb[targets] + 0.06 * rng.standard_normal((40, d))
xq = (xq / np.linalg.norm(xq, axis=1, keepdims=True)).astype(np.float32)
p_q = classifier(xq, confusion_b[targets] + 1.0 * rng.standard_normal((40, K)))   # eq. (1) on the device
top5 = np.argsort(-p_q, axis=1)[:, :5]                                             # eq. (11)
hit = (top5 == labels[targets][:, None]).any(1)
print(f"the match's partition is in the head for {hit.mean():.0%} of the queries")
qi = int(np.flatnonzero(hit)[0])            # we follow a query whose head names its match's partition
print(f"query {qi}'s head: {top5[qi].tolist()};  its match, image {targets[qi]}, is in partition {labels[targets[qi]]}")

# %% [markdown]
# `encode_query` turns the feature and its head into a `dscref.query.Query`: the five labels and,
# for **each** head entry $i_j$, the PQ code $\mathbf{e}_j$ of $\mathbf{q} - \mathbf{c}^{i_j}$ under
# that partition's quantizer. The device holds all centroids and codebooks (the paper feeds them
# back to the device once); it does not know which partition holds the match, so it codes the
# query five times.

# %%
query = index.encode_query(xq[qi], top_labels=top5[qi])
print("labels:", query.labels.tolist())
print("codes (5, M):\n", query.codes)

# %% [markdown]
# ## Eq. (12): the payload, bit by bit and byte by byte
#
# The payload is the head followed by the five codes (eq. 12):
#
# $$\mathbf{x} \triangleq [\mathbf{h}, \mathbf{e}_1, \mathbf{e}_2, \dots, \mathbf{e}_5]. \tag{12}$$
#
# The head packs each label in $\lceil \log_2 K \rceil$ bits, most significant bit first
# (`dscref.bitpack.pack`), padded to whole bytes; each code is M bytes for $L = 8$.
# `dscref.codec.PayloadLayout.for_index` derives every size from the index and
# `dscref.codec.encode_payload` / `decode_payload` convert between a `Query` and bytes. With the
# paper's K = 1000 labels a head is $5 \times 10 = 50$ bits in 7 bytes, and the payload
# $7 + 5 \times 8 = 47$ bytes:

# %%
paper = PayloadLayout(head_size=5, label_bits=10, M=8, nbits=8, n_lists=1000)
print(f"paper layout: head {paper.head_bytes} bytes + {paper.n_codes} x {paper.code_bytes} bytes "
      f"= {paper.nbytes} bytes = {paper.nbits_total} bits")
layout = PayloadLayout.for_index(index)
print(f"our index (K = {K}, {index.label_bits}-bit labels): head {layout.head_bytes} bytes "
      f"+ {layout.n_codes} x {layout.code_bytes} = {layout.nbytes} bytes")

# %% [markdown]
# A paper-sized payload, drawn: a query with head labels (417, 3, 999, 512, 64) and the codes of
# our query. Each column is a byte, each row one of its 8 bits (MSB at the top); colour = field,
# dark = a 1 bit. The 10-bit labels straddle byte boundaries; the last 6 head bits are padding.

# %%
paper_query = Query(labels=np.array([417, 3, 999, 512, 64]), codes=query.codes)
payload = encode_payload(paper_query, paper)
bits = bytes_to_bits(payload)
field = np.empty(bits.size, dtype=int)             # 0..4 head slots, 5 padding, 6..10 codes e_1..e_5
field[:50] = np.repeat(np.arange(5), 10)
field[50:56] = 5
field[56:] = 6 + np.repeat(np.arange(5), 64)
colours = plt.get_cmap("tab20")([0, 2, 4, 6, 8, 15, 1, 3, 5, 7, 9])   # light shades: head, dark: codes
rgb = colours[field][:, :3] * np.where(bits[:, None] == 1, 0.55, 1.0)
fig, ax = plt.subplots(figsize=(10, 2.4))
ax.imshow(rgb.reshape(47, 8, 3).transpose(1, 0, 2), aspect="auto", interpolation="nearest")
ax.set_xticks(np.arange(0, 47, 2))
ax.set_yticks([0, 7], ["MSB", "LSB"])
ax.set_xlabel("byte")
for x0, name in [(3, "h: 5 labels x 10 bits"), (10.5, "e_1"), (18.5, "e_2"), (26.5, "e_3"), (34.5, "e_4"), (42.5, "e_5")]:
    ax.text(x0, -0.8, name, ha="center", fontsize=8)
ax.set_title("eq. 12: x = [h, e_1, ..., e_5], 47 bytes", pad=14)
plt.show()

# %% [markdown]
# The head's bytes, read by hand: the 50 bits are the five labels' 10-bit binary numerals, one
# after the other, and byte boundaries fall wherever they fall.

# %%
head_bits = "".join(map(str, bits[:56]))
for j, lab in enumerate(paper_query.labels):
    assert head_bits[10 * j:10 * j + 10] == format(lab, "010b")
    print(f"label {lab:3d} -> {head_bits[10 * j:10 * j + 10]}")
print("padding   ->", head_bits[50:56])
print("head bytes:", payload[:7].hex(" "), "   code e_1 bytes:", payload[7:15].hex(" "))
assert bytes(pack(paper_query.labels, 10)) == payload[:7]

# %% [markdown]
# The server decodes the bytes back into the same query (`decode_payload` also validates every
# label and reports anything a noisy channel broke: notebook 3):

# %%
received, report = decode_payload(encode_payload(query, layout), layout)
np.testing.assert_array_equal(received.labels, query.labels)
np.testing.assert_array_equal(received.codes, query.codes)
print(f"{layout.nbytes}-byte payload decoded: labels {received.labels.tolist()}, clean = {report.clean}")

# %% [markdown]
# ## Eq. (13): the server's version of the query
#
# The server never sees $\mathbf{q}$. For head entry $j$, naming partition $i = i_j$, it knows the
# query only as the centroid plus the decoded residual (eq. 13):
#
# $$\hat{\mathbf{q}}^i \triangleq \mathbf{c}^i + [\mathbf{r}_1^{i,q}, \mathbf{r}_2^{i,q}, \dots, \mathbf{r}_M^{i,q}]. \tag{13}$$
#
# Inside the index it is never materialised: `dscref.index.tables.query_rows` (through
# `tables.code_rows` for a hard code) turns the sub-codewords $\mathbf{r}_m^{i,q}$ directly into
# the lookup-table rows below. Building it by hand shows how close each head entry's version is:

# %%
for j, lab in enumerate(received.labels):
    pq = index.pqs_[index.list_pq_[lab]]
    q_hat = index.centroids_[lab] + pq.decode(received.codes[j][None])[0]        # eq. (13)
    print(f"head entry {j}: partition {lab:2d}, ||q - q_hat||^2 = {((xq[qi] - q_hat) ** 2).sum():.4f}, "
          f"||q - c||^2 = {((xq[qi] - index.centroids_[lab]) ** 2).sum():.4f}")

# %% [markdown]
# ## Eq. (14): L2 distances from a lookup table (SDC)
#
# A database item $\mathbf{d}$ of partition $i$ is stored as $\hat{\mathbf{d}} = \mathbf{c}^i + [\mathbf{r}_m^{i,d}]$.
# Both share $\mathbf{c}^i$, which cancels (eq. 14):
#
# $$\|\mathbf{q} - \mathbf{d}\|_2^2 \approx \|\hat{\mathbf{q}}^i - \hat{\mathbf{d}}\|_2^2 = \sum_{m=1}^{M} \|\mathbf{r}_m^{i,q} - \mathbf{r}_m^{i,d}\|_2^2 . \tag{14}$$
#
# Both sides are quantized, so this is a *symmetric* distance (SDC; notebook 1's ADC would need the
# raw query, which the server never receives): the table row
# $T[m, k] = \|\mathbf{r}_m^{i,q} - \mathbf{r}_m^{i,k}\|^2$ is row $e_m$ of the quantizer's
# codeword-pair table (`ProductQuantizer.sdc_table`), and every item costs M look-ups
# (`dscref.scoring.adc_l2`; inside the index `dscref.index.tables.code_rows` and
# `dscref.index.tables.l2_scores`). Head entry 0, by hand:

# %%
lab, e = int(received.labels[0]), received.codes[0].astype(np.int64)
p_idx = index.list_pq_[lab]
pq = index.pqs_[p_idx]
T = pq.sdc_table()[np.arange(index.M), e]                 # (M, 256): the query's rows
rows = slice(index.offsets_[lab], index.offsets_[lab + 1])
scores = adc_l2(T, index.codes_[rows])                     # eq. (14), M look-ups per item
q_hat = index.centroids_[lab] + pq.decode(e[None])[0]
d_hat_list = index.centroids_[lab] + pq.decode(index.codes_[rows])
brute = ((q_hat - d_hat_list) ** 2).sum(1)
np.testing.assert_allclose(scores, brute, rtol=1e-4, atol=1e-6)
print(f"partition {lab}: {scores.size} items; table sums == ||q_hat - d_hat||^2 (max diff "
      f"{np.abs(scores - brute).max():.1e})")

# %% [markdown]
# The index's NumPy path computes the same rows from the codebooks without the full pair table
# (`tables.code_rows`: M x ksub x dsub multiply-adds in a fixed order); the search engine makes
# each partition's pair table once, on first use, and then reads a query's rows from it:

# %%
sdc_rows, gram_rows = tables.code_rows(pq.codebooks_, index.sub_norm2_[p_idx], e)
np.testing.assert_allclose(sdc_rows, T, rtol=1e-4, atol=1e-5)
print("tables.code_rows == rows of pq.sdc_table():", sdc_rows.shape)

# %% [markdown]
# `index.search` does this for all five head entries and merges the candidates. Its answer equals a
# brute-force ranking of every candidate by $\|\hat{\mathbf{q}}^{i} - \hat{\mathbf{d}}\|^2$:

# %%
res = index.search(received, k=10)
cand_scores, cand_ids = [], []
for j, lab in enumerate(received.labels):
    pq = index.pqs_[index.list_pq_[lab]]
    rows = slice(index.offsets_[lab], index.offsets_[lab + 1])
    q_hat = index.centroids_[lab] + pq.decode(received.codes[j][None])[0]
    cand_scores.append(((q_hat - index.centroids_[lab] - pq.decode(index.codes_[rows])) ** 2).sum(1))
    cand_ids.append(index.ids_[rows])
D_bf, I_bf = topk(np.concatenate(cand_scores).astype(np.float32), 10, ids=np.concatenate(cand_ids))
np.testing.assert_array_equal(res.I[0], I_bf)
np.testing.assert_allclose(res.D[0], D_bf, rtol=1e-4, atol=1e-6)
print(f"{res.n_candidates[0]} candidates scanned; top-10 ids {res.I[0].tolist()}")
rank = res.I[0].tolist().index(targets[qi]) + 1 if targets[qi] in res.I[0] else "> 10"
print(f"the query's true match, image {targets[qi]}, is ranked {rank}")

# %% [markdown]
# One query's table, drawn: the five head entries' rows side by side would be five such images,
# each scanned only against its own partition's codes.

# %%
fig, ax = plt.subplots(figsize=(8, 2.4))
im = ax.imshow(T, aspect="auto", cmap="viridis", interpolation="nearest")
ax.scatter(e, np.arange(index.M), marker="s", s=30, facecolors="none", edgecolors="red")
ax.set_xlabel("sub-codeword k")
ax.set_ylabel("m")
ax.set_title("eq. 14 table T[m, k] = ||r_m^{i,q} - r_m^{i,k}||^2 (red: the query's own code, T = 0)")
fig.colorbar(im, ax=ax)
plt.show()

# %% [markdown]
# ## Eq. (15): cosine similarity from lookup tables
#
# For a cosine ranking the centroid no longer cancels. Split over sub-spaces
# ($\mathbf{c}_m^i$ is the centroid's m-th sub-vector), the paper writes (eq. 15):
#
# $$s(\hat{\mathbf{q}}^i, \hat{\mathbf{d}}) = \frac{\|\mathbf{c}^i\|_2^2 + \sum_{m=1}^{M} \left(\langle \mathbf{c}_m^i, \mathbf{r}_m^{i,q} \rangle + \langle \mathbf{c}_m^i, \mathbf{r}_m^{i,d} \rangle + \langle \mathbf{r}_m^{i,d}, \mathbf{r}_m^{i,q} \rangle\right)}{\sqrt{\sum_{m} \|\mathbf{c}_m^i + \mathbf{r}_m^{i,q}\|_2^2 \; \sum_{m} \|\mathbf{c}_m^i + \mathbf{r}_m^{i,d}\|_2^2}} . \tag{15}$$
#
# Every term is a precomputable table: $\langle \mathbf{c}_m^i, \mathbf{r}_m^{i,k}\rangle$ per
# partition (`index.cr_`), $\|\hat{\mathbf{d}}\|^2$ per item (`index.db_norm2_`, stored at `add`),
# and the query's $\langle \mathbf{r}_m^{i,q}, \mathbf{r}_m^{i,k}\rangle$ (the Gram rows of
# `tables.code_rows`). `dscref.index.tables.cosine_table` folds them into one table plus a constant
# and `dscref.scoring.adc_cosine` scans: $4M + 4$ operations per item. First, each term by hand
# for one item:

# %%
lab, e = int(received.labels[0]), received.codes[0].astype(np.int64)
pq, M = index.pqs_[index.list_pq_[lab]], index.M
c = index.centroids_[lab].reshape(M, -1).astype(np.float64)
rq = pq.codebooks_[np.arange(M), e].astype(np.float64)                  # r_m^{i,q}
item = index.offsets_[lab]                                              # first item of the partition
rd = pq.codebooks_[np.arange(M), index.codes_[item]].astype(np.float64)  # r_m^{i,d}
num = (c ** 2).sum() + ((c * rq).sum() + (c * rd).sum() + (rd * rq).sum())
den = np.sqrt(((c + rq) ** 2).sum() * ((c + rd) ** 2).sum())
q_hat, d_hat1 = (c + rq).ravel(), (c + rd).ravel()
np.testing.assert_allclose(num / den, q_hat @ d_hat1 / np.linalg.norm(q_hat) / np.linalg.norm(d_hat1), rtol=1e-10)
print(f"eq. 15 by its terms: {num / den:.6f} = cos(q_hat, d_hat)")

# %% [markdown]
# Then the table version for the whole partition, and the index's own cosine search, both against
# brute-force cosines of the decoded vectors:

# %%
_, gram = tables.code_rows(pq.codebooks_, index.sub_norm2_[index.list_pq_[lab]], e)
lut, bias = tables.cosine_table(index.cr_[lab], index.cnorm2_[lab], gram, e)
rows = slice(index.offsets_[lab], index.offsets_[lab + 1])
# ||q_hat||^2 = ||c||^2 + sum_m (2 <c_m, r_m^q> + ||r_m^q||^2): from the stored terms, no vector
q_norm2 = tables.code_norm2(index.cnorm2_[lab], index.cr_[lab], index.sub_norm2_[index.list_pq_[lab]], e)
np.testing.assert_allclose(q_norm2, q_hat @ q_hat, rtol=1e-5)
s_table = adc_cosine(lut, index.codes_[rows], bias, q_norm2, index.db_norm2_[rows])
D_hat = index.centroids_[lab] + pq.decode(index.codes_[rows])
s_brute = D_hat @ q_hat / np.linalg.norm(D_hat, axis=1) / np.linalg.norm(q_hat)
np.testing.assert_allclose(s_table, s_brute, rtol=1e-4, atol=1e-5)
res_cos = index.search(received, k=10, metric="cosine")
print("table cosines == brute force for", s_table.size, "items; cosine top-10:", res_cos.I[0].tolist())
print(f"{len(set(res_cos.I[0]) & set(res.I[0]))} of these 10 are also in the L2 top 10")

# %% [markdown]
# ## Does it retrieve?
#
# All 40 queries: encode, pack into bytes, unpack, search. The true match is found when the
# classifier put its partition into the head **and** the quantized distances rank it high.

# %%
found = []
for t, f, h in zip(targets, xq, top5):
    rx, _ = decode_payload(encode_payload(index.encode_query(f, top_labels=h), layout), layout)
    found.append(t in index.search(rx, k=10).I[0])
found = np.array(found)
print(f"match's partition in the head: {hit.mean():.0%};  match in the top 10: {found.mean():.0%}")
print(f"payload {layout.nbytes} bytes instead of {4 * d} bytes of float32 feature")

# %% [markdown]
# ## Exercises
#
# 1. **Head size.** Search every query with heads of 1, 2, ..., 8 labels (`np.argsort(-p)[:, :h]`
#    of the classifier's probabilities) and plot the share of queries whose match is in the top 10
#    against the payload size. This is the experiment behind the paper's Fig. 2 (notebook 5).
# 2. **Bit budget.** With `PayloadLayout`, tabulate the payload bytes for K = 1000 and K = 21843
#    (ImageNet-21k) labels, heads of 1, 5 and 10 labels, and M = 4, 8, 16. When does the head cost
#    more than the codes?
# 3. **One quantizer for all.** Build `SemanticIndex(..., pq_per_list=False)` (one residual PQ shared
#    by every partition, as IVFADC does) and compare its held-out reconstruction error and top-10
#    success with the per-partition index above.

# %% solution
# Exercise 1: a larger head finds more matches, at 10 bytes (4 bits + 8 bytes of code) per entry here
share, sizes = [], []
for h in range(1, 9):
    heads = np.argsort(-p_q, axis=1)[:, :h]
    lay = PayloadLayout.for_index(index, head_size=h)
    share.append(np.mean([t in index.search(index.encode_query(f, top_labels=hh), k=10).I[0]
                          for t, f, hh in zip(targets, xq, heads)]))
    sizes.append(lay.nbytes)
plt.plot(sizes, share, "o-")
for h, (s, v) in enumerate(zip(sizes, share), 1):
    plt.annotate(f"head {h}", (s, v), fontsize=7, xytext=(3, -10), textcoords="offset points")
plt.xlabel("payload bytes")
plt.ylabel("match in top 10")
plt.show()
print(dict(zip(range(1, 9), np.round(share, 2))))

# %% solution
# Exercise 2: the head grows with log2(K) per label, the codes with M per label
print("   K  head  M=4  M=8  M=16   (bytes)")
for K_ in (1000, 21843):
    bits_ = int(np.ceil(np.log2(K_)))
    for h in (1, 5, 10):
        sizes_ = [PayloadLayout(head_size=h, label_bits=bits_, M=M_, nbits=8, n_lists=K_).nbytes for M_ in (4, 8, 16)]
        head_ = PayloadLayout(head_size=h, label_bits=bits_, M=4, nbits=8, n_lists=K_).head_bytes
        print(f"{K_:5d} {h:4d}  {sizes_}   head alone {head_} bytes")
print("the head never costs more than the codes here: it would need label_bits > 8 * M bits per entry")

# %% solution
# Exercise 3: one shared residual quantizer for every partition
shared = SemanticIndex(n_lists=K, M=8, nbits=8, seed=0, progress=False, pq_per_list=False)
shared.train(xb, labels).add(xb, labels)
rec_s = np.empty_like(fresh)
for lab in range(K):
    m = fresh_label == lab
    rec_s[m] = shared.centroids_[lab] + shared.pqs_[0].decode(shared.pqs_[0].encode(fresh[m] - shared.centroids_[lab]))
found_s = np.mean([t in shared.search(shared.encode_query(f, top_labels=h), k=10).I[0]
                   for t, f, h in zip(targets, xq, top5)])
print(f"quantizers: per partition {len(index.pqs_)}, shared {len(shared.pqs_)}")
print(f"held-out MSE: per partition {err_dsc:.4f}, shared {((fresh - rec_s) ** 2).sum(1).mean():.4f}")
print(f"match in top 10: per partition {found.mean():.0%}, shared {found_s:.0%}")
