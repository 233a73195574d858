"""Reliability, round three (#45 items 1–4): whatever string a run's files or a link hold (markdown, HTML, LaTeX,
colours, lone surrogates, controls, bidi marks, a megabyte), every page opens and shows it as those characters: never
as markup, never a crash, never a flood."""
import json
import re
import shutil

import pytest
from streamlit.testing.v1 import AppTest

from models import text
from models.services import jobs
from models.training import run_folder as runs
from tests.test_app import PAGES, ROOT, server_navigation
from ui.text import code, plain

PAYLOAD = ("![x](http://127.0.0.1:9/u.png) [l](http://e.example) <img src=x onerror=alert(1)> :red[R] :smile: "
           "$x^2$ **b** \ud800 \u202egnp.exe \x1b[31m \u200b#h")
RAW = ["![x](", "](http", "<img", ":red[", ":smile:", "$x^2$", "**b**", "\ud800", "\u202e", "\x1b"]  # as markup
FOLDER = "run ![x](u.png) :red[r] $y$"  # a run folder's own name (filesystems allow all of it)
MORE_PAGES = ["pages/compare.py", "pages/runs.py", "pages/benchmark.py"]


def test_stored_text_is_printable_and_bounded():
    assert text.printable("a\ud800b", 10) == "a\ufffdb"  # a lone surrogate: the replacement character
    assert text.printable("a\u202eb\u200bc\x1b[0m\x00", 20) == "abc[0m"  # bidi, zero width, controls: dropped
    assert text.printable("one\ntwo", 20) == "one two" and text.printable("one\ntwo", 20, lines=True) == "one\ntwo"
    assert text.printable("x" * 1_000_000, 2000) == "x" * 1999 + "…"
    assert text.printable(None, 10) == "" and text.printable(["list"], 10) == ""
    assert text.printable("😀 family 👩‍👩‍👧", 40) == "😀 family 👩👩👧"  # joiners are format characters


def test_plain_escapes_every_markup_character_and_code_keeps_one_span():
    assert plain("![x](u)") == r"\!\[x\]\(u\)"
    assert plain(":red[R] $y$ <b> **b**") == "\\:\u2060red\\[R\\] \\$y\\$ \\<b\\> \\*\\*b\\*\\*"
    # no bare link: a word joiner after each ':' and '@' and inside 'www.'
    assert plain("http://www.e.example a@b.c").replace("\\", "") == "http:\u2060//www\u2060.e.example a@\u2060b.c"
    assert plain(ValueError("a_b")) == r"a\_b"  # an exception's text
    assert plain("a\nb", lines=True) == "a  \nb"
    assert code("x`![y](u)`") == "`xˋ![y](u)ˋ`"


def test_a_run_note_that_cannot_be_shown_is_refused_in_one_line(tmp_path):
    run = tmp_path / "r"
    run.mkdir()
    with pytest.raises(jobs.JobError, match="cannot be shown"):
        jobs.describe(run, "fine name", "x \ud800 y")
    with pytest.raises(jobs.JobError, match="one line"):
        jobs.describe(run, "bidi \u202e name", "")
    jobs.describe(run, "fine name", "two\nlines ![are](fine)")  # shown as characters: nothing to refuse
    assert runs.read_about(run) == {"name": "fine name", "note": "two\nlines ![are](fine)"}


def test_an_odd_about_file_costs_the_label_only(tmp_path):
    run = tmp_path / "r"
    run.mkdir()
    (run / runs.ABOUT).write_text('{"name": "a\\ud800", "note": "' + "n" * 1_000_000 + '"}')
    about = runs.read_about(run)
    assert about["name"] == "a\ufffd" and len(about["note"]) == text.NOTE_MAX
    (run / runs.ABOUT).write_text('{"name": "n", "note": "' + "n" * (runs.JSON_MAX + 1) + '"}')
    assert runs.read_about(run) == {"name": "", "note": ""}  # larger than any file a run writes: not read
    (run / runs.ABOUT).write_text("[" * 100_000 + "]" * 100_000)  # nesting past the parser's depth
    assert runs.read_about(run) == {"name": "", "note": ""}


