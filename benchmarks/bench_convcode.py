"""Benchmark of dscref.convcode: BER / FER of the K=7 (133/171) code vs Eb/N0 at rates 1/2, 2/3, 3/4,
against the union bound, and decoding throughput of the Viterbi kernel vs its NumPy twin.

Quality: blocks of ``--n-info`` bits (default 376, the 47-byte payload) are encoded, sent with Gray
QPSK over AWGN through dscref's own modem and channel (:func:`dscref.channel.transmit_bits`,
exact soft LLRs), and Viterbi-decoded. Eb is the energy per *information* bit, tail included:
``Es/N0 = Eb/N0 + 10 log10(2 n_info / coded_length)``. Each point runs batches of ``--batch``
blocks until ``--min-bit-errors`` bit errors (and ``--min-frame-errors`` block errors) or
``--max-bits`` information bits; a point with no error ends its rate's curve (higher Eb/N0
would not err either). Per point: BER, FER, a 95 % interval for each (BER: normal interval of
the per-block error fraction, blocks being independent; FER: Wilson), the union bound of the
unpunctured code (:func:`dscref.channel.ber_conv_union_bound`), and for rate 1/2 the gap in dB
between the simulated point and the bound at the same BER.

Speed: information bits per second decoded by the serial kernel, the threaded kernel (one
codeword per thread) and the NumPy twin on the same LLRs; the first call (compilation, into an
empty temporary cache by default, or loading Numba's on-disk cache) is timed apart.

Usage::

    python benchmarks/bench_convcode.py --out bench_results/convcode --seed 0 -v

Writes ``convcode.json`` and ``ber_fer_vs_ebn0.png`` into ``--out``. Run it on a quiet machine:
the BER points are cheap, the timings are not meaningful on a loaded one. A check run:
``--ebn0 1 2 3 --max-bits 200000 --throughput-blocks 40 --repeats 1``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import time
from pathlib import Path

import numpy as np
from _stats import best_of, wilson

log = logging.getLogger("bench_convcode")

RATES = ("1/2", "2/3", "3/4")


def _wilson(k: int, n: int) -> tuple[float, float]:
    return wilson(k, n, z=1.96)


def _bound_gap_db(ebn0_db: float, ber: float) -> float | None:
    """Simulated Eb/N0 minus the Eb/N0 at which the union bound equals ``ber`` (dB); negative:
    the simulation reaches this BER with less energy than the bound promises."""
    from scipy.optimize import brentq

    from dscref.channel import ber_conv_union_bound

    if not 0.0 < ber < ber_conv_union_bound(-5.0):
        return None
    f = lambda e: math.log(ber_conv_union_bound(e)) - math.log(ber)  # noqa: E731
    return ebn0_db - brentq(f, -5.0, 15.0)


def simulate_point(rate: str, ebn0_db: float, args, rng) -> dict:
    from dscref import convcode as cc
    from dscref.channel import AWGN, ber_conv_union_bound, ebn0_to_esn0, transmit_bits

    k = args.n_info
    r_eff = cc.effective_rate(k, rate)
    esn0 = ebn0_to_esn0(ebn0_db, "qpsk") + 10 * math.log10(r_eff)
    channel = AWGN(esn0)
    bits = bit_err = frames = frame_err = 0
    sum_f = sum_f2 = 0.0  # per-block error fraction: mean and variance for the BER interval
    uses = 0
    t0 = time.perf_counter()
    while (bit_err < args.min_bit_errors or frame_err < args.min_frame_errors) and bits < args.max_bits:
        u = rng.integers(0, 2, (args.batch, k), dtype=np.uint8)
        c = cc.encode(u, rate)
        rx = transmit_bits(c.reshape(-1), "qpsk", channel, rng, soft=True)
        d = cc.decode(rx.llr.reshape(args.batch, -1), rate, k)
        per = np.count_nonzero(d != u, axis=1)
        bits += u.size
        bit_err += int(per.sum())
        frames += args.batch
        frame_err += int(np.count_nonzero(per))
        f = per / k
        sum_f += float(f.sum())
        sum_f2 += float((f * f).sum())
        uses += rx.channel_uses
    ber, fer = bit_err / bits, frame_err / frames
    var = max(sum_f2 / frames - (sum_f / frames) ** 2, 0.0)
    half = 1.96 * math.sqrt(var / frames)
    point = {"ebn0_db": ebn0_db, "esn0_db": esn0, "effective_rate": r_eff, "bits": bits, "bit_errors": bit_err,
             "frames": frames, "frame_errors": frame_err, "ber": ber, "fer": fer,
             "ber_ci95": [max(0.0, ber - half), ber + half], "fer_ci95": list(_wilson(frame_err, frames)),
             "channel_uses_per_block": uses // frames, "union_bound": float(ber_conv_union_bound(ebn0_db)),
             "wall_s": time.perf_counter() - t0}
    if rate == "1/2" and bit_err:
        gap = _bound_gap_db(ebn0_db, ber)
        point["gap_to_bound_db"] = gap
        # the bound ignores the tail: with Eb counted over the coded bits at R = 1/2 exactly
        tail = 10 * math.log10(0.5 / r_eff)
        point["gap_to_bound_db_without_tail"] = None if gap is None else gap - tail
    return point


def ber_curves(args) -> dict:
    from tqdm.auto import tqdm

    out = {}
    total = len(args.rates) * len(args.ebn0)
    with tqdm(total=total, desc="BER points", disable=not args.progress) as bar:
        for i, rate in enumerate(args.rates):
            rng = np.random.default_rng([args.seed, i])  # one stream per rate: curves independent
            points = []
            for ebn0 in args.ebn0:
                p = simulate_point(rate, float(ebn0), args, rng)
                points.append(p)
                bar.update(1)
                log.info("rate %s Eb/N0 %.2f dB: BER %.3e (%d errors / %d bits) FER %.3e, bound %.3e",
                         rate, ebn0, p["ber"], p["bit_errors"], p["bits"], p["fer"], p["union_bound"])
                if p["bit_errors"] == 0:
                    bar.update(len(args.ebn0) - len(points))
                    break
            out[rate] = points
    return out


def compile_times(n_info: int) -> dict:
    """First and second call of each kernel on a tiny input, in seconds."""
    from dscref import convcode as cc
    from dscref._kernels import convcode as kern

    L = np.random.default_rng(0).standard_normal((4, 2 * (n_info + cc.TAIL_BITS)))
    out = {}
    for name in ("viterbi_batch", "viterbi_batch_parallel"):
        fn = getattr(kern, name)
        times = []
        for _ in range(2):
            t0 = time.perf_counter()
            fn(L, cc._BTYPE, n_info, np.empty((4, n_info), np.uint8), np.empty(4))
            times.append(time.perf_counter() - t0)
        out[name] = {"first_call_s": times[0], "second_call_s": times[1]}
        log.info("%s: first call %.2f s", name, times[0])
    return out


def throughput(n_blocks: int, n_info: int, repeats: int, seed: int) -> dict:
    """Information bits per second of the serial kernel, the threaded kernel and the NumPy twin,
    on the same depunctured LLRs (rate 1/2 at Eb/N0 = 3 dB); outputs checked equal."""
    from dscref import convcode as cc
    from dscref._kernels import convcode as kern
    from dscref._reference.convcode import viterbi_ref

    rng = np.random.default_rng(seed)
    u = rng.integers(0, 2, (n_blocks, n_info), dtype=np.uint8)
    sigma = math.sqrt(1 / (2 * cc.effective_rate(n_info) * 10 ** 0.3))
    L = np.ascontiguousarray(2 / sigma**2 * ((1.0 - 2.0 * cc.encode(u)) + sigma * rng.standard_normal((n_blocks, 2 * (n_info + 6)))))
    bits, metric = np.empty((n_blocks, n_info), np.uint8), np.empty(n_blocks)
    runs = {
        "kernel_serial": lambda: kern.viterbi_batch(L, cc._BTYPE, n_info, bits, metric),
        "kernel_threaded": lambda: kern.viterbi_batch_parallel(L, cc._BTYPE, n_info, bits, metric),
        "numpy_twin": lambda: viterbi_ref(L, n_info),
    }
    out = {"n_blocks": n_blocks, "n_info": n_info, "repeats": repeats}
    for name, fn in runs.items():
        t = best_of(fn, repeats)
        out[name] = {"s": t, "info_bits_per_s": n_blocks * n_info / t}
        log.info("%s: %.3g info bits/s", name, n_blocks * n_info / t)
    rb, rm = viterbi_ref(L, n_info)
    kern.viterbi_batch(L, cc._BTYPE, n_info, bits, metric)
    out["kernel_equals_twin"] = bool(np.array_equal(rb, bits) and np.array_equal(rm, metric))
    out["speedup_serial_vs_twin"] = out["numpy_twin"]["s"] / out["kernel_serial"]["s"]
    out["speedup_threaded_vs_twin"] = out["numpy_twin"]["s"] / out["kernel_threaded"]["s"]
    return out


def plot(ber: dict, n_info: int, seed: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dscref._files import atomic_open
    from dscref.channel import ber_conv_union_bound, ber_qpsk

    xs = [p["ebn0_db"] for pts in ber.values() for p in pts]
    fine = np.linspace(min(xs), max(xs), 200)
    fig, ax = plt.subplots(figsize=(6.5, 4.8))
    ax.semilogy(fine, ber_qpsk(fine), color="0.5", lw=1, label="uncoded QPSK (theory)")
    ub = ber_conv_union_bound(fine)
    ax.semilogy(fine, np.where(ub < 0.5, ub, np.nan), color="k", lw=1, ls=":", label="union bound (d = 10..16), rate 1/2")
    for (rate, pts), colour in zip(ber.items(), ("C0", "C1", "C2")):
        pts = [p for p in pts if p["bit_errors"] > 0]
        x = [p["ebn0_db"] for p in pts]
        for key, ls, marker, what in (("ber", "-", "o", "BER"), ("fer", "--", "s", "FER")):
            y = [p[key] for p in pts]
            err = np.array([[p[key] - p[f"{key}_ci95"][0], p[f"{key}_ci95"][1] - p[key]] for p in pts]).T
            ax.errorbar(x, y, yerr=err, color=colour, ls=ls, marker=marker, ms=4, mfc="none", capsize=2,
                        label=f"rate {rate} {what}")
    ax.set_xlabel("Eb/N0 (dB), energy per information bit, tail included")
    ax.set_ylabel("error rate")
    ax.set_title(f"K=7 (133/171) code, soft Viterbi, QPSK over AWGN (simulated, dscref.channel)\n"
                 f"{n_info}-bit blocks, seed {seed}; 95 % intervals", fontsize=9)
    ax.set_ylim(bottom=max(1e-8, min(p["ber"] for pts in ber.values() for p in pts if p["ber"] > 0) / 3))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    with atomic_open(path) as f:
        fig.savefig(f, format="png", dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="bench_results/convcode", help="output directory (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default %(default)s)")
    parser.add_argument("--rates", nargs="+", default=list(RATES), choices=RATES, help="code rates (default all)")
    parser.add_argument("--ebn0", type=float, nargs="+", default=[0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5, 5.5, 6],
                        help="Eb/N0 grid in dB (default 0 .. 6 by 0.5)")
    parser.add_argument("--n-info", type=int, default=376, help="information bits per block (default %(default)s)")
    parser.add_argument("--batch", type=int, default=200, help="blocks per batch (default %(default)s)")
    parser.add_argument("--min-bit-errors", type=int, default=100, help="stop a point after this many bit "
                        "errors ... (default %(default)s)")
    parser.add_argument("--min-frame-errors", type=int, default=20, help="... and this many block errors "
                        "(default %(default)s)")
    parser.add_argument("--max-bits", type=int, default=20_000_000, help="... or this many information bits "
                        "(default %(default)s: BER down to ~5e-6 with 100 errors)")
    parser.add_argument("--throughput-blocks", type=int, default=400, help="blocks per timed decode (default %(default)s)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats, best kept (default %(default)s)")
    parser.add_argument("--fresh-cache", action=argparse.BooleanOptionalAction, default=True,
                        help="compile into an empty temporary Numba cache so the first calls measure real "
                        "compilation (default on; --no-fresh-cache measures loading the cache)")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help="tqdm bar")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every point")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s: %(message)s")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.fresh_cache:  # before numba is imported
        import tempfile

        os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="dscref-numba-cache-")
    import numba

    from dscref import __version__
    from dscref._files import atomic_write_text

    compiled = compile_times(args.n_info)
    speed = throughput(args.throughput_blocks, args.n_info, args.repeats, args.seed)
    t0 = time.perf_counter()
    ber = ber_curves(args)
    t_ber = time.perf_counter() - t0
    report = {
        "benchmark": "convcode",
        "code": {"K": 7, "generators_octal": ["133", "171"], "termination": "zero tail (6 bits)",
                 "puncturing": {"2/3": [[1, 1], [1, 0]], "3/4": [[1, 1, 0], [1, 0, 1]]},
                 "decoder": "max-log soft-decision Viterbi, full traceback from state 0"},
        "link": {"modem": "qpsk (Gray)", "channel": "AWGN", "llr": "exact", "n_info": args.n_info,
                 "ebn0": "energy per information bit, tail included"},
        "seed": args.seed,
        "stopping": {"min_bit_errors": args.min_bit_errors, "min_frame_errors": args.min_frame_errors,
                     "max_bits": args.max_bits, "batch": args.batch},
        "machine": {"python": platform.python_version(), "numpy": np.__version__, "numba": numba.__version__,
                    "dscref": __version__, "numba_threads": numba.get_num_threads(), "cpu_count": os.cpu_count(),
                    "load_average": list(os.getloadavg())},
        "curves": ber,
        "ber_wall_s": t_ber,
        "compile": {"fresh_cache": args.fresh_cache, **compiled},
        "throughput": speed,
    }
    atomic_write_text(out / "convcode.json", json.dumps(report, indent=2))
    plot(ber, args.n_info, args.seed, out / "ber_fer_vs_ebn0.png")
    print(f"wrote {out / 'convcode.json'} and {out / 'ber_fer_vs_ebn0.png'} (load average "
          f"{report['machine']['load_average'][0]:.2f})")
    for rate, pts in ber.items():
        row = ", ".join(f"{p['ebn0_db']:g} dB {p['ber']:.2e}/{p['fer']:.2e}" for p in pts)
        print(f"  rate {rate} BER/FER: {row}")
    gaps = [(p["ebn0_db"], p.get("gap_to_bound_db")) for p in ber.get("1/2", []) if p.get("gap_to_bound_db") is not None]
    if gaps:
        print("  rate 1/2 gap to the union bound (dB): " + ", ".join(f"{e:g} dB {g:+.2f}" for e, g in gaps))
    print(f"  decoding (info bits/s): kernel {speed['kernel_serial']['info_bits_per_s']:.3g} serial, "
          f"{speed['kernel_threaded']['info_bits_per_s']:.3g} threaded ({numba.get_num_threads()} threads), "
          f"NumPy twin {speed['numpy_twin']['info_bits_per_s']:.3g}; kernel == twin: {speed['kernel_equals_twin']}")
    print("  first calls: " + ", ".join(f"{k} {v['first_call_s']:.2f} s" for k, v in compiled.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
