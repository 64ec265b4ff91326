# %% [markdown]
# # 3. The channel: noise, bits, LLRs, and what errors do to a payload
#
# Notebook 2 ended with a 47-byte payload $\mathbf{x} = [\mathbf{h}, \mathbf{e}_1, \dots, \mathbf{e}_5]$
# on the edge device. This notebook sends things through the paper's channel, an additive white
# Gaussian noise (AWGN) channel, and looks at what arrives:
#
# 1. the channel itself, analog: a feature vector plus noise;
# 2. digital: bits to constellation points and back, with noise clouds, log-likelihood ratios
#    (LLRs), and the bit error rate (BER) against theory;
# 3. what one bit error does to a head label and to a PQ code;
# 4. two remedies that cost no extra bits, shown on one code: robust index assignment and
#    soft-decision decoding.
#
# About 12 minutes of reading. The channel code (CRC + convolutional code) and the whole link are
# in the README ("Sending a payload over a channel") and notebook 4.

# %%
import numpy as np
import matplotlib.pyplot as plt

from dscref.assignment import apply_permutation, assignment_distortion, permute_codes, robust_permutation
from dscref.bitpack import bits_to_bytes, bytes_to_bits
from dscref.channel import (AWGN, Modem, ber_modem, ebn0_to_esn0, transmit_analog, transmit_bits,
                            transmit_symbols)
from dscref.codec import PayloadLayout, decode_payload, encode_payload
from dscref.pq import ProductQuantizer
from dscref.query import Query
from dscref.scoring import adc_l2, topk
from dscref.soft import hard_codes, posteriors, soft_lut_l2

plt.rcParams.update({"figure.figsize": (6, 4), "figure.dpi": 80})
rng = np.random.default_rng(0)
print("ready")

# %% [markdown]
# ## Eq. (7): the AWGN channel
#
# For an input $\mathbf{x} \in \mathbb{R}^B$ ($B$ channel uses), the channel adds independent
# Gaussian noise (eq. 7):
#
# $$\mathbf{y} = \mathbf{x} + \boldsymbol{\eta}, \qquad \boldsymbol{\eta} \sim \mathcal{N}(\mathbf{0}, \sigma^2 \mathbf{I}_B), \tag{7}$$
#
# at an SNR of $P / \sigma^2$. `dscref.channel.AWGN(snr_db)` is this channel ($P = 1$, so
# $\sigma^2 = 10^{-\text{SNR}/10}$, its `noise_var`). `dscref.channel.transmit_analog` sends real
# vectors through it, each scaled to unit power first and scaled back at the receiver (the scale
# $g$ is side information); `dscref.channel.transmit_bits` sends bits through a modem (below), and
# `dscref.link.Link` the whole payload. First the analog case, as in the paper's Fig. 3 "analog"
# curves: 2000 unit-norm 64-d features at 10 dB.

# %%
x = rng.standard_normal((2000, 64))
x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
ch = AWGN(10.0)
res = transmit_analog(x, ch, rng)
eta = (res.received - x) / res.scale[:, None]          # the noise, in the channel's unit-power units
print(f"sigma^2 = {ch.noise_var:.4f}; measured noise variance {eta.var():.4f}, mean {eta.mean():+.4f}")
print(f"channel uses: {res.uses_per_vector} per vector (one real number per use)")
np.testing.assert_allclose(eta.var(), ch.noise_var, rtol=0.02)

# %% [markdown]
# What that does to retrieval-sized quantities: the received feature's squared error and its
# cosine with the original, at a few SNRs. (A 2048-d feature costs 2048 uses; the 47-byte payload
# 188 complex uses with QPSK: the paper's point about bandwidth.)

# %%
for snr in (-10, 0, 10, 20):
    r = transmit_analog(x, AWGN(snr), rng).received
    cos = (r * x).sum(1) / np.linalg.norm(r, axis=1)
    print(f"{snr:4d} dB: mean ||y - x||^2 = {((r - x) ** 2).sum(1).mean():7.3f}, mean cosine(y, x) = {cos.mean():.3f}")

# %% [markdown]
# ## Bits on symbols: constellations and noise clouds
#
# A digital payload travels as complex symbols, one per (complex) channel use. `dscref.channel.Modem`
# maps groups of bits to points of a Gray-coded constellation of unit average energy: BPSK (1 bit
# per symbol), QPSK (2), 16-QAM (4), ... The receiver gets each point plus complex noise of variance
# $N_0 = 10^{-E_s/N_0 / 10}$ (`transmit_symbols`). Neighbouring points differ in one bit (Gray), so
# the most likely symbol error costs one bit.

