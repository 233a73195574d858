"""The family registry: a second, tiny family registered here trains, saves, loads and opens in the app, on the
pages its capabilities allow and no others; and the layout rules that keep families out of the UI."""
import ast
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from models.checkpoint import load_model
from models.domains import get as domain
from models.families import Capabilities, Family, all_families, get, register, unregister
from models.families.base import SparseModel, UnitWeights, as_array
from models.services import jobs
from models.settings import Config, setting
from models.training import run_folder
from models.training.config import TrainConfig
from models.training.loop import train
from tests.test_app import get as widget, server_navigation
from tests.data import DIGITS

ROOT = Path(__file__).resolve().parent.parent


# -- the tiny family: a one-layer ReLU auto-encoder (no recurrent steps, no classifier) ----------------
@dataclass(frozen=True)
class TinyConfig(Config):
    hidden: int = setting(12, "Hidden units", "units of the code", min=1, max=64)
    sparsity: float = setting(0.05, "Sparsity λ", "weight of the L1 term", min=0.0, max=1.0)


class TinyAE(SparseModel):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.E = nn.Parameter(torch.randn(cfg.hidden, 784, generator=torch.Generator().manual_seed(0)) * 0.05)
        self.b = nn.Parameter(torch.zeros(cfg.hidden))
        self.D = nn.Parameter(self.E.detach().T.clone())

    def steps(self, x, unroll=None, hold=None):
        z = F.relu(F.linear(x, self.E) - self.b)
        yield z if hold is None else hold.apply(z, 1)  # an intervention holds units at a value

    def decode(self, z):
        return F.linear(z, self.D)

    def unit_weights(self):
        return UnitWeights(as_array(self.E), as_array(self.D.T))


TINY = Family(name="tiny", short="Tiny", title="Tiny auto-encoder", summary="`z = ReLU(E x − b)`, `x̂ = D z`.",
              config=TinyConfig, create=TinyAE, capabilities=Capabilities(decoder=True, filters=True))
# ------------------------------------------------------------------------------------------------------


@pytest.fixture
def tiny():
    register(TINY)
    yield TINY
    unregister(TINY.name)


@pytest.fixture
def tiny_trained(tiny, mnist_small, tmp_path):
    out = tmp_path / "tiny-run"
    history = train(TinyConfig(sparsity=0.001), TrainConfig(pretrain_epochs=1, epochs=1, batch_size=20, limit=600,
                                                          lr=0.5, ema=0.0),
                    out, data=mnist_small, device="cpu")
    return out, history


def test_a_new_family_trains_saves_and_loads_through_the_same_code(tiny_trained):
    out, history = tiny_trained
    assert run_folder.read_config(out)["architecture"] == "tiny"
    assert [r["epoch"] for r in history] == [0, 1]
    assert history[-1]["val_recon"] < history[0]["val_recon"]  # it learned to reconstruct
    assert history[-1]["val_error"] is None and history[-1]["val_sup"] is None  # no classifier: no error
    model, progress = load_model(out)
    assert isinstance(model, TinyAE) and progress["epoch"] == 2
    assert torch.load(out / "checkpoint.pt", weights_only=True)["architecture"] == "tiny"


def test_the_app_opens_a_new_family_on_the_pages_it_can_fill(tiny_trained, monkeypatch, tmp_path):
    from streamlit.testing.v1 import AppTest

    out, _ = tiny_trained
    server_navigation(monkeypatch)
    monkeypatch.delenv("SPARSELAB_DATA", raising=False)
    monkeypatch.setattr(jobs, "RUNS_ROOT", tmp_path / "runs")
    shutil.copytree(out, jobs.RUNS_ROOT / "tiny-run")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.selectbox(key="model-group").set_value(("run", "tiny", 12, 1, DIGITS)).run()
    assert not at.exception, at.exception
    assert "Tiny auto-encoder" in at.title[0].value
    assert not [s for s in at.slider if "Unroll" in s.label]  # no recurrent steps: no unroll slider
    for page in ("pages/overview.py", "pages/filters.py", "pages/reconstructions.py", "pages/units.py", "pages/unit_browser.py",
                 "pages/representation.py", "pages/training.py"):
        at.switch_page(page).run()
        assert not at.exception, (page, at.exception)
        assert not at.error, (page, [e.value for e in at.error])
        if page != "pages/training.py":
            assert at.get("plotly_chart"), f"{page} shows no figure"
    at.switch_page("pages/units.py").run()
    text = " ".join(m.value for m in at.markdown) + " ".join(c.value for c in at.caption) + at.title[0].value
    assert "**Unit " in text and "density" in text and at.title[0].value == "Units"
    assert "categorical" not in text.lower()  # a family without kinds: no kind words
    for page in ("pages/dynamics.py", "pages/confusion.py", "pages/composition.py"):  # no steps, classifier, kinds
        with pytest.raises(Exception, match="Known pages"):
            at.switch_page(page)
    at.switch_page("pages/training.py").run()  # the form is generated from the family's settings
    widget(at, "selectbox", "Model family").set_value("tiny").run()
    assert not at.exception
    hidden = [w for w in at.number_input if w.label == "Hidden units"]
    assert len(hidden) == 1 and hidden[0].value == 12 and "from 1 to 64" in hidden[0].help  # its bounds, said (the form checks them on Start)


def test_cli_flags_come_from_the_family_settings():
    from models.cli import main

    with pytest.raises(SystemExit) as e:
        main(["train", "--help"])
    assert e.value.code == 0