def unescaped(at) -> list[str]:
    """What any markdown element of the page (main and sidebar) would render as markup: the payload's fragments
    outside a code span."""
    found = []
    for kind in ("markdown", "caption", "info", "warning", "error", "success", "toast", "subheader", "header"):
        for el in at.get(kind):
            source = str(getattr(el, "value", "") or "")
            outside = "".join(source.split("`")[::2])  # code spans show their characters as they are
            outside = re.sub(r"\\.", "", outside)  # an escaped character is shown as itself
            found += [f"{kind}: {r!r} in {source[:120]!r}" for r in RAW if r in outside]
    return found


@pytest.fixture
def hostile_runs(tiny_run, tmp_path, monkeypatch):
    """A runs folder with a finished run named and noted with the payload, a failed run whose status says it, a run
    in a folder named with markup, and a run whose data path is the payload."""
    server_navigation(monkeypatch)
    monkeypatch.delenv("SPARSELAB_DATA", raising=False)
    root = tmp_path / "runs"
    root.mkdir()
    monkeypatch.setattr(jobs, "RUNS_ROOT", root)
    for name in ("noted", "failed", FOLDER, "data"):
        shutil.copytree(tiny_run[0], root / name)
    (root / "noted" / runs.ABOUT).write_text(json.dumps({"name": PAYLOAD[:50], "note": PAYLOAD + "\n" + "n" * 10**6}))
    status = json.loads((root / "failed" / runs.STATUS).read_text())
    (root / "failed" / runs.STATUS).write_text(json.dumps({**status, "state": "failed", "message": PAYLOAD}))
    cfg = json.loads((root / "data" / runs.CONFIG).read_text())
    cfg["domain"] = {"name": "vectors", "settings": {"vectors": "/nonexistent/" + PAYLOAD.replace("\ud800", "")}}
    (root / "data" / runs.CONFIG).write_text(json.dumps(cfg))
    return root


@pytest.mark.parametrize("model", ["run:noted", "run:failed", f"run:{FOLDER}", "run:data"])
def test_every_page_shows_a_runs_odd_strings_as_characters(hostile_runs, model):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.query_params["model"] = model
    at.run()
    assert not at.exception, at.exception
    assert not unescaped(at), unescaped(at)
    if model == "run:noted":  # the sidebar shows its name and note, as their characters
        assert any("\\!\\[x\\]" in m.value and "red\\[R\\]" in m.value for m in at.markdown)
    opened = 0
    for page in PAGES + MORE_PAGES:
        try:
            at.switch_page(page)
        except ValueError:  # a page this model cannot fill (a run whose data is gone: the model-free pages only)
            continue
        at.run()
        opened += 1
        assert not at.exception, (page, at.exception)
        assert not unescaped(at), (page, unescaped(at))
    assert opened >= (5 if model == "run:data" else 10)


@pytest.mark.parametrize("page", ["pages/overview.py", "pages/dynamics.py", "pages/units.py", "pages/unit_browser.py",
                                  "pages/compare.py", "pages/benchmark.py", "pages/filters.py", "pages/training.py"])
def test_every_link_parameter_at_once_is_shown_as_characters(hostile_runs, page):
    """Each parameter a page reads, all set to the payload: each falls back with a notice that shows it as
    characters (the Compare page's unknown model names used to render as an image)."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    for name in ("model", "T", "digit", "step", "units", "models", "order", "family", "benchmark", "parent",
                 "layer", "depth"):
        at.query_params[name] = PAYLOAD.replace("\ud800", "\ufffd")  # a URL's UTF-8 cannot hold a lone surrogate
    at.switch_page(page).run()
    assert not at.exception, at.exception
    assert not unescaped(at), unescaped(at)
    assert any(w.value.startswith("The link's") for w in at.warning)
