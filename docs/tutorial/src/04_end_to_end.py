# %% [markdown]
# # 4. End to end on real photos
#
# Notebooks 1-3 worked on vectors and bits. Here a **photo** goes the whole way of the paper:
#
# ```
# photo ──M_f──► q: GeM feature, eqs 8 and 10 ──┐
# photo ──M_c──► top-5 labels, eq 11 ───────────┴─► payload x = [h, e1..e5], eq 12 ──► channel ──► search ──► ranked photos
# ```
#
# The database is ten photos from `skimage.data`, five distorted copies of each, and twelve
# unrelated photos; each query is a new distorted copy of one of the ten. About 10 minutes of
# reading; the notebook runs in about 10 s (longer the first time, while Numba compiles).

# %%
import io
import os
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import skimage
from PIL import Image, ImageEnhance, ImageOps

import dscref
from dscref.features import Classifier, Extractor, gem, load_image

plt.rcParams.update({"figure.figsize": (6, 4), "figure.dpi": 80})
warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm without ipywidgets
print("dscref", dscref.__version__)

# %% [markdown]
# ## The two networks
#
# The device runs two ONNX models (through onnxruntime; dscref never imports PyTorch): a
# **feature extractor** `M_f` and an ImageNet **classifier** `M_c`. The real ones are
# EfficientNet-Lite0 with its published ImageNet weights, exported by
# `python models/export.py offline` (CI runs it before the tests). When they have not been
# exported, this notebook falls back to the **tiny test models** of `models/make_tiny.py`: random
# weights, so the pipeline runs but the labels mean nothing and the ranking is poor. The next cell
# says which ones you are looking at.

# %%
BUILD = Path("../../models/build")
GEM_ONNX, CLF_ONNX, MANIFEST = BUILD / "effnet-lite0-gem.onnx", BUILD / "effnet-lite0-classifier.onnx", BUILD / "manifest.json"
REAL = GEM_ONNX.is_file() and CLF_ONNX.is_file() and MANIFEST.is_file()
if REAL:
    extractor = Extractor(GEM_ONNX, size=362, manifest=MANIFEST, threads=1)
    classifier = Classifier(CLF_ONNX, size=224, manifest=MANIFEST, threads=1)
    print("REAL MODELS: EfficientNet-Lite0, ImageNet weights, checked against", MANIFEST)
else:
    import sys
    import tempfile

    sys.path.insert(0, "../../models")
    import make_tiny

    tiny = Path(tempfile.mkdtemp(prefix="dscref-tiny-"))
    extractor = Extractor(make_tiny.make_extractor(tiny / "gem.onnx", seed=0, channels=64), size=362, threads=1)
    classifier = Classifier(make_tiny.make_classifier(tiny / "clf.onnx", seed=0), size=224, threads=1)
    print("TINY TEST MODELS (random weights): the real models are absent; run "
          "`python models/export.py offline` and re-run this notebook for meaningful labels and rankings")
print(extractor)
print(classifier)

# %% [markdown]
# ## The photos
#
# Ten photos are the "landmarks"; each enters the database with five changed copies (a central
# crop, a mirror image, half the size, a JPEG at quality 25, 40 % brighter). Twelve other photos
# are distractors. A query is a **new** view of a landmark: an off-centre crop saved as a JPEG at
# quality 50. Its positives are the six database images of the same photo.

# %%
DATA = Path(os.path.dirname(skimage.__file__)) / "data"
PHOTOS = ["chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg", "motorcycle_left.png",
          "hubble_deep_field.jpg", "retina.jpg", "camera.png", "coins.png", "brick.png"]
DISTRACTORS = ["moon.png", "page.png", "text.png", "gravel.png", "grass.png", "color.png", "ihc.png",
               "cell.png", "horse.png", "clock_motion.png", "logo.png", "motorcycle_right.png"]


