"""The benchmark: every family × sparsity × seed on one domain, trained through the job registry and measured the
same way, in one table.

    python -m models benchmark --domain D [--families ...] [--sparsity ...] [--seeds 0,1] --out DIR

The runs live in the registry (runs/ by default), so the app opens each and a second call trains only what is
missing (a stopped or interrupted run resumes). Then each run is measured on the domain's test samples:

- the frontier: L0 (active latents per sample) against the fraction of variance unexplained and the reconstruction;
- sparse probing, where the data has labels (models/analysis/probing.py), and a probe on all units;
- recovery of the true dictionary, where the data has one (MCC, share recovered: models/analysis/recovery.py), and
  absorption on a hierarchy (models/analysis/absorption.py);
- consistency across seeds and feature splitting across dictionary sizes (models/analysis/consistency.py).

    DIR/benchmark.json   every number, and which direction is better for each
    DIR/benchmark.md     the table: a row per family and sparsity, seeds averaged
    DIR/decoders.npz     the decoder columns the Benchmark page shows (the size chain, the seed pairs), int8
                         thumbnails
"""
from __future__ import annotations

import io
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from models.analysis.absorption import model_absorption
from models.analysis.codes import LinearDecoder, SparseCodes, sparse
from models.analysis.consistency import SAME, SPLIT_COSINE, seed_match, split_tree
from models.analysis.probing import KS, SAEBENCH_DIFFERENCES, sparse_probing
from models.analysis.recovery import RECOVERED, recovery
from models.analysis.representation import fvu
from models.checkpoint import atomic_write, load_model
from models.data import Dataset, Split
from models.domains import DataSpec, dataset
from models.families import Family, all_families, capabilities, get
from models.probe import linear_probe
from models.services import jobs
from models.training import run_folder
from models.training.config import train_config

RESULT, TABLE, DECODERS = "benchmark.json", "benchmark.md", "decoders.npz"
SIZES = (64, 128, 256, 512)  # dictionary sizes of the feature-splitting chain
FIT_SAMPLES = 5_000  # training samples whose codes the probes are fitted on
TEST_SAMPLES = 100_000  # the most test samples a run is measured on (a split on disk may hold millions)
ENDED = ("done", "failed", "stopped", "interrupted", "damaged")

# Every number of a run, what it is, and which way is better (SAEBench #73: say it each time).
METRICS = {
    "l0": ("L0", "active latents per sample", "lower is sparser (read it against FVU: the frontier)"),
    "fvu": ("FVU", "fraction of variance unexplained, Σ‖x − x̂‖² / Σ‖x − x̄‖²", "lower is better"),
    "recon": ("recon", "reconstruction ½‖x − x̂‖² per sample", "lower is better"),
    "dead": ("dead", "units active on no test sample", "lower is better"),
    **{f"probe_{k}": (f"probe {k}", f"balanced error (%) of a logistic probe on the {k} most class-selective "
                      "latents, mean over one-vs-rest tasks (chance 50 %); sparse probing after SAEBench, which "
                      "differs: " + SAEBENCH_DIFFERENCES, "lower is better") for k in KS},
    "probe_all": ("probe all", "error (%) of a multinomial logistic probe on all latents", "lower is better"),
    "mcc": ("MCC", "mean Hungarian-matched cosine of the true atoms with the decoders", "higher is better"),
    "recovered": ("recovered", f"share of true atoms with a decoder at cosine ≥ {RECOVERED}", "higher is better"),
    "absorption": ("absorption", "share of samples holding a parent and its child in which the child's unit fires "
                   "and the parent's does not", "lower is better"),
    "parent_recall": ("parent recall", "share of samples holding a parent in which its unit fires",
                      "higher is better"),
    "seconds": ("train s", "wall time of the run's training", "lower is better"),
}
PAIR_METRICS = {
    "mcc": ("seed MCC", "mean matched decoder cosine between two seeds (Hungarian matching; past 4,096 units greedy, "
                        "highest cosine first)", "higher is better"),
    "shared": ("shared", f"share of units whose partner in the other seed is at cosine ≥ {SAME}", "higher is better"),
}


class BenchmarkError(ValueError):
    pass


@dataclass
class Planned:
    family: str
    sparsity: float | int
    seed: int
    hidden: int
    role: str  # "grid": the frontier's runs; "size": the feature-splitting chain's other sizes
    mc: object
    tc: object
    run: Path


def default_families() -> list[str]:
    """The families a benchmark trains unless told otherwise (those that declare `benchmarked`)."""
    return [f.name for f in all_families() if f.benchmarked]