# %%
fig, axes = plt.subplots(1, 3, figsize=(12, 4))
for ax, name in zip(axes, ["bpsk", "qpsk", "16qam"]):
    modem = Modem(name)
    bits = rng.integers(0, 2, 600 * modem.bits_per_symbol).astype(np.uint8)
    rx = transmit_symbols(modem.modulate(bits), AWGN(14.0), rng)
    ax.scatter(rx.symbols.real, rx.symbols.imag, s=2, alpha=0.4)
    ax.scatter(modem.constellation.real, modem.constellation.imag, c="k", marker="x")
    for label, pt in enumerate(modem.constellation):
        ax.annotate(format(label, f"0{modem.bits_per_symbol}b"), (pt.real, pt.imag), fontsize=8,
                    xytext=(2, 5), textcoords="offset points", color="C3")
    ax.set_title(f"{name}, Es/N0 = 14 dB")
    ax.set_aspect("equal")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Log-likelihood ratios
#
# A hard decision keeps only the nearest point. A soft demodulator keeps how sure it is, bit by bit:
#
# $$\text{LLR}(b) = \log \frac{P(b = 0 \mid y)}{P(b = 1 \mid y)},$$
#
# positive for a likely 0, near 0 when the symbol landed between the points. For BPSK
# ($0 \mapsto +1$, $1 \mapsto -1$) it is $4\,\mathrm{Re}(y) / N_0$: linear in the received value.
# `Modem.demodulate(..., soft=True)` computes it for every modem; checked here for BPSK:

# %%
bpsk = Modem("bpsk")
ch = AWGN(2.0)
bits = rng.integers(0, 2, 20_000).astype(np.uint8)
rx = transmit_symbols(bpsk.modulate(bits), ch, rng)
llr = bpsk.demodulate(rx.symbols, rx.noise_var, soft=True)
np.testing.assert_allclose(llr, 4 * rx.symbols.real / ch.noise_var, rtol=1e-9)
print(f"Es/N0 2 dB, N0 = {ch.noise_var:.3f}: LLR = 4 Re(y) / N0 for all {bits.size} bits")

# %%
plt.hist(llr[bits == 0], bins=80, alpha=0.6, label="sent 0")
plt.hist(llr[bits == 1], bins=80, alpha=0.6, label="sent 1")
plt.axvline(0, c="k", lw=1)
plt.xlabel("LLR")
plt.title("BPSK LLRs at Es/N0 = 2 dB: wrong signs are bit errors")
plt.legend()
plt.show()
print(f"bit errors (LLR of the wrong sign): {np.mean((llr < 0) != (bits == 1)):.4f};  "
      f"of them with |LLR| < 2: {np.mean(np.abs(llr[(llr < 0) != (bits == 1)]) < 2):.0%}")

# %% [markdown]
# The errors are mostly the small-|LLR| bits: the demodulator knows which bits to doubt. Soft
# decoding (the end of this notebook) uses exactly that.
#
# ## Bit error rate against theory
#
# BER is compared across modems at equal energy per **bit**, $E_b/N_0 = E_s/N_0 - 10\log_{10} k$
# for $k$ bits per symbol (`dscref.channel.ebn0_to_esn0`). Simulated with `transmit_bits`
# (200 000 bits per point), against the closed forms of `dscref.channel.ber_modem` (Proakis; Cho &
# Yoon for 16-QAM). BPSK and Gray QPSK have the same BER per bit, $Q(\sqrt{2E_b/N_0})$.

# %%
ebn0 = np.arange(0, 11, 2)
sim = {}
for name in ("bpsk", "qpsk", "16qam"):
    bits = rng.integers(0, 2, 200_000).astype(np.uint8)
    sim[name] = np.array([transmit_bits(bits, name, AWGN(ebn0_to_esn0(e, name)), rng).ber for e in ebn0])
    print(name, "simulated", np.array2string(sim[name], precision=5), "theory",
          np.array2string(ber_modem(ebn0, name), precision=5))

# %%
fine = np.linspace(0, 10, 50)
for i, name in enumerate(("bpsk", "qpsk", "16qam")):
    plt.semilogy(fine, ber_modem(fine, name), c=f"C{i}", lw=1, label=f"{name} theory")
    plt.semilogy(ebn0, np.where(sim[name] > 0, sim[name], np.nan), "o", c=f"C{i}", label=f"{name} simulated")
plt.xlabel("Eb/N0 (dB)")
plt.ylabel("BER")
plt.ylim(1e-6, 0.5)
plt.legend(fontsize=8)
plt.title("uncoded BER over AWGN")
plt.show()

