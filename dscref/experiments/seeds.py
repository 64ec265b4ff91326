"""Run experiments over several independent data seeds, resumably, and combine the seeds.

Seed ``s`` is one independent repetition: its data is ``load(s)`` (the synthetic generator seeded
with ``s``) and the experiment's own randomness (k-means and PQ training, channel realisations) is
seeded with ``s`` as well, exactly as a single run with ``--seed s``; two seeds share nothing.

Files, for an experiment ``EXP`` written to ``OUT``::

    OUT/EXP/seeds/seed_<s>.json   one seed's whole result (what results.json held for one run),
                                  written atomically as soon as the seed is done
    OUT/EXP/results.json          the seeds combined (mean, 95 % CI, per-seed values:
                                  :mod:`~dscref.experiments.combine`), and OUT/EXP/EXP.png

A rerun with the same parameters loads the seeds whose files exist instead of recomputing them
(an interrupted run resumes where it stopped). A file computed with other parameters -- any
parameter but those in :data:`UNCOMPARED`, or another dscref version -- raises a ``ValueError``
naming the parameter, unless ``fresh`` asks to recompute every seed.
"""

from __future__ import annotations

import json
import logging
import resource
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from tqdm.auto import tqdm

from .. import __version__
from .._files import atomic_write_text
from .._validate import check_int
from .combine import combine
from .fig2 import fig2
from .fig3 import fig3
from .report import jsonable, result_meta, write_document
from .robust import robust
from .table1 import table1
from .wireless import wireless

__all__ = ["EXPERIMENTS", "UNCOMPARED", "SeedFiles", "SeedRun", "check_seeds", "over_seeds", "combine_seeds",
           "run_seeds"]

log = logging.getLogger(__name__)

EXPERIMENTS = {"fig2": fig2, "table1": table1, "fig3": fig3, "robust": robust, "wireless": wireless}

# parameters that do not change a seed's numbers: where files go, how the run is shown, which
# seeds it runs (each file holds its own seed), the experiment ("all" runs the same code) and
# which settings a sensitivity sweep runs (each setting's file holds its own overrides)
UNCOMPARED = frozenset({"seed", "seeds", "out", "fresh", "markdown", "workdir", "verbose", "experiment", "sweep"})

_ABSENT = "<absent>"


def check_seeds(seeds) -> list:
    """``seeds`` as a list of distinct non-negative ints (at least one)."""
    if isinstance(seeds, (str, bytes)) or not hasattr(seeds, "__iter__"):
        raise TypeError(f"seeds must be a sequence of ints, got {seeds!r}")
    out = [check_int(s, "seed", low=0) for s in seeds]
    if not out:
        raise ValueError("seeds is empty: give at least one seed")
    dup = sorted({s for s in out if out.count(s) > 1})
    if dup:
        raise ValueError(f"seeds={out} names seed {dup[0]} more than once")
    return out


def _normalised(doc: dict) -> dict:
    """``doc`` exactly as it reads back from its JSON file (str keys, lists, None for NaN)."""
    return json.loads(json.dumps(jsonable(doc)))


class SeedFiles:
    """The per-seed files ``folder/seed_<s>.json`` of one experiment, and the parameters a file
    must have been computed with to be reused.

    Parameters
    ----------
    folder : path -- where the files are (created on the first save)
    params : dict -- the run's parameters; a file's ``meta.params`` must agree on every key but
        :data:`UNCOMPARED`, and its ``meta.dscref`` must be this version
    fresh : bool -- never reuse a file (:meth:`load` returns None)
    """

    def __init__(self, folder, params: dict, *, fresh: bool = False):
        self.folder = Path(folder)
        self.params = _normalised(dict(params))
        self.fresh = bool(fresh)

    def path(self, seed: int) -> Path:
        return self.folder / f"seed_{seed}.json"

    def load(self, seed: int) -> dict | None:
        """Seed ``seed``'s document, or None when it has no file (or ``fresh``).

        Raises ValueError when the file is unreadable or was computed with other parameters.
        """
        path = self.path(seed)
        if self.fresh or not path.is_file():
            return None
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            meta = doc["meta"]
            recorded = {"dscref": meta["dscref"], **meta["params"]}
        except (ValueError, KeyError, TypeError) as exc:  # JSONDecodeError is a ValueError
            raise ValueError(f"{path} is not a per-seed result file ({type(exc).__name__}: {exc}); delete it, "
                             "or recompute every seed with --fresh") from None
        expected = {"dscref": __version__, **self.params, "seed": seed}
        for key in dict.fromkeys([*expected, *recorded]):
            if key in UNCOMPARED - {"seed"}:
                continue
            old, new = recorded.get(key, _ABSENT), expected.get(key, _ABSENT)
            if old != new:
                raise ValueError(f"{path} was computed with {key}={old!r}, this run has {key}={new!r}: "
                                 "recompute every seed with --fresh (fresh=True), or write to another "
                                 "output folder")
        return doc

    def save(self, seed: int, doc: dict) -> Path:
        """Write ``doc`` as seed ``seed``'s file, atomically."""
        path = self.path(seed)
        atomic_write_text(path, json.dumps(jsonable(doc), indent=2))
        return path