def jpeg(img, quality):
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def copies(img):
    """The five database copies of a photo."""
    w, h = img.size
    return [img.crop((w // 8, h // 8, w - w // 8, h - h // 8)), ImageOps.mirror(img),
            img.resize((w // 2, h // 2), Image.Resampling.BILINEAR), jpeg(img, 25),
            ImageEnhance.Brightness(img).enhance(1.4)]


def query_view(img):
    w, h = img.size
    return jpeg(img.crop((0, int(0.15 * h), int(0.8 * w), h)), 50)


originals = [load_image(DATA / p) for p in PHOTOS]
database, owner = [], []
for i, img in enumerate(originals):
    database += [img] + copies(img)
    owner += [i] * 6
database += [load_image(DATA / p) for p in DISTRACTORS]
owner = np.array(owner + [-1] * len(DISTRACTORS))
queries = [query_view(img) for img in originals]
gnd = [{"ok": np.flatnonzero(owner == i)} for i in range(len(PHOTOS))]
print(f"database: {len(database)} images ({len(PHOTOS)} photos x 6 + {len(DISTRACTORS)} distractors); "
      f"{len(queries)} queries, 6 positives each")


# %%
def thumbs(images, titles, ncols=6, size=1.3, colors=None):
    nrows = -(-len(images) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows * 1.1), dpi=60, squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for j, (im, t) in enumerate(zip(images, titles)):
        ax = axes.ravel()[j]
        ax.imshow(np.asarray(im.convert("RGB").resize((64, 64))))
        ax.set_title(t, fontsize=7, color="black" if colors is None else colors[j])
    fig.tight_layout()
    plt.show()


thumbs(database[:6] + [queries[0]], ["original", "crop", "mirror", "half size", "JPEG 25", "brighter", "QUERY"],
       ncols=7)

# %% [markdown]
# ## GeM pooling (eq. 8)
#
# A CNN backbone turns an image into a feature map of `C` channels on an `H × W` grid. The
# paper pools each channel `n` over its activations $\mathbf{X}_n$ with the generalised mean
#
# $$f_n = \left(\frac{1}{|\mathbf{X}_n|} \sum_{x \in \mathbf{X}_n} x^{p_n}\right)^{1/p_n}, \qquad (8)$$
#
# implemented by ``dscref.features.pooling.gem`` (exported as `dscref.features.gem`). `p = 1` is
# average pooling, `p → ∞` max pooling; retrieval networks use `p ≈ 3`, which lets the few
# strongest activations of a channel (the distinctive parts of the photo) dominate.

# %%
rng = np.random.default_rng(0)
fmap = rng.exponential(1.0, size=(1, 4, 7, 7)).astype(np.float32)  # a toy (n, C, H, W) map
np.testing.assert_allclose(gem(fmap, p=1), fmap.mean(axis=(2, 3)), rtol=1e-6)
np.testing.assert_allclose(gem(fmap, p=np.inf), fmap.max(axis=(2, 3)), rtol=1e-6)
ps = [1, 2, 3, 5, 10, 30, 100]
curve = np.array([gem(fmap, p)[0] for p in ps])
print("p = 1 is the mean, p = inf the max: checked")
for p, row in zip(ps, curve):
    print(f"p = {p:>3}: f = {np.round(row, 3)}")

# %%
fig, ax = plt.subplots()
for c in range(4):
    ax.semilogx(ps, curve[:, c], "o-", label=f"channel {c}")
    ax.axhline(fmap[0, c].max(), color=f"C{c}", ls=":", lw=0.8)
ax.axvline(3, color="k", lw=0.5)
ax.set(xlabel="GeM exponent p", ylabel="pooled value $f_n$", title="GeM moves from the mean (p=1) to the max (dotted)")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# ## The query feature (eq. 10)
#
# The extractor is the whole network `M_f`: backbone, GeM (p = 3, inside the ONNX graph for the
# real model) and L2 normalisation,
#
# $$\mathbf{q} = \mathcal{M}_f(\mathbf{Q}), \qquad (10)$$
#
# implemented by ``dscref.features.Extractor.extract``: an image (longer side resized to 362 px,
# ImageNet mean/std) in, one float32 row of unit norm out. The inner product of two rows is then
# their cosine similarity. (The paper's ResNet101-GeM gives 2048-d rows; EfficientNet-Lite0 gives
# 1280-d.)

# %%
xb = extractor.extract(database)
xq = extractor.extract(queries)
print("database features", xb.shape, xb.dtype, "| query features", xq.shape)
np.testing.assert_allclose(np.linalg.norm(xb, axis=1), 1.0, atol=1e-5)
print("every row has unit norm: checked")

# %%
sim = xq @ xb.T
fig, ax = plt.subplots(figsize=(7, 2.6))
im = ax.imshow(sim, aspect="auto", cmap="viridis")
ax.set(xlabel="database image (6 per photo, then 12 distractors)", ylabel="query", title="cosine similarity q · d")
fig.colorbar(im, ax=ax)
plt.show()
own = np.array([sim[i, owner == i].mean() for i in range(len(PHOTOS))])
other = np.array([sim[i, owner != i].mean() for i in range(len(PHOTOS))])
print(f"mean similarity to the query's own photo {own.mean():.3f}, to the others {other.mean():.3f}")

# %% [markdown]
# ## How `M_f` was trained: the contrastive loss (eq. 9)
#
# dscref does not train networks (it runs published weights), but the loss explains the
# geometry you just saw. Training shows the network pairs of images with a label
# $l(\mathbf{Q}, \mathbf{D}) = 1$ (same object) or 0, and minimises
#
# $$\mathcal{L}(\mathbf{Q}, \mathbf{D}) = \begin{cases} \frac{1}{2} \|\bar{\mathbf{q}} - \bar{\mathbf{d}}\|_2^2, & l = 1, \\ \frac{1}{2} \left(\max\{0, \tau - \|\bar{\mathbf{q}} - \bar{\mathbf{d}}\|_2\}\right)^2, & l = 0. \end{cases} \qquad (9)$$
#
# Matching pairs are pulled together; non-matching pairs are pushed apart only while they are
# closer than the margin τ, and cost nothing beyond it. It is *not implemented* in dscref
# (no function: see the README's equation map); the two branches are a few lines of NumPy:

# %%
def contrastive(q, d, match, tau=0.7):
    """Eq. (9) for a batch of pairs: q, d (n, D) unit rows, match (n,) bool."""
    dist = np.linalg.norm(q - d, axis=1)
    return np.where(match, 0.5 * dist ** 2, 0.5 * np.maximum(0.0, tau - dist) ** 2)


t = np.linspace(0, 2, 201)
fig, ax = plt.subplots()
ax.plot(t, 0.5 * t ** 2, label="l = 1 (match): $\\frac{1}{2}t^2$")
ax.plot(t, 0.5 * np.maximum(0, 0.7 - t) ** 2, label="l = 0 (non-match), τ = 0.7")
pos = [(i, j) for i in range(len(PHOTOS)) for j in np.flatnonzero(owner == i)]
neg = [(i, j) for i in range(len(PHOTOS)) for j in np.flatnonzero(owner != i)]
for pairs, c, name in ((pos, "C0", "our positive pairs"), (neg, "C1", "our negative pairs")):
    dist = np.linalg.norm(xq[[p[0] for p in pairs]] - xb[[p[1] for p in pairs]], axis=1)
    ax.plot(dist, np.full(len(dist), -0.05 if c == "C0" else -0.1), "|", color=c, label=name)
ax.set(xlabel="distance $t = \\|\\bar q - \\bar d\\|$ (unit vectors: 0 .. 2)", ylabel="loss", ylim=(-0.15, 1))
ax.legend(fontsize=8)
plt.show()

# %%
qi = np.array([p[0] for p in pos + neg])
di = np.array([p[1] for p in pos + neg])
match = np.arange(len(qi)) < len(pos)
loss = contrastive(xq[qi], xb[di], match)
print(f"mean loss of positive pairs {loss[match].mean():.4f}, of negative pairs {loss[~match].mean():.4f}")
print(f"negative pairs inside the margin (the only ones that would still train): "
      f"{np.count_nonzero(loss[~match] > 0)} of {np.count_nonzero(~match)}")

# %% [markdown]
# ## The classifier: partitions of the database (eqs. 1-2)
#
# The classifier gives the class probabilities of each database image, and the image goes to the
# partition of its most probable label:
#
# $$\mathbf{p} = \mathcal{M}_c(\mathbf{D}), \; \mathbf{p} \in \mathbb{R}^K, \qquad (1) \qquad\qquad i = \arg\max_i \mathbf{p}. \qquad (2)$$
#
# ``dscref.features.Classifier.logits`` gives the logits of eq. (1) (the softmax of which is
# `p`), ``dscref.features.Classifier.topk`` with `k=1` the label of eq. (2). The copies of a photo
# usually, but not always, get the same label: that is what decides whether a query finds them.

# %%
# a few ImageNet-1k names, written here (nothing is downloaded)
NAMES = {281: "tabby cat", 282: "tiger cat", 283: "Persian cat", 284: "Siamese cat", 285: "Egyptian cat",
         287: "lynx", 504: "coffee mug", 665: "moped", 670: "motor scooter", 872: "tripod", 967: "espresso",
         968: "cup"}
logits = classifier.logits(database)
p = np.exp(logits - logits.max(axis=1, keepdims=True))
p /= p.sum(axis=1, keepdims=True)
labels_b = classifier.topk(database, k=1)[0][:, 0]
assert np.array_equal(labels_b, p.argmax(axis=1))  # eq. (2) is the argmax of eq. (1)
print("logits", logits.shape, "-> top-1 label of each database image (eq. 2 == argmax of eq. 1: checked)")
for i, name in enumerate(PHOTOS):
    lab = labels_b[owner == i]
    print(f"  {name:22s} copies' labels {lab.tolist()}  {NAMES.get(int(lab[0]), '')}")

# %% [markdown]
# ## The query's head (eq. 11)
#
# On the device the query photo's **five** most probable labels form the semantic code head:
#
# $$\{i_1, i_2, \dots, i_5\} = \arg\max_i{}^{5}\, \mathbf{p}, \qquad (11)$$
#
# again ``dscref.features.Classifier.topk`` (`k=5`, sorted by probability, ties to the smaller
# label). Five 10-bit labels are packed MSB-first into the 7-byte head by
# ``dscref.codec.encode_payload``. The head names the five partitions the server searches.

# %%
heads, probs = classifier.topk(queries, k=5)
for i in (0, 1, 4, 7):
    shown = ", ".join(f"{l} {NAMES.get(int(l), '')} ({pr:.2f})".replace(" (", "(") for l, pr in zip(heads[i], probs[i]))
    hit = np.isin(labels_b[owner == i], heads[i]).sum()
    print(f"{PHOTOS[i]:20s} head: {shown}\n{'':20s} -> {hit} of its 6 database images are in those partitions")

# %%
fig, ax = plt.subplots(figsize=(6, 2.5))
ax.bar([str(l) for l in heads[0]], probs[0])
ax.set(xlabel="label (top-5 of the query photo)", ylabel="softmax probability", title=f"head of query 0 ({PHOTOS[0]})")
plt.show()
print(f"the head covers {probs[0].sum():.2f} of the probability mass")

# %% [markdown]
# ## The server's index
#
# `dscref.index.SemanticIndex` partitions the database by the top-1 labels (eq. 2), stores each
# partition's mean and a residual product quantizer (notebook 2). Our database has 72 images, far
# fewer than the 256 codewords a sub-codebook has at `nbits = 8`, so every partition shares one
# quantizer whose codewords are simply the database's own sub-vectors (the log line below says
# so): database items are stored exactly, and only the **query** is quantized. We keep the paper's
# `M = 8`, `nbits = 8`, `K = 1000` so that the payload is the paper's 47 bytes.

# %%
from dscref.index import SemanticIndex

index = SemanticIndex(n_lists=1000, M=8, nbits=8, seed=0, progress=False).build(xb, labels_b)
sizes = index.list_sizes()
print(f"{index.ntotal} items in {np.count_nonzero(sizes)} non-empty partitions of {index.n_lists}; "
      f"largest holds {sizes.max()}")

# %% [markdown]
# ## The payload (eq. 12)
#
# ``dscref.index.base.InvertedPQIndex.encode_query`` quantizes the feature's residual in each of
# the five named partitions; ``dscref.codec.encode_payload`` lays out
# $\mathbf{x} = [\mathbf{h}, \mathbf{e}_1, \dots, \mathbf{e}_5]$ (eq. 12): 7 head bytes, then
# 5 × 8 code bytes.

# %%
from dscref.codec import PayloadLayout, decode_payload, encode_payload

layout = PayloadLayout.for_index(index)
sent_queries = [index.encode_query(q, top_labels=h) for q, h in zip(xq, heads)]
payload = encode_payload(sent_queries[0], layout)
print(f"{layout.nbytes}-byte payload of query 0: head {payload[:7].hex(' ')} | codes {payload[7:].hex(' ')}")
back, report = decode_payload(payload, layout)
assert np.array_equal(back.labels, heads[0]) and np.array_equal(back.codes, sent_queries[0].codes)
print("decodes back to the same head and codes: checked")

# %% [markdown]
# ## Over the channel, then the search
#
# `dscref.link.Link` is the journey of notebook 3 written once: payload bits, QPSK symbols,
# AWGN (eq. 7), hard decisions, payload decoding (a received label outside `[0, K)` or repeated
# is dropped). The server searches what arrives with the lookup tables of eqs. (13)-(14).
# We send at a comfortable and at a poor Es/N0; the cell prints the theoretical QPSK bit error
# rate (``dscref.channel.theory.ber_modem``) beside the errors counted.

# %%
from dscref.channel import AWGN, esn0_to_ebn0
from dscref.channel.theory import ber_modem
from dscref.link import Link
from dscref.metrics import compute_map

rng = np.random.default_rng(0)
results = {}
for snr in (10.0, 4.0):
    out = Link(layout, "qpsk", AWGN(snr)).send(sent_queries, rng)
    res = index.search(out.queries, k=len(database))
    results[snr] = res
    print(f"Es/N0 {snr:4.1f} dB: theory BER {float(ber_modem(esn0_to_ebn0(snr, 'qpsk'), 'qpsk')):.1e}; "
          f"{out.bit_errors:3d} bit errors in {out.bits} bits, "
          f"{out.dropped_labels} head labels dropped, mAP {compute_map(res.I, gnd)[0]:.3f}")
    for i in (0, 1):
        print(f"   query {i}: head sent {heads[i].tolist()} received {out.received[i].labels.tolist()}")

# %% [markdown]
# ## The ranked photos
#
# The top eight for query 0 at 10 dB, green when the photo is the query's own (a positive),
# red otherwise. Below each, the L2 distance of eq. (14) (smaller is closer). Images outside the
# five named partitions are never scored: the result pads with `-1` after the candidates.

# %%
def show_ranking(res, i, k=8):
    ids = [j for j in res.I[i, :k] if j >= 0]
    thumbs([queries[i]] + [database[j] for j in ids],
           ["QUERY"] + [f"#{r + 1} d={res.D[i, r]:.2f}" for r in range(len(ids))],
           ncols=k + 1, colors=["black"] + ["green" if owner[j] == i else "red" for j in ids])
    print(f"query {i}: {res.n_candidates[i]} candidates scanned of {len(database)}; "
          f"positives in the top {k}: {sum(owner[j] == i for j in ids)} of 6")


show_ranking(results[10.0], 0)

# %%
show_ranking(results[10.0], 7)

# %%
show_ranking(results[4.0], 0)

# %% [markdown]
# ## What to take away
#
# * The feature (eq. 10) finds copies: positives sit closer than distractors. The head (eq. 11)
#   decides which images are even scored; a copy whose top-1 label (eq. 2) is not in the query's
#   top-5 is lost whatever its feature.
# * The payload is 47 bytes whatever the photo; bit errors in the head send the search to
#   the wrong partitions, which is why notebook 3's robust coding matters.
# * With the tiny test models (if that is what ran) the same code runs, but labels are noise.
#
# ## Exercises
#
# 1. Using `contrastive`, find the margin τ at which half of the negative pairs of this notebook
#    still contribute to the loss.

# %% solution
neg_dist = np.sort(np.linalg.norm(xq[qi[~match]] - xb[di[~match]], axis=1))
tau_half = np.median(neg_dist)
frac = np.mean(contrastive(xq[qi[~match]], xb[di[~match]], np.zeros((~match).sum(), bool), tau=tau_half + 1e-6) > 0)
print(f"tau = {tau_half:.3f}: {frac:.2f} of the negative pairs lie inside the margin")

# %% [markdown]
# 2. Shrink the head: encode every query with only its top-1 label (`top_labels=heads[:, :1]`,
#    `PayloadLayout.for_index(index, head_size=1)`). How many bytes is the payload, how many
#    candidates does a query scan, and what is the error-free mAP?

# %% solution
layout1 = PayloadLayout.for_index(index, head_size=1)
q1 = [index.encode_query(q, top_labels=h[:1]) for q, h in zip(xq, heads)]
r1 = index.search(q1, k=len(database))
r5 = index.search(sent_queries, k=len(database))
print(f"head 1: {layout1.nbytes} bytes, {r1.n_candidates.mean():.1f} candidates, mAP {compute_map(r1.I, gnd)[0]:.3f}")
print(f"head 5: {layout.nbytes} bytes, {r5.n_candidates.mean():.1f} candidates, mAP {compute_map(r5.I, gnd)[0]:.3f}")

# %% [markdown]
# 3. Plot the error-free mAP against the Es/N0 of the QPSK link from 0 to 12 dB (three channel
#    draws per point). Where does the curve reach the error-free value?

# %% solution
snrs = np.arange(0, 13, 2.0)
rng = np.random.default_rng(1)
maps = [np.mean([compute_map(index.search(Link(layout, "qpsk", AWGN(s)).send(sent_queries, rng).queries,
                                          k=len(database)).I, gnd)[0] for _ in range(3)]) for s in snrs]
clean = compute_map(r5.I, gnd)[0]
fig, ax = plt.subplots()
ax.plot(snrs, maps, "o-", label="over QPSK / AWGN")
ax.axhline(clean, color="k", ls=":", label=f"error-free {clean:.3f}")
ax.set(xlabel="Es/N0 (dB)", ylabel="mAP", title="10 queries, 3 draws per point")
ax.legend()
plt.show()
print(dict(zip(snrs.tolist(), np.round(maps, 3).tolist())))