def families_of(names: list[str] | None) -> list[Family]:
    """The families to benchmark: each needs a decoder, filters and a sparsity setting (one line otherwise)."""
    out = []
    for name in names or default_families():
        f = get(name)
        missing = f.capabilities.missing("decoder", "filters") + ([] if f.has_sparsity else ["a sparsity setting"])
        if missing:
            raise BenchmarkError(f"{f.short} cannot be benchmarked: it has no {', '.join(missing)}")
        out.append(f)
    return out


def parse_sparsity(items: list[str] | None, families: list[Family]) -> dict[str, list]:
    """'--sparsity topk-sae=8,16,32 relu-sae=0.005,0.01' (or plain values for every family) -> {family: values}; a
    family not named takes its own examples (Family.sparsity_examples)."""
    given: dict[str, str] = {}
    for item in items or []:
        name, _, values = item.rpartition("=")
        for f in families if not name else [get(name)]:
            given[f.name] = values
    unknown = set(given) - {f.name for f in families}
    if unknown:
        raise BenchmarkError(f"--sparsity names {', '.join(sorted(unknown))}, not among --families")
    out = {}
    for f in families:
        text = given.get(f.name, f.sparsity_examples)
        try:
            values = [float(v) for v in text.split(",") if v.strip()]
        except ValueError:
            raise BenchmarkError(f"--sparsity {f.name}={text!r}: give comma-separated numbers") from None
        if not values:
            raise BenchmarkError(f"--sparsity {f.name}: give at least one value")
        out[f.name] = [f.with_sparsity({}, v)[f.sparsity_field] for v in dict.fromkeys(values)]
    return out