@dataclass
class SeedRun:
    """What :func:`run_seeds` did: per experiment the combined document, its path, and which seeds
    were loaded from their files or computed."""

    results: dict = field(default_factory=dict)
    paths: dict = field(default_factory=dict)
    reused: dict = field(default_factory=dict)
    computed: dict = field(default_factory=dict)


def over_seeds(seeds, stores: dict, compute: Callable, run: SeedRun) -> dict:
    """For each seed and each name of ``stores`` (a :class:`SeedFiles` each): the stored document,
    or ``compute(name, seed, state)`` saved at once. ``state`` is a dict shared by one seed's
    names (its data, its built indexes) and dropped before the next seed. Returns
    ``{name: [document per seed]}``; ``run.reused`` / ``run.computed`` record what happened."""
    docs = {name: [] for name in stores}
    for name in stores:
        run.reused.setdefault(name, [])
        run.computed.setdefault(name, [])
    for seed in tqdm(seeds, desc="seeds", disable=len(seeds) < 2, leave=False):
        state: dict = {}
        for name, store in stores.items():
            doc = store.load(seed)
            if doc is None:
                doc = _normalised(compute(name, seed, state))
                path = store.save(seed, doc)
                run.computed[name].append(seed)
                log.info("%s seed %d: computed -> %s", name, seed, path)
            else:
                run.reused[name].append(seed)
                log.info("%s seed %d: done, reused", name, seed)
            docs[name].append(doc)
        state.clear()  # frees the seed's data and indexes before the next seed's are made
    return docs


def combine_seeds(docs: list, seeds: list, params: dict) -> dict:
    """The combined document of one experiment's per-seed documents: ``meta`` (versions and data of
    the seeds, ``params`` with ``seeds``), ``seeds``, then every result key combined."""
    meta = combine([d["meta"] for d in docs], keep_equal=True)
    meta["params"] = {**{k: v for k, v in params.items() if k != "seed"}, "seeds": list(seeds)}
    body = combine([{k: v for k, v in d.items() if k != "meta"} for d in docs])
    return {"meta": meta, "seeds": list(seeds), **body}


def _peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def run_seeds(experiments, seeds, out_dir, *, load: Callable, params: dict, options: dict | None = None,
              fresh: bool = False) -> SeedRun:
    """Run ``experiments`` over ``seeds``, writing each seed's file as it is done, then combine.

    Parameters
    ----------
    experiments : sequence of names of :data:`EXPERIMENTS`, or a dict {name: experiment function}
        (called as ``f(data, seed=, indexes=, **options[name])``, returning a result dict); several
        share the indexes they build within a seed (``dscref reproduce all``), one frees each
        index when done with it
    seeds : sequence of distinct ints >= 0
    out_dir : folder; experiment ``EXP`` writes ``out_dir/EXP/seeds/seed_<s>.json``,
        ``out_dir/EXP/results.json`` and ``out_dir/EXP/EXP.png``
    load : callable(seed) -> RetrievalData -- the data of a seed (called only for seeds that
        have something to compute)
    params : dict -- the run's parameters (JSON-able), recorded in every file and compared with
        a reused file's (module notes)
    options : {experiment: keyword arguments} passed to each experiment function
    fresh : bool -- recompute seeds whose files exist

    Returns
    -------
    SeedRun
    """
    if isinstance(experiments, dict):
        functions = dict(experiments)
    else:
        bad = [e for e in experiments if e not in EXPERIMENTS]
        if bad:
            raise ValueError(f"experiments={list(experiments)}: choose from {sorted(EXPERIMENTS)}")
        functions = {e: EXPERIMENTS[e] for e in experiments}
    experiments = list(functions)
    if not experiments:
        raise ValueError(f"experiments is empty: choose from {sorted(EXPERIMENTS)}")
    seeds = check_seeds(seeds)
    options = dict(options or {})
    out = Path(out_dir)
    per_seed_params = {k: v for k, v in params.items() if k != "seeds"}
    stores = {exp: SeedFiles(out / exp / "seeds", per_seed_params, fresh=fresh) for exp in experiments}

    def compute(exp, seed, state):
        if "data" not in state:
            state["data"] = load(seed)
            state["indexes"] = {} if len(experiments) > 1 else None
        res = functions[exp](state["data"], seed=seed, indexes=state["indexes"], **options.get(exp, {}))
        res["peak_rss_gib"] = _peak_rss_gib()
        return {"meta": result_meta({**per_seed_params, "seed": seed}, state["data"]), **res}

    run = SeedRun()
    docs = over_seeds(seeds, stores, compute, run)
    for exp in experiments:
        run.results[exp] = combine_seeds(docs[exp], seeds, per_seed_params)
        run.paths[exp] = write_document(out / exp, run.results[exp])
    return run