# %% [markdown]
# Where at least 100 errors were counted the simulation must agree with theory within a few
# standard deviations of a binomial count:

# %%
for name in sim:
    th = ber_modem(ebn0, name)
    ok = sim[name] * 200_000 >= 100
    z = (sim[name][ok] - th[ok]) / np.sqrt(th[ok] * (1 - th[ok]) / 200_000)
    assert np.all(np.abs(z) < 5), (name, z)
    print(f"{name}: {ok.sum()} points checked, largest |z| = {np.abs(z).max():.2f}")

# %% [markdown]
# ## What a bit error does to a head label
#
# A head label is a 10-bit number (notebook 2). Flip one bit and it names **another partition**, or,
# since 1000 < 1024, a label that does not exist. Label 999, each bit flipped in turn, and the
# share of invalid results over all 1000 labels and 10 bits:

# %%
lab = 999
flipped = [lab ^ (1 << (9 - b)) for b in range(10)]         # bit 0 = MSB, as sent
print("bit :", " ".join(f"{b:4d}" for b in range(10)))
print("gets:", " ".join(f"{f:4d}" for f in flipped))
print("invalid (>= 1000):", [f for f in flipped if f >= 1000])
every = np.arange(1000)[:, None] ^ (1 << np.arange(10))[None, :]
print(f"all labels: {np.mean(every >= 1000):.1%} of single-bit errors give an invalid label, "
      f"{np.mean(every < 1000):.1%} silently give another valid one")

# %% [markdown]
# Nothing tells the server which partition was meant: the query is searched in a wrong one, and
# its true match can be missed entirely. Labels $\geq K$ or repeated are caught by
# `decode_payload`, which reports them and either drops that head entry (`policy="drop"`, the
# default) or replaces it with the nearest valid unused label (`"nearest_valid"`, a guess). A payload
# with two flipped head bits:

# %%
layout = PayloadLayout(head_size=5, label_bits=10, M=8, nbits=8, n_lists=1000)
q = Query(labels=np.array([417, 3, 999, 515, 64]), codes=rng.integers(0, 256, (5, 8)).astype(np.uint8))
bits = bytes_to_bits(encode_payload(q, layout))
bits[20 + 5] ^= 1               # slot 2, the bit worth 16: 999 -> 1015, not a label
bits[30 + 0] ^= 1               # slot 3, its MSB (512): 515 -> 3, a repeat of slot 1
for policy in ("drop", "nearest_valid"):
    rq, report = decode_payload(bits_to_bytes(bits), layout, policy=policy)
    print(f"{policy:13s} received {report.received_labels} -> searched {rq.labels.tolist()}; "
          f"invalid {report.invalid}, duplicates {report.duplicates}")

# %% [markdown]
# ## What a bit error does to a PQ code
#
# A sub-code is an index into 256 codewords, and the indices are arbitrary: k-means numbers its
# centroids in no useful order. Flip one bit of the index and the server reads a codeword that may
# be anywhere in the sub-space. The quantizer of notebook 1's data (64-d, M = 8, nbits = 8):

# %%
d = 64
basis = np.linalg.qr(rng.standard_normal((d, d)))[0]
data = (rng.standard_normal((6000, d)) / np.sqrt(np.arange(1, d + 1))) @ basis.T
data = (data / np.linalg.norm(data, axis=1, keepdims=True)).astype(np.float32)
db, xq = data[:5000], data[5000:]
pq = ProductQuantizer(M=8, nbits=8, seed=0).fit(db)
codes = pq.encode(db)
quant_err = float(((db - pq.decode(codes)) ** 2).sum(1).mean() / 8)
print(f"mean quantization error per sub-space: {quant_err:.4f}")

# %%
q0 = xq[0]
e0 = pq.encode(q0[None])[0]
m = 0
cw = pq.codebooks_[m]
moved = [float(((cw[e0[m]] - cw[e0[m] ^ (1 << (7 - b))]) ** 2).sum()) for b in range(8)]
print(f"sub-code e_1 = {e0[m]} = {e0[m]:08b}; squared jump of the codeword when bit b flips:")
print(np.round(moved, 4), " vs the quantization error", round(quant_err, 4))

# %% [markdown]
# ## Robust index assignment
#
# The indices cost nothing to renumber. *Pseudo-Gray coding* (Zeger & Gersho 1990) renumbers each
# sub-codebook so that indices one bit apart carry nearby codewords, minimising the expected
# distortion under independent bit flips of probability $p$. `dscref.assignment.robust_permutation`
# finds the permutation (binary switching), `assignment_distortion` evaluates it,
# `apply_permutation` renumbers the quantizer and `permute_codes` its codes. Error-free results do
# not change at all; `dscref.index.robust.make_index_robust` does this to a whole index.

