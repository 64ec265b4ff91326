"""Benchmark of dscref.channel: BER vs Eb/N0 against theory, and kernel throughput vs NumPy.

Quality: BPSK, QPSK and 16-QAM (Gray) over AWGN, simulated bit error rate at several Eb/N0
points next to the closed forms of Proakis (and the exact Gray 16-QAM expression), with a 99 %
Wilson interval per point. Speed: symbols per second of the Numba kernels (modulate, AWGN,
hard demodulation, exact LLRs) against the vectorised NumPy twins in ``dscref._reference.channel``
on the same inputs; the first call (compilation, or loading Numba's on-disk cache) is timed apart
from the steady-state runs (by default into an empty temporary cache, so it is real compilation).

Usage::

    python benchmarks/bench_channel.py --out bench_results/channel --seed 0

Writes ``channel.json`` and ``ber_vs_ebn0.png`` into ``--out``.
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

log = logging.getLogger("bench_channel")

MODEMS = ("bpsk", "qpsk", "16qam")


def _wilson(k: int, n: int) -> tuple[float, float]:
    return wilson(k, n, z=2.5758)


def ber_curves(ebn0_grid, n_bits: int, seed: int) -> dict:
    from dscref import channel as ch

    theory = {"bpsk": ch.ber_bpsk, "qpsk": ch.ber_qpsk, "16qam": ch.ber_16qam}
    rng = np.random.default_rng(seed)
    out = {}
    for name in MODEMS:
        modem = ch.Modem(name)
        points = []
        for ebn0 in ebn0_grid:
            bits = rng.integers(0, 2, n_bits).astype(np.uint8)
            esn0 = ch.ebn0_to_esn0(float(ebn0), modem)
            res = ch.transmit_bits(bits, modem, ch.AWGN(esn0), rng)
            lo, hi = _wilson(res.bit_errors, n_bits)
            p = float(theory[name](float(ebn0)))
            points.append({"ebn0_db": float(ebn0), "esn0_db": esn0, "bits": n_bits,
                           "errors": res.bit_errors, "ber": res.ber, "ber_theory": p,
                           "ci99": [lo, hi], "theory_inside_ci99": bool(lo <= p <= hi),
                           "channel_uses": res.channel_uses})
            log.info("%s Eb/N0=%.1f dB: BER %.3e (theory %.3e)", name, ebn0, res.ber, p)
        out[name] = points
    return out


def compile_times() -> dict:
    """First call of every kernel on a tiny input (compilation, or a cache load if the on-disk
    cache is warm), then a second call for comparison; both in seconds."""
    from dscref._kernels import channel as kern

    m, k = 8, 4
    rng = np.random.default_rng(0)
    f = lambda *shape: rng.standard_normal(shape)  # noqa: E731
    pr, pi = f(16), f(16)
    bits = rng.integers(0, 2, m * k).astype(np.uint8)
    x, s, g = f(2, m), np.empty((2, m)), np.empty(2)
    calls = {
        "power_normalise_rows": lambda: kern.power_normalise_rows(x, m, s, g),
        "denormalise_rows": lambda: kern.denormalise_rows(x, np.ones(2), np.empty((2, m), np.float32)),
        "awgn_real": lambda: kern.awgn_real(f(m), f(m), 0.5, np.empty(m)),
        "fading_real": lambda: kern.fading_real(f(m), np.ones(m), f(m), 0.5, np.empty(m)),
        "awgn_complex": lambda: kern.awgn_complex(f(m), f(m), f(m), f(m), 0.5, np.empty(m), np.empty(m)),
        "fading_complex": lambda: kern.fading_complex(f(m), f(m), np.ones(m), np.zeros(m), f(m), f(m), 0.5,
                                                      np.empty(m), np.empty(m), np.empty(m)),
        "modulate": lambda: kern.modulate(bits, k, pr, pi, np.empty(m), np.empty(m)),
        "demod_hard": lambda: kern.demod_hard(f(m), f(m), pr, pi, k, np.empty(m * k, np.uint8)),
        "demod_llr": lambda: kern.demod_llr(f(m), f(m), np.ones(m), pr, pi, k, True, np.empty(m * k)),
    }
    out = {}
    for name, call in calls.items():
        t0 = time.perf_counter()
        call()
        t1 = time.perf_counter()
        call()
        t2 = time.perf_counter()
        st = getattr(kern, name).stats
        out[name] = {"first_call_s": t1 - t0, "second_call_s": t2 - t1,
                     "cache_hits": int(sum(st.cache_hits.values())),
                     "cache_misses": int(sum(st.cache_misses.values()))}
        log.info("%s: first call %.2f s", name, t1 - t0)
    out["total_first_call_s"] = sum(v["first_call_s"] for v in out.values())
    return out


def throughput(n_sym: int, repeats: int, seed: int) -> dict:
    from dscref import channel as ch
    from dscref._kernels import channel as kern
    from dscref._reference import channel as ref

    rng = np.random.default_rng(seed)
    results = {}
    for name in MODEMS:
        modem = ch.Modem(name)
        k, pr, pi = modem.bits_per_symbol, modem._re, modem._im
        bits = rng.integers(0, 2, n_sym * k).astype(np.uint8)
        nr, ni = rng.standard_normal((2, n_sym))
        sigma = math.sqrt(0.5 * 10 ** (-0.5))
        nvar = np.full(n_sym, 10 ** (-0.5))
        sr, si, zr, zi = (np.empty(n_sym) for _ in range(4))
        hard = np.empty(n_sym * k, dtype=np.uint8)
        llr = np.empty(n_sym * k)

        stages = {
            "modulate": (lambda: kern.modulate(bits, k, pr, pi, sr, si),
                         lambda: ref.modulate_ref(bits, k, pr, pi)),
            "awgn": (lambda: kern.awgn_complex(sr, si, nr, ni, sigma, zr, zi),
                     lambda: ref.awgn_complex_ref(sr, si, nr, ni, sigma)),
            "demod_hard": (lambda: kern.demod_hard(zr, zi, pr, pi, k, hard),
                           lambda: ref.demod_hard_ref(zr, zi, pr, pi, k)),
            "demod_llr_exact": (lambda: kern.demod_llr(zr, zi, nvar, pr, pi, k, True, llr),
                                lambda: ref.demod_llr_ref(zr, zi, nvar, pr, pi, k, True)),
            "demod_llr_maxlog": (lambda: kern.demod_llr(zr, zi, nvar, pr, pi, k, False, llr),
                                 lambda: ref.demod_llr_ref(zr, zi, nvar, pr, pi, k, False)),
        }
        per = {}
        for stage, (kfn, rfn) in stages.items():
            t0 = time.perf_counter()
            kfn()                                     # warm-up (kernels are compiled already)
            first = time.perf_counter() - t0
            tk = best_of(kfn, repeats)
            tr = best_of(rfn, repeats)
            per[stage] = {"warmup_s": first, "kernel_s": tk, "numpy_s": tr,
                          "kernel_sym_per_s": n_sym / tk, "numpy_sym_per_s": n_sym / tr,
                          "speedup": tr / tk}
            log.info("%s %s: kernel %.3g sym/s, numpy %.3g sym/s, x%.1f (warm-up %.2f s)",
                     name, stage, n_sym / tk, n_sym / tr, tr / tk, first)
        results[name] = per
    return {"n_symbols": n_sym, "repeats": repeats, "per_modem": results,
            "note": "kernels write into preallocated outputs; the NumPy twins allocate theirs"}


def plot(ber: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dscref import channel as ch

    fine = np.linspace(min(p["ebn0_db"] for p in ber["bpsk"]), max(p["ebn0_db"] for p in ber["bpsk"]), 200)
    theory = {"bpsk": ch.ber_bpsk, "qpsk": ch.ber_qpsk, "16qam": ch.ber_16qam}
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for name, colour, marker in zip(MODEMS, ("C0", "C1", "C2"), ("o", "s", "^")):
        ax.semilogy(fine, theory[name](fine), color=colour, lw=1,
                    ls="--" if name == "qpsk" else "-", label=f"{name.upper()} theory")
        pts = [p for p in ber[name] if p["errors"] > 0]
        x = [p["ebn0_db"] for p in pts]
        y = [p["ber"] for p in pts]
        err = np.array([[p["ber"] - p["ci99"][0], p["ci99"][1] - p["ber"]] for p in pts]).T
        ax.errorbar(x, y, yerr=err, fmt=marker, color=colour, ms=5, mfc="none", capsize=2,
                    label=f"{name.upper()} simulated")
    ax.set_xlabel("Eb/N0 (dB)")
    ax.set_ylabel("bit error rate")
    ax.set_title("Gray BPSK / QPSK / 16-QAM over AWGN (dscref.channel)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="bench_results/channel", help="output directory (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default %(default)s)")
    parser.add_argument("--bits", type=int, default=400_000, help="bits per BER point (default %(default)s)")
    parser.add_argument("--ebn0", type=float, nargs="+", default=[0, 2, 4, 6, 8, 10],
                        help="Eb/N0 grid in dB (default 0 2 4 6 8 10)")
    parser.add_argument("--symbols", type=int, default=1 << 20, help="symbols per throughput run (default 2^20)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats, best kept (default 3)")
    parser.add_argument("--fresh-cache", action=argparse.BooleanOptionalAction, default=True,
                        help="compile into an empty temporary Numba cache so the first calls measure "
                        "real compilation (default on; --no-fresh-cache measures loading the cache)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s: %(message)s")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    if args.fresh_cache:                      # must happen before numba is imported
        import tempfile

        os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="dscref-numba-cache-")
    import numba

    from dscref import channel as ch

    compiled = compile_times()
    speed = throughput(args.symbols, args.repeats, args.seed)
    t0 = time.perf_counter()
    ber = ber_curves(args.ebn0, args.bits, args.seed)
    t_ber = time.perf_counter() - t0
    plot(ber, out / "ber_vs_ebn0.png")
    report = {
        "benchmark": "channel",
        "seed": args.seed,
        "machine": {"python": platform.python_version(), "numpy": np.__version__, "numba": numba.__version__,
                    "numba_threads": numba.get_num_threads(), "cpu_count": os.cpu_count()},
        "bandwidth_channel_uses": ch.bandwidth_table(),
        "ber": ber,
        "ber_wall_s": t_ber,
        "compile": {"fresh_cache": args.fresh_cache, **compiled},
        "throughput": speed,
    }
    (out / "channel.json").write_text(json.dumps(report, indent=2))
    # results on stdout (this is a script, not library code)
    print(f"wrote {out / 'channel.json'} and {out / 'ber_vs_ebn0.png'}")
    print(f"  first calls of all kernels ({'compile' if args.fresh_cache else 'cache load'}): "
          f"{compiled['total_first_call_s']:.2f} s")
    for name in MODEMS:
        row = ", ".join(f"{p['ebn0_db']:g} dB {p['ber']:.2e}/{p['ber_theory']:.2e}" for p in ber[name])
        print(f"  BER sim/theory {name:>5}: {row}")
    for name in MODEMS:
        row = ", ".join(f"{s} x{v['speedup']:.1f}" for s, v in speed["per_modem"][name].items())
        print(f"  kernel/numpy speed-up {name:>5}: {row}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