def plan(data: DataSpec, families: list[Family], sparsity: dict[str, list], seeds: list[int], root: Path,
         hidden: int | None = None, sizes: tuple[int, ...] = SIZES, train: dict | None = None) -> list[Planned]:
    """The grid (family × sparsity × seed at `hidden`, else the family's default size) and, for feature splitting,
    each family at its middle sparsity and first seed at the other `sizes`."""
    out = []
    for f in families:
        size = hidden or f.config().hidden
        values = sparsity[f.name]
        middle = values[len(values) // 2]
        todo = [(v, s, size, "grid") for v in values for s in seeds]
        todo += [(middle, seeds[0], n, "size") for n in sizes if n != size]
        for value, seed, n, role in todo:
            mc = f.config(**f.with_sparsity({"hidden": n}, value))
            tc = train_config(f, **{**(train or {}), "seed": seed})
            data_, mc = jobs.fitted(mc, data)
            out.append(Planned(f.name, value, seed, n, role, mc, tc, Path(root) / jobs.run_name(mc, tc, data_)))
    return out


def train_missing(planned: list[Planned], data: DataSpec, root: Path, data_dir: str | None = None,
                  log: Callable[[str], None] = print, poll: float = 2.0, should_stop=lambda: False) -> dict[str, str]:
    """Queue every run not done yet and wait until all have ended (a finished run is only read); returns each run's
    final state by name. Stopping leaves the queue as it is: the trainers go on, the same call picks them up."""
    for p in planned:
        jobs.enqueue(p.mc, p.tc, root, data_dir, data)
    last = None
    while True:
        states = {p.run.name: jobs.job(p.run).state for p in planned}
        line = " · ".join(f"{s} {list(states.values()).count(s)}" for s in dict.fromkeys(states.values()))
        if line != last:
            log(f"{time.strftime('%H:%M:%S')}  {line}")
            last = line
        if all(s in ENDED for s in states.values()) or should_stop():
            return states
        jobs.dispatch(root)  # a trainer killed without a word frees its place here
        time.sleep(poll)


@torch.no_grad()
def codes_of(model, split: Split, batch: int = 2000) -> tuple[SparseCodes, np.ndarray]:
    """The codes z_T (n, units; sparse) and reconstructions (n, d) of a split, at the trained T."""
    model.eval()
    decoder = LinearDecoder.of(model) if capabilities(model).filters else None
    zs, xs = [], []
    for i in range(0, len(split), batch):
        z = model.code(split.x[i:i + batch])
        c = sparse(z)
        zs.append(c)
        xs.append((decoder(c) if decoder is not None else model.decode(z)).double().numpy())
    return SparseCodes.joined(zs, model.cfg.hidden), np.concatenate(xs)


def measure_run(model, data: Dataset, truth=None) -> dict:
    """Every number of one model on the test split (its first TEST_SAMPLES; probes fitted on the first FIT_SAMPLES
    training samples). The codes stay sparse: a wide dictionary's are never samples × units."""
    test = data.test.load(TEST_SAMPLES)
    z, x_hat = codes_of(model, test)
    x = test.x.double().numpy()
    out = {"l0": float(z.active().mean()), "fvu": fvu(x, x_hat), "n_test": len(test),
           "recon": float(0.5 * ((x - x_hat) ** 2).sum(1).mean()), "dead": int((z.fires() == 0).sum())}
    if test.y is not None:
        fit = data.train.head(FIT_SAMPLES).load()
        z_fit, _ = codes_of(model, fit)
        y_fit, y_test = fit.y.numpy(), test.y.numpy()
        probing = sparse_probing(z_fit.to_scipy(), y_fit, z.to_scipy(), y_test)
        out.update({f"probe_{k}": v for k, v in probing.error.items()})
        out["probe_all"] = linear_probe(z_fit.to_scipy(), y_fit, z.to_scipy(), y_test)
    if truth is not None:
        decoder = model.unit_weights().decoder
        r = recovery(truth.dictionary, decoder)
        out.update(mcc=r.mcc, recovered=r.recovered)
        if truth.parents and test.codes is not None:
            a = model_absorption(z, decoder, truth.dictionary, test.codes.numpy(), truth.parents)
            out.update(absorption=a.rate, parent_recall=a.recall)
    return out


@dataclass
class Result:
    data: dict  # the DataSpec's dict
    describe: str
    runs: list[dict] = field(default_factory=list)  # a row per run: family, sparsity, seed, hidden, role, state...
    pairs: list[dict] = field(default_factory=list)  # consistency across seeds, per family and sparsity
    splitting: list[dict] = field(default_factory=list)  # per family: the size chain's levels
    created: str = ""
    command: str = ""
    image: list[int] | None = None  # the (h, w) of decoders.npz's thumbnails; None: plain vectors

    def to_dict(self) -> dict:
        return {"data": self.data, "describe": self.describe, "created": self.created, "command": self.command,
                "image": self.image,
                "metrics": {k: {"label": a, "meaning": b, "better": c} for k, (a, b, c) in METRICS.items()},
                "pair_metrics": {k: {"label": a, "meaning": b, "better": c} for k, (a, b, c) in PAIR_METRICS.items()},
                "runs": self.runs, "pairs": self.pairs, "splitting": self.splitting}


THUMB = 256  # an image filter larger than this many pixels is kept at half its side (28 × 28 -> 14 × 14)


def thumbnails(decoder: np.ndarray, image: tuple[int, int] | None) -> tuple[np.ndarray, tuple[int, int] | None]:
    """(units, d) decoder columns as the page draws them, and their image shape: images above THUMB pixels
    averaged 2 × 2 until they are not (vectors as they are)."""
    if image is None:
        return decoder, None
    h, w = image
    imgs = decoder.reshape(len(decoder), h, w)
    while h * w > THUMB and h % 2 == 0 and w % 2 == 0:
        imgs = imgs.reshape(len(imgs), h // 2, 2, w // 2, 2).mean((2, 4))
        h, w = h // 2, w // 2
    return imgs.reshape(len(imgs), -1), (h, w)


def quantised(decoder: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(units, d) -> int8 values and each unit's float16 scale (value × scale ≈ the column): what the page draws."""
    scale = np.abs(decoder).max(1).clip(1e-12) / 127
    return np.round(decoder / scale[:, None]).astype(np.int8), scale.astype(np.float16)


def measure(planned: list[Planned], states: dict[str, str], data: DataSpec, data_dir=None,
            log: Callable[[str], None] = print, compact: bool = False) -> tuple[Result, dict[str, np.ndarray]]:
    """Every finished run measured, the seed pairs and the size chains; and the decoders the page shows (`compact`:
    of the seed pairs, only those at each family's middle sparsity, the one its size chain uses)."""
    result = Result(data.to_dict(), data.describe())
    image = data.layout().image
    loaded: dict[str, tuple[Dataset, object]] = {}
    decoders: dict[Path, np.ndarray] = {}
    for p in planned:
        family = get(p.family)
        row = {"family": p.family, "short": family.short, "symbol": family.sparsity_symbol, "sparsity": p.sparsity,
               "seed": p.seed, "hidden": p.hidden, "role": p.role, "run": p.run.name, "key": f"run:{p.run.name}",
               "state": states.get(p.run.name, "missing")}
        if row["state"] != "done":
            row["message"] = jobs.job(p.run).message
            result.runs.append(row)
            continue
        inputs = data.inputs(family)
        if inputs not in loaded:  # one load per input transform
            loaded[inputs] = dataset(data, data_dir, None, inputs)
        ds, truth = loaded[inputs]
        t0 = time.time()
        model, _ = load_model(p.run)
        row.update(measure_run(model, ds, truth))
        history = run_folder.read_metrics(p.run)
        row["seconds"] = float(history[-1]["elapsed"]) if history else None
        decoders[p.run] = model.unit_weights().decoder
        log(f"measured {p.run.name} ({time.time() - t0:.1f} s): L0 {row['l0']:.1f}, FVU {row['fvu']:.4f}")
        result.runs.append(row)
    shown: dict[str, np.ndarray] = {}
    for f in dict.fromkeys(p.family for p in planned):
        mine = [p for p in planned if p.family == f and p.run in decoders]
        named = {p.run.name: decoders[p.run] for p in mine}
        pairs, chain = seed_pairs(mine, decoders), size_chain(mine, decoders)
        result.pairs += pairs
        result.splitting += [chain] if chain else []
        kept = [p for p in pairs if not compact or (chain and p["sparsity"] == chain["sparsity"])]
        for runs in [p["runs"] for p in kept] + ([chain["runs"]] if chain else []):
            shown.update({name: named[name] for name in runs})
    thumbs = {name: thumbnails(dec, image) for name, dec in shown.items()}
    result.image = next((list(s) for _, s in thumbs.values() if s is not None), None)
    return result, {name: t for name, (t, _) in thumbs.items()}


def seed_pairs(mine: list[Planned], decoders: dict[Path, np.ndarray]) -> list[dict]:
    """One family's consistency across seeds: at each sparsity value, its first two seeds' units matched."""
    out = []
    for value in dict.fromkeys(p.sparsity for p in mine if p.role == "grid"):
        seeds = [p for p in mine if p.role == "grid" and p.sparsity == value]
        if len(seeds) < 2:
            continue
        a, b = seeds[0], seeds[1]
        m = seed_match(decoders[a.run], decoders[b.run])
        out.append({"family": a.family, "sparsity": value, "seeds": [a.seed, b.seed], "hidden": a.hidden,
                    "runs": [a.run.name, b.run.name], "mcc": m.mcc, "shared": m.shared,
                    "partner": m.pairs[:, 1].tolist(), "cosine": m.cosine.round(4).tolist()})
    return out


def size_chain(mine: list[Planned], decoders: dict[Path, np.ndarray]) -> dict | None:
    """One family's feature splitting: its runs at the middle sparsity and first seed, smallest first (None: no
    chain of two sizes)."""
    grid = [p for p in mine if p.role == "grid"]
    if not grid:
        return None
    values = list(dict.fromkeys(p.sparsity for p in grid))
    middle, first = values[len(values) // 2], grid[0].seed
    chain = sorted((p for p in mine if p.sparsity == middle and p.seed == first), key=lambda p: p.hidden)
    if len(chain) < 2:
        return None
    tree = split_tree([decoders[p.run] for p in chain])
    return {"family": chain[0].family, "sparsity": middle, "seed": first, "runs": [p.run.name for p in chain],
            "sizes": tree.sizes,
            "levels": [{"size": lv.size, "parent": lv.parent.tolist(), "cosine": lv.cosine.round(4).tolist(),
                        "split_share": lv.split_share(n, SPLIT_COSINE), "mean_cosine": float(lv.cosine.mean())}
                       for n, lv in zip(tree.sizes, tree.levels)]}


def aggregate(runs: list[dict]) -> list[dict]:
    """A row per family × sparsity of the grid: each number's mean over seeds (and its spread)."""
    groups: dict[tuple, list[dict]] = {}
    for r in runs:
        if r["role"] == "grid" and r["state"] == "done":
            groups.setdefault((r["family"], r["sparsity"]), []).append(r)
    out = []
    for (family, value), rs in groups.items():
        row = {"family": family, "short": rs[0]["short"], "symbol": rs[0]["symbol"], "sparsity": value,
               "hidden": rs[0]["hidden"], "seeds": len(rs)}
        for k in METRICS:
            vs = [r[k] for r in rs if r.get(k) is not None]
            if vs:
                row[k] = statistics.fmean(vs)
                row[f"{k}_sd"] = statistics.stdev(vs) if len(vs) > 1 else 0.0
        out.append(row)
    return out


def markdown(result: Result) -> str:
    rows = aggregate(result.runs)
    keys = [k for k in METRICS if any(k in r for r in rows)]
    head = ["family", "sparsity", "units", "seeds"] + [METRICS[k][0] for k in keys] + [PAIR_METRICS["mcc"][0]]
    pairs = {(p["family"], p["sparsity"]): p for p in result.pairs}
    lines = [f"# Benchmark on {result.describe}", "",
             f"Generated {result.created} by `{result.command}`. Means over seeds (± one standard deviation where "
             "there are two or more).", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    fmt = lambda v: f"{v:.4g}" if isinstance(v, float) else str(v)  # noqa: E731
    for r in rows:
        cells = [r["short"], f"{r['symbol']} {r['sparsity']:g}", str(r["hidden"]), str(r["seeds"])]
        for k in keys:
            v = r.get(k)
            cells.append("—" if v is None else fmt(v) + (f" ± {r[k + '_sd']:.2g}" if r.get(k + "_sd") else ""))
        p = pairs.get((r["family"], r["sparsity"]))
        cells.append(f"{p['mcc']:.3f} ({p['shared']:.0%} ≥ {SAME})" if p else "—")
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Which way is better:", ""]
    lines += [f"- **{METRICS[k][0]}**: {METRICS[k][1]}; {METRICS[k][2]}." for k in keys]
    lines += [f"- **{a}**: {b}; {c}." for a, b, c in PAIR_METRICS.values()]
    if result.splitting:
        lines += ["", "## Feature splitting across dictionary sizes", "",
                  "Each unit of a larger dictionary hangs under the closest unit (decoder cosine) of the next smaller "
                  f"one. A split: a unit with two or more children at cosine ≥ {SPLIT_COSINE} (neither more nor "
                  "fewer splits "
                  "is better: it is what more units do with a feature).", "",
                  "| family | sparsity | sizes | share of units split, by level | mean child cosine, by level |",
                  "|---|---|---|---|---|"]
        for s in result.splitting:
            f = get(s["family"])
            shares = ", ".join(f"{lv['split_share']:.0%}" for lv in s["levels"])
            cos = ", ".join(f"{lv['mean_cosine']:.3f}" for lv in s["levels"])
            lines.append(f"| {f.short} | {f.sparsity_label(s['sparsity'])} | {' → '.join(map(str, s['sizes']))} | "
                         f"{shares} | {cos} |")
    checked = claims(result.to_dict())
    if checked:
        lines += ["", "## Published claims, checked here", "", "| claim | source | ours | holds |", "|---|---|---|---|"]
        lines += [f"| {c['claim']} | {c['source']} | {c['ours']} | "
                  f"{'—' if c['holds'] is None else 'yes' if c['holds'] else '**no**'} |" for c in checked]
    failed = [r for r in result.runs if r["state"] != "done"]
    if failed:
        lines += ["", "Runs left out: " + "; ".join(f"{r['run']} ({r['state']}: {r.get('message', '')})"
                                                   for r in failed)]
    return "\n".join(lines) + "\n"


def write(result: Result, shown: dict[str, np.ndarray], out: Path) -> list[Path]:
    """DIR/benchmark.json, .md and decoders.npz, each written whole or not at all."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / RESULT, json.dumps(result.to_dict(), indent=1).encode())
    atomic_write(out / TABLE, markdown(result).encode())
    arrays = {}
    for name, dec in shown.items():
        arrays[f"{name}.values"], arrays[f"{name}.scale"] = quantised(np.asarray(dec))
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write(out / DECODERS, buf.getvalue())
    return [out / RESULT, out / TABLE, out / DECODERS]


@dataclass
class Saved:
    """A benchmark folder read back (what the Benchmark page shows)."""
    folder: Path
    result: dict
    decoders: dict[str, np.ndarray]  # run name -> (units, d) float32

    @property
    def rows(self) -> list[dict]:
        return aggregate(self.result["runs"])


class DamagedBenchmark(ValueError):
    pass


def read(folder: Path) -> Saved:
    """A benchmark folder (DamagedBenchmark in one line if its files cannot be read); decoders.npz is optional."""
    folder = Path(folder)
    try:
        result = json.loads((folder / RESULT).read_text())
        if not isinstance(result, dict) or not isinstance(result.get("runs"), list):
            raise ValueError("it holds no runs")
    except (OSError, ValueError) as e:
        raise DamagedBenchmark(f"{folder / RESULT} cannot be read ({e})") from None
    decoders = {}
    try:
        with np.load(folder / DECODERS, allow_pickle=False) as f:
            for key in f.files:
                if key.endswith(".values"):
                    name = key[:-len(".values")]
                    decoders[name] = f[key].astype(np.float32) * f[f"{name}.scale"].astype(np.float32)[:, None]
    except (OSError, ValueError, KeyError):
        decoders = {}
    return Saved(folder, result, decoders)


def at_l0(rows: list[dict], family: str, y: str, l0: float) -> float | None:
    """A family's `y` at this L0, interpolated on log L0 between its grid points (None outside their range)."""
    pts = sorted((r["l0"], r[y]) for r in rows if r["family"] == family and y in r and r["l0"] > 0)
    if not pts or not pts[0][0] <= l0 <= pts[-1][0]:
        return None
    xs, ys = zip(*pts)
    return float(np.interp(np.log(l0), np.log(xs), ys))


def lower_at_equal_l0(rows: list[dict], a: str, b: str, y: str = "fvu", strict: bool = True) -> dict | None:
    """Is a's `y` lower than b's at the same L0? Compared at every grid L0 of either family inside both ranges."""
    l0s = sorted({r["l0"] for r in rows if r["family"] in (a, b)})
    pairs = [(l0, at_l0(rows, a, y, l0), at_l0(rows, b, y, l0)) for l0 in l0s]
    pairs = [(l0, va, vb) for l0, va, vb in pairs if va is not None and vb is not None]
    if not pairs:
        return None
    wins = [va < vb if strict else va <= vb * 1.01 for _, va, vb in pairs]
    return {"points": pairs, "holds": all(wins), "mean_ratio": float(np.mean([va / vb for _, va, vb in pairs]))}


def lower_at_each_sparsity(rows: list[dict], a: str, b: str, y: str, strict: bool = True) -> dict | None:
    """Is a's `y` lower than b's at every sparsity value both trained?"""
    mine = {r["sparsity"]: r[y] for r in rows if r["family"] == a and y in r}
    theirs = {r["sparsity"]: r[y] for r in rows if r["family"] == b and y in r}
    pairs = [(v, mine[v], theirs[v]) for v in mine if v in theirs]
    if not pairs:
        return None
    wins = [va < vb if strict else va <= vb * 1.01 for _, va, vb in pairs]
    return {"points": pairs, "holds": all(wins)}


def claims(result: dict) -> list[dict]:
    """The published claims (models.families.Claim) of the families here against each other, each with the
    numbers behind its verdict (holds: None where the benchmark lacks what it needs)."""
    rows = aggregate(result["runs"])
    have = list(dict.fromkeys(r["family"] for r in rows))
    out = []
    for a in have:
        for c in get(a).claims:
            if c.than not in have or not any(c.metric in r for r in rows):
                continue  # the other family is not here, or the data cannot measure it (absorption: a hierarchy)
            fa, fb = get(a), get(c.than)
            strict = c.how == "lower"
            if c.metric == "fvu":
                found = lower_at_equal_l0(rows, a, c.than, c.metric, strict)
                where = lambda p: f"L0 {p[0]:.1f}"  # noqa: E731
            else:
                found = lower_at_each_sparsity(rows, a, c.than, c.metric, strict)
                where = lambda p: fa.sparsity_label(p[0])  # noqa: E731
            label = METRICS[c.metric][0]
            if found is None:
                out.append({"claim": c.text, "source": c.source, "holds": None,
                            "ours": f"no {label} of both at the same " + ("L0: train sparsities that meet"
                                                                        if c.metric == "fvu" else "sparsity")})
                continue
            pts = "; ".join(f"{where(p)}: {p[1]:.4f} vs {p[2]:.4f}" for p in found["points"])
            out.append({"claim": c.text, "source": c.source, "holds": found["holds"],
                        "ours": f"{label} of {fa.short} vs {fb.short}: {pts}"})
    return out


def available(root: Path | None = None) -> list[tuple[str, Path]]:
    """Benchmark folders to open, as (label, folder): the embedded ones, then those in the registry folder."""
    from models.assets import embedded_benchmarks

    root = Path(root or jobs.RUNS_ROOT)
    found = [(f"embedded · {p.name}", p) for p in embedded_benchmarks()]
    if root.is_dir():
        mine = sorted((p for p in root.iterdir() if (p / RESULT).is_file()), key=lambda p: p.name)
        found += [(f"yours · {p.name}", p) for p in mine]
    return found