def test_train_help_lists_every_setting(capsys):
    from models.cli import main
    from models.settings import flag, settings

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    for cls in (get("drsae").config, TrainConfig):
        for f, _ in settings(cls):
            assert flag(f.name) in text, f.name


def test_trainer_starts_from_a_config_file_and_flags_override(tmp_path, capsys):
    from models.cli import _configs, _read_config_file

    cfg = {"architecture": "drsae", "model": {"hidden": 24, "unroll": 3, "sparsity": 0.2},
           "train": {"epochs": 7, "lr": 0.01}}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    saved = _read_config_file(str(tmp_path / "config.json"))
    digits = domain("digits")
    mc, tc, data = _configs(get("drsae"), digits, saved, {"epochs": 9, "hidden": 30})
    assert (mc.hidden, mc.unroll, mc.sparsity) == (30, 3, 0.2)
    assert (tc.epochs, tc.lr) == (9, 0.01)
    assert tc.ema == 0.0  # a saved config without the average is a run that had none
    assert data.domain is digits and (mc.n_input, mc.n_classes) == (784, 10)  # a file without a domain: digits
    mc, tc, _ = _configs(get("drsae"), digits, {}, {"hidden": 30})  # no file: today's defaults
    assert tc.ema == TrainConfig().ema and mc.unroll == 11


def _imports(path: Path) -> set[str]:
    """Project modules a file imports (anywhere in it: function-level imports make cycles too)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
    return {m for m in out if m.split(".")[0] in ("models", "ui")}


def test_no_import_cycle():
    files = {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
             for d in ("models", "ui") for p in (ROOT / d).rglob("*.py")}
    graph = {m: {i for i in _imports(p) if i in files and i != m} for m, p in files.items()}
    assert "models.families.drsae" in graph and graph["models.training.loop"]  # the walk found the tree
    state, cycles = {}, []

    def visit(m, path):
        state[m] = "open"
        for n in sorted(graph[m]):
            if state.get(n) == "open":
                cycles.append(path[path.index(n):] + [n] if n in path else [m, n])
            elif n not in state:
                visit(n, path + [n])
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert not cycles, cycles


def _code_and_strings(path: Path) -> tuple[str, list[str]]:
    """A file's code without its comments and string literals, and its string literals."""
    import io
    import tokenize

    code, strings = [], []
    for tok in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
        if tok.type == tokenize.STRING or tok.type in (getattr(tokenize, "FSTRING_MIDDLE", -1),):
            strings.append(tok.string)
        elif tok.type != tokenize.COMMENT:
            code.append(tok.string)
    return " ".join(code), strings


def _family_names_in(path: Path) -> list[str]:
    """A family's or a domain's classes in a file's code, its module imported, and its name as a whole string
    literal."""
    from models.domains import all_domains

    families, domains = all_families(), all_domains()
    classes = ({f.config.__name__ for f in families} | {f.create.__name__ for f in families}
               | {d.config.__name__ for d in domains})
    in_code = re.compile(r"\b(" + "|".join(map(re.escape, classes)) + r")\b")
    names = [f.name for f in families] + [d.name for d in domains]
    as_name = re.compile(r"^[rbuf]*[\"'](" + "|".join(map(re.escape, names)) + r")[\"']$")
    own = {f.create.__module__ for f in families} | {f.config.__module__ for f in families} | \
        {d.config.__module__ for d in domains}  # models.families.drsae, models.families.rg_vae.model, ...
    packages = {m.rsplit(".", 1)[0] for m in own} - {"models.families", "models.domains"}  # a family's package
    imported = [m for m in _imports(path) if m in own | packages or any(m.startswith(p + ".") for p in packages)]
    code, strings = _code_and_strings(path)
    return [m.group() for m in in_code.finditer(code)] + [s for s in strings if as_name.match(s)] + imported


LAYERS_THAT_ASK = ("pages", "ui", "models/analysis", "models/services", "models/training")


def test_pages_ui_analysis_services_and_training_name_no_family_and_no_domain(tmp_path):
    """No family's or domain's classes or modules in the code of app.py, pages/, ui/ and models/analysis, services
    and training, and no family's or domain's name as a string there: they ask capabilities and layouts. (Text may
    speak of ISTA the algorithm: "equivalent ISTA iterations" is a measurement, not a family branch.)"""
    files = [ROOT / "app.py", *(p for d in LAYERS_THAT_ASK for p in (ROOT / d).glob("*.py"))]
    assert len(files) > 50  # the walk found the tree
    found = [(p.name, n) for p in files for n in _family_names_in(p)]
    assert not found, found
    planted = tmp_path / "page.py"
    planted.write_text('# ISTA in a comment\nimport models.domains.patches\nx = ISTA(cfg) if sel.family.name == '
                       '"lista" else "ISTA steps"\ny = "digits" if PatchesConfig else "the digits"\n')
    assert _family_names_in(planted) == ["ISTA", "PatchesConfig", '"lista"', '"digits"', "models.domains.patches"]


def test_training_imports_nothing_from_analysis():
    """Training sits below analysis: what an epoch measures lives in models/training/validate.py and models/kinds.py."""
    found = [(p.name, m) for p in (ROOT / "models" / "training").glob("*.py") for m in _imports(p)
             if m.startswith("models.analysis") or m.startswith("ui")]
    assert not found, found