# %%
perm = robust_permutation(pq, p=0.01)
before = assignment_distortion(pq, None, 0.01)
after = assignment_distortion(pq, perm, 0.01)
print("expected distortion per sub-space at p = 0.01, identity :", np.round(before, 5))
print("                                        robust order    :", np.round(after, 5))
print(f"total {before.sum():.4f} -> {after.sum():.4f} ({after.sum() / before.sum():.0%})")

# %% [markdown]
# The same query code under the renumbered quantizer: the decoded vector is bit-for-bit the same,
# and the eight single-bit errors of sub-code 1 now move the codeword about half as far (still more
# than the quantization error: 256 codewords in 8 dimensions cannot all have close one-bit neighbours):

# %%
pq_r = apply_permutation(pq, perm)
e0_r = permute_codes(e0[None], perm)[0]
np.testing.assert_array_equal(pq_r.decode(e0_r[None]), pq.decode(e0[None]))
np.testing.assert_array_equal(pq_r.encode(db), permute_codes(codes, perm))
cw_r = pq_r.codebooks_[m]
moved_r = [float(((cw_r[e0_r[m]] - cw_r[e0_r[m] ^ (1 << (7 - b))]) ** 2).sum()) for b in range(8)]
plt.bar(np.arange(8) - 0.2, moved, 0.4, label="k-means order")
plt.bar(np.arange(8) + 0.2, moved_r, 0.4, label="robust order")
plt.axhline(quant_err, c="k", ls="--", lw=1, label="quantization error")
plt.xlabel("flipped bit of sub-code e_1 (0 = MSB)")
plt.ylabel("squared jump of the codeword")
plt.ylim(0, 1.35 * max(moved + moved_r))
plt.legend(ncol=3, fontsize=8)
plt.show()

# %% [markdown]
# ## Soft decoding of one code
#
# The second remedy uses the LLRs. From the 64 LLRs of a received code, `dscref.soft.posteriors`
# gives each sub-code's probability over its 256 values (independent bits), and
# `dscref.soft.soft_lut_l2` replaces the distance table of eq. (14) by its **expectation** under
# that posterior: a doubtful bit spreads the query over the codewords it might be, instead of
# betting on one. We send the query's code as 64 BPSK bits at Es/N0 = 1 dB, where about one bit
# in 18 is wrong:

# %%
code_bits = bytes_to_bits(e0.tobytes())
sent = transmit_bits(code_bits, "bpsk", AWGN(1.0), np.random.default_rng(4), soft=True)
hard = hard_codes(sent.llr, 8, 8)
print(f"{sent.bit_errors} bit errors; sent {e0.tolist()}")
print(f"hard decision {hard.tolist()}")
post = posteriors(sent.llr, 8, 8)
wrong = int(np.flatnonzero(hard != e0)[0])
top = np.argsort(-post[wrong])[:6]
print(f"sub-code {wrong + 1}: sent {e0[wrong]}, hard {hard[wrong]}; posterior's top values "
      f"{top.tolist()} with probabilities {np.round(post[wrong, top], 3).tolist()}")

# %%
plt.figure(figsize=(7, 2.6))
plt.bar(np.arange(256), post[wrong], width=1.0)
plt.axvline(e0[wrong], c="C2", ls="--", label=f"sent {e0[wrong]}")
plt.axvline(hard[wrong], c="C3", ls=":", label=f"hard decision {hard[wrong]}")
plt.xlabel("sub-code value")
plt.ylabel("posterior")
plt.title(f"sub-code {wrong + 1} from its 8 LLRs")
plt.legend()
plt.show()

# %% [markdown]
# Ranking the 5000 database codes with the table of the error-free code, of the hard decision, and
# the soft table. One draw is an anecdote, so the overlap with the error-free top 10 is averaged over
# 200 independent transmissions of the same code:

# %%
sdc = pq.sdc_table()
ideal = set(topk(adc_l2(sdc[np.arange(8), e0], codes), 10)[1])
rng_t = np.random.default_rng(5)
ov_hard, ov_soft = [], []
for _ in range(200):
    r = transmit_bits(code_bits, "bpsk", AWGN(1.0), rng_t, soft=True)
    h = hard_codes(r.llr, 8, 8)
    ov_hard.append(len(ideal & set(topk(adc_l2(sdc[np.arange(8), h], codes), 10)[1])) / 10)
    ov_soft.append(len(ideal & set(topk(adc_l2(soft_lut_l2(sdc, r.llr, 8), codes), 10)[1])) / 10)
