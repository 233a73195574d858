"""The pages, and what each needs the selected model to do: app.py offers only the pages a model can fill."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager


@dataclass(frozen=True)
class PageSpec:
    path: str
    title: str
    icon: str
    needs: tuple[str, ...] | None  # capabilities (models/families/registry.py); None: works without a model


PAGES = [
    PageSpec("pages/overview.py", "Overview", ":material/home:", ()),
    PageSpec("pages/training.py", "Training", ":material/model_training:", None),
    PageSpec("pages/sweep.py", "Sweep", ":material/scatter_plot:", None),
    PageSpec("pages/filters.py", "Filters", ":material/grid_view:", ("filters",)),
    PageSpec("pages/dynamics.py", "Dynamics", ":material/timeline:", ("steps",)),
    PageSpec("pages/reconstructions.py", "Reconstructions", ":material/image:", ("decoder",)),
    PageSpec("pages/confusion.py", "Confusion", ":material/grid_on:", ("classifier",)),
    PageSpec("pages/units.py", "Units", ":material/biotech:", ("filters",)),
    PageSpec("pages/unit_browser.py", "Unit browser", ":material/manage_search:", ("filters",)),
    PageSpec("pages/representation.py", "Representation", ":material/analytics:", ("filters",)),
    PageSpec("pages/composition.py", "Composition", ":material/account_tree:", ("filters", "kinds")),
    PageSpec("pages/ground_truth.py", "Ground truth", ":material/verified:", ("filters", "ground_truth")),
    PageSpec("pages/samples.py", "Samples", ":material/auto_awesome:", ("layers",)),
    PageSpec("pages/hierarchy.py", "Hierarchy", ":material/stacks:", ("layers",)),
    PageSpec("pages/traversal.py", "Traversal", ":material/tune:", ("layers",)),
    PageSpec("pages/layers.py", "Layers", ":material/stacked_bar_chart:", ("layers",)),
    PageSpec("pages/compare.py", "Compare", ":material/compare:", None),
    PageSpec("pages/benchmark.py", "Benchmark", ":material/leaderboard:", None),
    PageSpec("pages/runs.py", "Runs", ":material/table_rows:", None),
]


def spec(script: str) -> PageSpec:
    name = Path(script).name
    return next(p for p in PAGES if Path(p.path).name == name)


def spec_by_title(title: str) -> PageSpec:
    return next(p for p in PAGES if p.title == title)


def offered(capabilities) -> list[PageSpec]:
    """The pages for a model with these capabilities (None: no model, only pages that need none)."""
    if capabilities is None:
        return [p for p in PAGES if p.needs is None]
    return [p for p in PAGES if p.needs is None or not capabilities.missing(*p.needs)]


def asked_for(url: str | None, capabilities) -> PageSpec | None:
    """The page a link names (its path: /dynamics) that this model cannot fill, if any: the app says so instead of
    landing on the Overview without a word."""
    from urllib.parse import urlparse

    name = urlparse(url or "").path.rstrip("/").rsplit("/", 1)[-1]
    page = next((p for p in PAGES if Path(p.path).stem == name), None)
    return page if page is not None and page not in offered(capabilities) else None


def through_app() -> None:
    """Seeing a pages/ folder, a server starts in Streamlit's old multipage mode until st.navigation has run: a link
    to a page, opened before any session ran app.py, would run that page alone (no sidebar, no model), and widgets
    drawn in app.py's first run would be replaced (the user's first slider move lost). Leave that mode and run again
    through app.py. Called first by app.py and by every page."""
    if getattr(PagesManager, "uses_pages_directory", False):
        PagesManager.uses_pages_directory = False
        st.rerun()