print(f"overlap with the error-free top 10: hard {np.mean(ov_hard):.3f}, soft {np.mean(ov_soft):.3f}")

# %% [markdown]
# With certain bits the soft table is the hard one exactly (LLRs of $\pm\infty$ give one-hot
# posteriors), so soft decoding costs nothing when the channel is clean:

# %%
certain = np.where(code_bits == 0, np.inf, -np.inf)
np.testing.assert_array_equal(soft_lut_l2(sdc, certain, 8), sdc[np.arange(8), e0])
print("soft table with infinite LLRs == hard SDC rows of eq. 14")

# %% [markdown]
# In a whole system these pieces are options of the link and the index: a `dscref.codec.ProtectedLayout`
# (the head channel-coded), `Link(..., codes="soft")`, `dscref.index.robust.make_index_robust` and
# `soft_search`; the README's "Beyond the paper: channel-robust coding" measures their mAP.

# %% [markdown]
# ## Exercises
#
# 1. **Head errors vs SNR.** Send 2000 random heads of 5 labels (50 bits each, 7 bytes) by QPSK at
#    Es/N0 from 0 to 12 dB and plot the share of heads that arrive intact. At which SNR do 99 % arrive?
#    Compare with $(1 - \text{BER})^{50}$.
# 2. **Soft decoding vs SNR.** Repeat the last experiment (hard vs soft overlap) at Es/N0 = -2, 1, 4
#    and 7 dB. Where does soft decoding help most?
# 3. **Robust and soft together.** Renumber with `pq_r` (robust order) and repeat the hard-decision
#    overlap at 1 dB: transmit `e0_r`'s bits and rank `permute_codes(codes, perm)`. Does the
#    robust order help hard decoding, and does it add to soft decoding?

# %% solution
# Exercise 1: a head survives only if all 50 of its bits do
snrs = np.arange(0, 13, 2)
rng_e = np.random.default_rng(11)
heads = bytes_to_bits(rng_e.integers(0, 256, (2000, 7)).astype(np.uint8).tobytes()).reshape(2000, 56)[:, :50]
intact, ber = [], []
for s in snrs:
    r = transmit_bits(heads.ravel(), "qpsk", AWGN(float(s)), rng_e)
    intact.append(np.mean((r.bits.reshape(2000, 50) == heads).all(1)))
    ber.append(r.ber)
plt.plot(snrs, intact, "o-", label="simulated")
plt.plot(snrs, (1 - np.array(ber)) ** 50, "k--", label="(1 - BER)^50")
plt.xlabel("Es/N0 (dB), QPSK")
plt.ylabel("heads intact")
plt.legend()
plt.show()
print(dict(zip(snrs.tolist(), np.round(intact, 3))))

# %% solution
# Exercise 2: soft decoding helps where several sub-codes are wrong (low SNR). Once most codes
# arrive intact (4-7 dB) the two are within the noise of 200 draws: ranking by the posterior mean
# can even cost a little when the hard decision was right but some bit was doubtful.
def overlaps(snr, bits_sent, pq_codes, code_table, n=200, seed=5):
    rng_s = np.random.default_rng(seed)
    ref = set(topk(adc_l2(code_table, pq_codes), 10)[1])
    oh, os_ = [], []
    for _ in range(n):
        r = transmit_bits(bits_sent, "bpsk", AWGN(snr), rng_s, soft=True)
        h = hard_codes(r.llr, 8, 8)
        oh.append(len(ref & set(topk(adc_l2(sdc_now[np.arange(8), h], pq_codes), 10)[1])) / 10)
        os_.append(len(ref & set(topk(adc_l2(soft_lut_l2(sdc_now, r.llr, 8), pq_codes), 10)[1])) / 10)
    return np.mean(oh), np.mean(os_)

sdc_now = sdc
for snr in (-2.0, 1.0, 4.0, 7.0):
    h_, s_ = overlaps(snr, code_bits, codes, sdc[np.arange(8), e0])
    print(f"{snr:5.1f} dB: hard {h_:.3f}  soft {s_:.3f}")

# %% solution
# Exercise 3: the robust order makes each hard error cheaper; soft decoding still adds on top
codes_r = permute_codes(codes, perm)
sdc_now = pq_r.sdc_table()
h_r, s_r = overlaps(1.0, bytes_to_bits(e0_r.tobytes()), codes_r, sdc_now[np.arange(8), e0_r])
print(f"1 dB, k-means order: hard {np.mean(ov_hard):.3f}, soft {np.mean(ov_soft):.3f}")
print(f"1 dB, robust order : hard {h_r:.3f}, soft {s_r:.3f}")
