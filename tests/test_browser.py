"""The main path in a real browser: open the app, move the unroll slider, switch pages, see the figures change."""
import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser import CHROMIUM, ROOT, browser_page, plot_data, streamlit_server, wait_idle

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("CI"),
                                reason="chromium is not installed (apt-get install chromium); CI installs it")


def slider_value(page, label: str) -> int:
    s = page.locator('[data-testid="stSlider"]', has_text=label).locator('input[type="range"]')
    return int(s.input_value())


def move_slider(page, label: str, presses: int, key: str) -> None:
    s = page.locator('[data-testid="stSlider"]', has_text=label).locator('input[type="range"]')
    s.focus()
    for _ in range(presses):
        s.press(key)
    wait_idle(page)


@pytest.fixture
def page(tmp_path):
    """The app on the embedded default, opened in chromium on its first page."""
    env = {"SPARSELAB_RUNS": str(tmp_path / "runs"), "SPARSELAB_DATA": ""}
    with streamlit_server(ROOT / "app.py", env) as url, browser_page() as page:
        page.goto(url)
        page.wait_for_selector(".js-plotly-plot", timeout=90_000)
        wait_idle(page)
        yield page


def go(page, name: str, marker: str) -> None:
    more = page.locator('[data-testid="stSidebarNavViewButton"]')
    if not page.locator('[data-testid="stSidebarNavLink"]', has_text=name).count() and more.count():
        more.click()  # the navigation shows ten pages until asked for the rest
    page.locator('[data-testid="stSidebarNavLink"]', has_text=name).click()
    page.wait_for_selector(f"text={marker}", timeout=60_000)
    wait_idle(page)


def test_main_path(page, tmp_path):
    # SPARSELAB_SCREENSHOTS=docs keeps this first view: it is the README's screenshot
    page.screenshot(path=str(Path(os.environ.get("SPARSELAB_SCREENSHOTS") or tmp_path) / "overview.png"))
    assert slider_value(page, "Unroll steps") == 11
    metric = page.locator('[data-testid="stMetric"]').first
    assert "T = 11" in metric.inner_text()
    marker_before = page.evaluate("() => document.querySelectorAll('.js-plotly-plot')[0].layout.shapes[0].x0")
    move_slider(page, "Unroll steps", 3, "ArrowLeft")
    page.wait_for_function("() => document.querySelector('[data-testid=\"stMetric\"]').innerText.includes('T = 8')",
                           timeout=30_000)
    wait_idle(page)
    page.wait_for_function("""() => [...document.querySelectorAll('[data-testid="stSlider"]')]
        .find(s => s.innerText.includes('Unroll steps')).querySelector('input[type="range"]').value === '8'""",
                           timeout=10_000)  # the widget shows what the app computed, once its runs have settled
    assert slider_value(page, "Unroll steps") == 8
    assert marker_before == 11  # the error curve's marker follows the slider:
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot')[0].layout.shapes[0].x0 === 8",
                           timeout=30_000)
    page.screenshot(path=str(tmp_path / "overview-t8.png"), full_page=True)

    go(page, "Dynamics", "Step t")
    assert slider_value(page, "Unroll steps") == 8  # the choice followed the user to the new page
    steps = page.locator(".stepper input[type=range]")
    assert steps.get_attribute("max") == "8" and page.locator(".stepper").get_attribute("data-step") == "8"
    move_slider(page, "Unroll steps", 4, "ArrowRight")
    expect(steps).to_have_attribute("max", "12", timeout=30_000)  # the frames of T = 12 replaced those of 8
    page.screenshot(path=str(tmp_path / "dynamics.png"), full_page=True)

    go(page, "Filters", "Encoder rows")
    expect(page.locator(".stepper")).to_have_count(1, timeout=30_000)  # the filmstrip, drawn after the grids
    assert page.locator(".js-plotly-plot").count() >= 2
    assert not page.locator('[data-testid="stException"]').count()


def test_play_animates_steps_and_confusion_cells_open(page):
    go(page, "Dynamics", "Step t")
    stepper = page.locator(".stepper")
    assert stepper.get_attribute("data-step") == "11"
    page.get_by_role("button", name="▶ Play").click()
    seen = set()
    for _ in range(30):
        page.wait_for_timeout(300)
        seen.add(int(stepper.get_attribute("data-step")))
    assert len(seen) >= 4 and min(seen) <= 3, seen  # it restarted at step 1 and advanced, in the browser

    go(page, "Confusion", "True class (rows)")
    box = page.locator(".js-plotly-plot").first.locator(".nsewdrag").first.bounding_box()
    # the cell (true 4, predicted 4): the diagonal is never empty
    page.mouse.click(box["x"] + box["width"] * 0.45, box["y"] + box["height"] * 0.45)
    page.wait_for_selector("text=digits of class 4 predicted as 4", timeout=30_000)


def test_draw_a_digit(page):
    """A stroke on the canvas: the model sees it framed as the dataset's digits and the Dynamics page answers."""
    go(page, "Dynamics", "Step t")
    page.get_by_text("Draw", exact=True).click()
    page.wait_for_selector("text=Draw one digit", timeout=60_000)
    wait_idle(page)
    box = page.locator("canvas.upper-canvas").first.bounding_box()  # fabric.js draws on its upper canvas
    x0, y0 = box["x"] + box["width"] / 2, box["y"] + 0.15 * box["height"]
    page.mouse.move(x0, y0)
    page.mouse.down()
    for k in range(1, 21):  # a vertical stroke: a 1
        page.mouse.move(x0 + k * 0.5, y0 + k * 0.035 * box["height"])
    page.mouse.up()
    page.wait_for_selector("text=your drawing", timeout=60_000)
    wait_idle(page)
    assert page.get_by_text("what the model sees").count()
    assert page.locator(".stepper").get_attribute("data-step") == "11"  # the frames came back at the step held
    prediction = page.locator('[data-testid="stMetric"]').first.inner_text()
    assert "Prediction after step 11" in prediction and "\n1\n" in prediction, prediction
    assert page.locator(".stepper input[type=range]").get_attribute("max") == "11"
    assert not page.locator('[data-testid="stException"]').count()


def test_upload_own_digit_and_a_bad_file(page):
    import io

    from PIL import Image, ImageDraw

    go(page, "Dynamics", "Step t")
    page.get_by_text("Upload", exact=True).click()
    page.wait_for_selector('[data-testid="stFileUploaderDropzoneInput"]', state="attached", timeout=30_000)
    img = Image.new("L", (120, 120), 255)
    ImageDraw.Draw(img).ellipse([30, 15, 90, 105], outline=0, width=12)  # a zero
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    upload = page.locator('[data-testid="stFileUploaderDropzoneInput"]')
    upload.set_input_files(files=[{"name": "zero.png", "mimeType": "image/png", "buffer": buf.getvalue()}])
    page.wait_for_selector("text=your digit", timeout=60_000)
    wait_idle(page)
    expect(page.locator(".stepper figure img")).to_have_count(2)  # the uploaded digit and its x̂(z_t), in the frames
    upload.set_input_files(files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"not a picture"}])
    page.wait_for_selector("text=not an image that can be read", timeout=60_000)
    assert not page.locator('[data-testid="stException"]').count()


def test_compare_page_shows_the_four_encoders(page, tmp_path):
    go(page, "Compare", "Compare models")
    # the page is drawn around a bar while the worker measures the four models (seconds on two cores) ...
    page.wait_for_selector('[data-testid="stProgress"]:has-text("Measuring each model")', timeout=60_000)
    page.wait_for_selector("text=Units matched across two models", timeout=180_000)  # below the table
    # ... and the table takes the bar's place when they are measured, with nothing clicked
    page.wait_for_selector('[data-testid="stDataFrame"]', timeout=180_000)  # a canvas: its text is not in the DOM
    wait_idle(page, 120_000)
    assert not page.locator('[data-testid="stProgress"]').count()
    chosen = page.locator('[data-testid="stMultiSelect"]').first.inner_text()
    for name in ("DrSAE", "ISTA", "LISTA", "SR-DrSAE"):
        assert name in chosen, chosen
    # the curves and each model's z_t (charts below the fold may draw late on a busy machine)
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 5", timeout=60_000)
    shots = Path(os.environ.get("SPARSELAB_SCREENSHOTS") or tmp_path)
    page.screenshot(path=str(shots / "compare.png"))
    page.locator("text=One digit, step by step").scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "compare-steps.png"))
    page.locator("text=Units matched across two models").scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "compare-units.png"))
    assert not page.locator('[data-testid="stException"]').count()


def test_a_shared_link_opens_the_view_and_downloads_work(tmp_path):
    """A link opened as the server's first page (before any session ran app.py) shows the same model, T and units;
    a chart's camera button gives a PNG named after the figure; the Training page gives the metrics as CSV."""
    env = {"SPARSELAB_RUNS": str(tmp_path / "runs"), "SPARSELAB_DATA": ""}
    with streamlit_server(ROOT / "app.py", env) as url, browser_page() as page:
        page.goto(url + "/units?model=default:drsae-400x11-l0.05&T=5&units=137,5&digit=42")
        page.wait_for_selector("text=Units to compare", timeout=90_000)
        wait_idle(page)
        chosen = page.locator('[data-testid="stMultiSelect"]').first.inner_text()
        assert "137" in chosen and "5" in chosen, chosen
        assert slider_value(page, "Unroll steps") == 5
        assert "0.05" in page.locator('[data-testid="stSidebar"]').inner_text()
        assert "units=137%2C5" in page.url or "units=137,5" in page.url
        page.get_by_role("button", name="Link").click()
        link = page.locator('[data-testid="stCode"]').last.inner_text()
        assert "/units?model=default:drsae-400x11-l0.05&T=5&units=137,5&digit=42" in link, link

        plot = page.locator(".js-plotly-plot").first
        plot.hover()
        with page.expect_download(timeout=30_000) as d:
            plot.locator('.modebar-btn[data-title^="Download plot"]').first.click()
        png = Path(d.value.path()).read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
        assert d.value.suggested_filename.startswith("sparselab-embedded-drsae-400x11-l0.05-recurrent-weight-norm")

        go(page, "Training", "How the embedded models were trained")
        with page.expect_download(timeout=30_000) as d:
            page.get_by_role("button", name="Metrics (CSV").click()
        rows = Path(d.value.path()).read_text().splitlines()
        assert rows[0].startswith("epoch,phase,lr,") and len(rows) == 106  # a header and 105 epochs
        assert not page.locator('[data-testid="stException"]').count()


def point_on_page(page, chart: int, trace_name: str, index: int) -> tuple[float, float]:
    """Where the index-th point of the named trace of the chart-th Plotly figure is drawn, in page pixels."""
    return page.evaluate("""([chart, name, index]) => {
        const div = document.querySelectorAll('.js-plotly-plot')[chart];
        const t = div._fullData.find(d => d.name && d.name.startsWith(name));
        const fl = div._fullLayout, box = div.getBoundingClientRect();
        return [box.left + fl.xaxis._offset + fl.xaxis.l2p(t.x[index]),
                box.top + fl.yaxis._offset + fl.yaxis.l2p(t.y[index])];
    }""", [chart, trace_name, index])


def test_composition_units_filmstrip_and_an_intervention(page):
    go(page, "Composition", "Categorical units built from part units")
    graph = next(i for i in range(page.locator(".js-plotly-plot").count())
                 if "Part units exciting" in (page.evaluate(f"() => document.querySelectorAll('.js-plotly-plot')[{i}]"
                                                          ".layout.title.text") or ""))
    page.locator(".js-plotly-plot").nth(graph).scroll_into_view_if_needed()
    unit = page.evaluate(f"() => document.querySelectorAll('.js-plotly-plot')[{graph}]._fullData"
                         ".find(d => d.name.startsWith('categorical')).customdata[7]")
    x, y = point_on_page(page, graph, "categorical", 7)
    page.mouse.click(x, y)
    page.wait_for_selector(f"text=Unit {unit} (its decoder first)", timeout=60_000)  # its parts' filters appear
    wait_idle(page)
    assert not page.locator('[data-testid="stException"]').count()

    go(page, "Filters", "How the filters formed")
    page.locator(".stepper").scroll_into_view_if_needed()
    page.get_by_role("button", name="▶ Play").click()
    page.wait_for_selector("text=Encoder rows at the start", timeout=30_000)  # from the last frame back to the first
    page.wait_for_selector("text=Encoder rows after epoch 1", timeout=30_000)  # and on

    go(page, "Dynamics", "Step t")
    page.get_by_text("Ablate or clamp units from a step on").click()
    page.wait_for_selector("text=units held at 0 from step 1", timeout=60_000)
    wait_idle(page)
    titles = page.evaluate("() => [...document.querySelectorAll('.js-plotly-plot')].map(d => d.layout.title.text)")
    assert any("z_t held − z_t untouched" in t for t in titles), titles
    assert not page.locator('[data-testid="stException"]').count()


def test_a_generative_hierarchy_samples_and_its_units(page):
    page.goto(page.url.split("?")[0].rstrip("/") + "/samples?model=default:rg-vae")
    page.wait_for_selector(".stepper", timeout=90_000)
    images = "() => document.querySelectorAll('[data-testid=\"stMain\"] img').length"
    page.wait_for_function(f"() => ({images})() >= 3", timeout=60_000)  # the digit, its binarisation and code
    wait_idle(page)
    expect(page.locator(".stepper figure img")).to_have_count(24)  # its samples, in the page at every depth
    assert page.get_by_text("Depth 1: layers 1 drawn afresh").count()
    page.get_by_role("heading", name="Samples", exact=True).click()
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    page.wait_for_selector("text=Depth 4: layers 1, 2, 3, 4 drawn afresh", timeout=5_000)  # in the browser
    page.wait_for_function("() => location.href.includes('depth=4')", timeout=30_000)  # the server heard it once

    go(page, "Hierarchy", "One unit")
    page.get_by_text("1 (300 units)").click()
    page.wait_for_selector("text=300 units of layer 1", timeout=60_000)
    page.wait_for_function(f"() => ({images})() >= 300", timeout=60_000)

    go(page, "Traversal", "Value of the unit")
    go(page, "Layers", "Layer 1:")
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length === 4", timeout=30_000)
    assert not page.locator('[data-testid="stException"]').count()


def test_the_embedded_patches_model_shows_its_gabors_and_synthetic_its_atoms(page, tmp_path):
    """Another domain at first open, offline: natural image patches' filters as 12 × 12 images with their Gabor fits;
    a synthetic set's recovered atoms, shown as bar strips."""
    page.goto(page.url.split("?")[0].rstrip("/") + "/filters?model=default:ista-patches-256")
    page.wait_for_selector("text=Are the filters Gabors?", timeout=90_000)
    page.wait_for_selector("text=Fitted well", timeout=90_000)
    wait_idle(page)
    assert "12 × 12 image" in page.locator('[data-testid="stMain"]').inner_text()
    assert "Confusion" not in page.locator('[data-testid="stSidebarNav"]').inner_text()  # patches carry no labels
    share = page.locator('[data-testid="stMetric"]', has_text="Fitted well").inner_text()
    assert int(share.split("\n")[-1].rstrip(" %")) >= 50, share
    page.screenshot(path=str(Path(os.environ.get("SPARSELAB_SCREENSHOTS") or tmp_path) / "patches-filters.png"),
                    full_page=True)
    page.goto(page.url.split("/filters")[0] + "/ground_truth?model=default:ista-synthetic-64")
    page.wait_for_selector("text=Were the true features found?", timeout=90_000)
    page.wait_for_selector("text=When was each atom found?", timeout=60_000)
    wait_idle(page)
    # the metric row is drawn with the page's last run: wait for it rather than look once (CI saw it mid-rerun)
    expect(page.locator('[data-testid="stMetric"]', has_text="MCC").first).to_be_visible(timeout=60_000)
    assert not page.locator('[data-testid="stException"]').count()
    # its filmstrip of bar strips stays inside the page on a 1,500 px screen (it ran past the right edge)
    page.set_viewport_size({"width": 1500, "height": 1000})
    page.goto(page.url.split("/ground_truth")[0] + "/filters?model=default:ista-synthetic-64")
    page.wait_for_selector(".stepper", timeout=90_000)
    wait_idle(page)
    page.wait_for_timeout(500)
    past = page.evaluate("""() => {
        const right = document.querySelector('[data-testid="stMain"]').getBoundingClientRect().right;
        return [...document.querySelectorAll('.stepper img')].filter(i => i.getBoundingClientRect().right > right + 1)
            .length + (document.documentElement.scrollWidth > document.documentElement.clientWidth ? 1000 : 0); }""")
    assert page.locator(".stepper img").count() >= 2 and past == 0, past
    assert "rad)" not in page.locator('[data-testid="stMain"]').inner_text()  # a tied encoder's angles: all 0, unsaid


def test_the_benchmark_page_opens_a_run_and_a_parents_children(page, tmp_path):
    """The embedded benchmark at first open: its frontier (a run's point opens that model when it is here, the
    embedded TopK SAE), and a bar of the splitting chart shows that unit's children."""
    go(page, "Benchmark", "The frontier: sparsity against reconstruction")
    page.wait_for_selector("text=Feature splitting across dictionary sizes", timeout=60_000)
    wait_idle(page)
    traces = plot_data(page, 0)
    families = [t["name"] for t in traces if t.get("customdata") is None]
    assert len(families) == 5, families
    bars = next(i for i in range(page.locator(".js-plotly-plot").count())
                if "Children of each" in (page.evaluate(f"() => document.querySelectorAll('.js-plotly-plot')[{i}]"
                                                         ".layout.title.text") or ""))
    page.locator(".js-plotly-plot").nth(bars).scroll_into_view_if_needed()
    unit = page.evaluate(f"() => document.querySelectorAll('.js-plotly-plot')[{bars}]._fullData[0].x[2]")
    box = page.locator(".js-plotly-plot").nth(bars).locator(".bars .point").nth(2).bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] - 2)  # through Plotly's drag layer
    page.wait_for_selector(f"text=unit {unit} (64 units)", timeout=60_000)  # that parent, then its children
    wait_idle(page)
    assert "cos" in page.locator('[data-testid="stMain"]').inner_text()
    page.screenshot(path=str(Path(os.environ.get("SPARSELAB_SCREENSHOTS") or tmp_path) / "benchmark.png"),
                    full_page=True)
    page.locator(".js-plotly-plot").nth(0).scroll_into_view_if_needed()
    embedded = page.evaluate("""() => {
        const div = document.querySelectorAll('.js-plotly-plot')[0];
        const t = div._fullData.find(d => d.name && d.name.startsWith('TopK SAE: each run'));
        const fl = div._fullLayout, box = div.getBoundingClientRect();
        const i = t.customdata.findIndex(k => k.includes('-k-16-'));
        return [box.left + fl.xaxis._offset + fl.xaxis.l2p(fl.xaxis.d2l(t.x[i])),
                box.top + fl.yaxis._offset + fl.yaxis.l2p(fl.yaxis.d2l(t.y[i]))];
    }""")
    page.mouse.click(*embedded)
    page.wait_for_selector("text=Active units", timeout=60_000)  # the Overview of the embedded TopK SAE
    wait_idle(page)
    assert "TopK sparse autoencoder" in page.locator('[data-testid="stMain"]').inner_text()
    assert "model=default%3Atopk-sae-128" in page.url
    assert not page.locator('[data-testid="stException"]').count()


def test_the_runs_page_draws_a_sweeps_parallel_coordinates(page, tmp_path):
    """The embedded models as runs: their settings on parallel axes (log axes where a setting spans a decade),
    coloured by a number, drawn by the browser."""
    page.goto(page.url.split("?")[0].rstrip("/") + "/runs")
    page.wait_for_selector("text=A sweep's settings against a number", timeout=90_000)
    page.wait_for_selector(".parcoords", timeout=60_000)
    wait_idle(page)
    chart = page.evaluate("""() => [...document.querySelectorAll('.js-plotly-plot')]
        .map(d => d.data && d.data[0]).filter(t => t && t.type === 'parcoords')[0]""")
    assert chart and len(chart["dimensions"]) >= 3  # settings and the number
    lines = len(chart["dimensions"][0]["values"])
    assert lines >= 2
    page.screenshot(path=str(Path(os.environ.get("SPARSELAB_SCREENSHOTS") or tmp_path) / "runs.png"),
                    full_page=True)
    assert not page.locator('[data-testid="stException"]').count()


def test_scrubbing_steps_in_the_browser_without_the_server(page):
    """The step's frames switch in the page: no message goes to the server while the keys step (the server hears
    the step once they stop), the reconstruction changes, and the intervention then starts at that step."""
    go(page, "Dynamics", "Step t")
    sent = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(payload)))
    page.reload()  # the listener sees the app's socket from its start
    page.wait_for_selector(".stepper", timeout=90_000)
    wait_idle(page)
    stepper, recon = page.locator(".stepper"), page.locator(".stepper figure img").nth(1)
    before, shown = recon.get_attribute("src"), int(stepper.get_attribute("data-shown"))
    page.get_by_role("heading", name="Dynamics").click()  # the page has the focus, no widget
    sent.clear()
    for _ in range(3):
        page.keyboard.press("ArrowLeft")
    assert stepper.get_attribute("data-step") == "8" and int(stepper.get_attribute("data-shown")) == shown + 3
    assert recon.get_attribute("src") != before  # x̂(z_8), not x̂(z_11)
    assert not sent, "a frame went to the server while stepping"
    expect(page.locator('[data-testid="stMetric"]').first).to_contain_text("Prediction after step 8",
                                                                            timeout=30_000)  # heard once they stopped
    wait_idle(page)
    assert len(sent) >= 1
    page.get_by_text("Ablate or clamp units from a step on").click()
    page.wait_for_selector("text=units held at 0 from step 8", timeout=60_000)
    assert not page.locator('[data-testid="stException"]').count()


def test_keys_step_the_filmstrip_and_nothing_covers_what_is_above_it(page):
    """← steps the Filters filmstrip too; on a 400 px screen a chart's toolbar sits above its title, and the
    drawing canvas's toolbar above its box does not cover the sample picker."""
    go(page, "Filters", "How the filters formed")
    film = page.locator(".stepper")
    page.get_by_role("heading", name="Filters", exact=True).click()
    page.keyboard.press("ArrowLeft")
    assert film.get_attribute("data-step") == "6" and "Encoder rows after epoch 41" in film.inner_text()
    page.keyboard.press(" ")  # space plays: from the last frames on
    expect(film.get_by_role("button", name="⏸ Pause")).to_be_visible(timeout=5_000)

    go(page, "Overview", "Reconstruction")
    page.set_viewport_size({"width": 400, "height": 900})
    page.wait_for_timeout(500)
    plot = page.locator(".js-plotly-plot").first
    plot.hover()
    bar, title = plot.locator(".modebar").bounding_box(), plot.locator(".gtitle").bounding_box()
    assert bar["y"] + bar["height"] <= title["y"] + 1, (bar, title)

    page.set_viewport_size({"width": 1400, "height": 1000})
    page.wait_for_timeout(500)
    go(page, "Dynamics", "Step t")
    page.get_by_text("Draw", exact=True).click()
    page.wait_for_selector("canvas.upper-canvas", timeout=60_000)
    box = page.locator("canvas.upper-canvas").first.bounding_box()
    page.mouse.move(box["x"] + 40, box["y"] + 40)
    page.mouse.down()
    page.mouse.move(box["x"] + 80, box["y"] + 160, steps=8)
    page.mouse.up()
    wait_idle(page)
    page.mouse.move(box["x"] + 100, box["y"] + 100)
    page.wait_for_timeout(500)
    radio = page.locator('[data-testid="stRadio"]', has_text="By class").first.bounding_box()
    icons = [b for b in (i.bounding_box() for i in page.locator("button:has(svg)").all()) if b
             and box["x"] <= b["x"] <= box["x"] + box["width"] and box["y"] - 60 <= b["y"] < box["y"]]
    assert icons, "the canvas's toolbar did not show"
    assert all(b["y"] >= radio["y"] + radio["height"] for b in icons), (icons, radio)


def test_the_dynamics_heatmap_switches_its_scale_in_the_page_and_opens_a_unit(page):
    """The z_t heatmap: rows grouped by kind, its colour scale switched in the browser (no message to the server),
    a hover naming unit, step and value, a click on a row opening that unit; and the ← → keys leave a slider that
    has the focus alone."""
    go(page, "Dynamics", "Step t")
    sent = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(payload)))
    page.reload()
    page.wait_for_selector(".stepper canvas", timeout=90_000)
    wait_idle(page)
    stepper, heat, scale = page.locator(".stepper"), page.locator(".stepper canvas").first, page.locator(".hmctl select")
    assert scale.input_value() == "row"  # each row on its own scale: part units fading show
    pixels = lambda: heat.evaluate("c => c.toDataURL()")  # noqa: E731
    before = pixels()
    sent.clear()
    scale.select_option("linear")
    assert pixels() != before and not sent, "switching the colour scale went to the server"
    slider = page.locator('[data-testid="stSlider"]', has_text="Unroll").locator('input[type="range"]')
    slider.focus()
    page.keyboard.press("ArrowLeft")
    assert stepper.get_attribute("data-step") == "11"  # the keys were the slider's, not the frames'
    wait_idle(page)
    page.wait_for_selector(".stepper canvas", timeout=90_000)
    wait_idle(page)
    heat = page.locator(".stepper canvas").first
    box = heat.bounding_box()
    page.mouse.move(box["x"] + 200, box["y"] + 14)  # the first row, a step in the middle
    tip = page.locator(".stepper .tip").first
    expect(tip).to_contain_text("unit ", timeout=5_000)
    unit = int(tip.inner_text().split("unit ")[1].split(",")[0])
    assert "z = " in tip.inner_text() and "step " in tip.inner_text()
    heat.click(position={"x": 200, "y": 14})
    page.wait_for_selector("text=Unit browser", timeout=60_000)
    wait_idle(page)
    field = page.locator('[data-testid="stNumberInput"]', has_text="Unit (0").locator("input")
    expect(field).to_have_value(str(unit), timeout=30_000)


def test_on_a_400_px_screen_the_dynamics_frames_stack_and_nothing_is_cut_off(page):
    go(page, "Dynamics", "Step t")
    page.set_viewport_size({"width": 400, "height": 900})
    page.reload()  # the frames laid out for a narrow screen from the start
    page.wait_for_selector(".stepper canvas", timeout=90_000)
    wait_idle(page)
    page.wait_for_timeout(500)
    panels = [b for b in (p.bounding_box() for p in page.locator(".stepper .panel").all()) if b]
    assert len(panels) >= 3
    width = page.evaluate("() => document.documentElement.clientWidth")
    for b in panels:
        assert b["x"] >= 0 and b["x"] + b["width"] <= width + 1, (b, width)  # inside the screen
    ys = sorted((b["y"], b["y"] + b["height"]) for b in panels)
    assert all(a[1] <= b[0] + 1 for a, b in zip(ys, ys[1:])), ys  # one under another, none over another
    for c in page.locator(".stepper canvas").all():
        box = c.bounding_box()
        assert box["x"] + box["width"] <= width + 1, box
    title, save = page.locator(".stepper .panel .title").first, page.locator(".stepper .panel .save").first
    pad = float(title.evaluate("t => parseFloat(getComputedStyle(t).paddingRight)"))
    assert pad >= save.bounding_box()["width"]  # the title's text stops before the ⤓ PNG button


def test_a_runs_name_and_note_show_as_their_characters(page, tmp_path, tiny_run):
    """Markup in a run's about.json renders as text in the sidebar: no image fetched, no colour, no LaTeX."""
    import json
    import shutil

    run = tmp_path / "runs" / "noted"
    shutil.copytree(tiny_run[0], run)
    (run / "about.json").write_text(json.dumps({"name": "![x](http://127.0.0.1:9/u.png) :red[R]",
                                                "note": "$x^2$ <b>bold</b> **b** [l](http://e.example) \ud800"}))
    fetched = []
    page.on("request", lambda r: fetched.append(r.url) if "u.png" in r.url else None)
    page.goto(page.url.split("?")[0].rstrip("/") + "/?model=run:noted")
    page.wait_for_selector(".js-plotly-plot", timeout=90_000)
    wait_idle(page)
    side = page.locator('[data-testid="stSidebar"]')
    shown = side.inner_text().replace("\u2060", "")  # the word joiners that keep addresses from being links
    assert "![x](http://127.0.0.1:9/u.png) :red[R]" in shown and "$x^2$ <b>bold</b> **b** [l](http://e.example) \ufffd" \
        in shown, shown
    marked = side.evaluate("""s => [...s.querySelectorAll("img[src*='u.png'], .katex, a[href*='e.example'], b")]
        .map(e => e.outerHTML.slice(0, 200))""")
    assert not marked and not fetched, marked


@pytest.mark.skipif(not os.environ.get("SPARSELAB_DATA"), reason="the host's loss needs its digits ($SPARSELAB_DATA)")
def test_a_host_run_is_measured_through_its_host(tmp_path):
    """A TopK SAE on the embedded CNN's activations: its Overview names the host and layer and fills in the loss
    recovered from the worker; its Unit browser shows the bands and the nearest units."""
    from models import cli

    assert cli.main(["harvest", "--host", "digits-cnn", "--layer", "relu3", "--out", str(tmp_path / "acts"),
                     "--limit", "600"]) == 0
    assert cli.main(["train", "--family", "topk-sae", "--domain", "vectors", "--vectors", str(tmp_path / "acts"),
                     "--hidden", "64", "--k", "8", "--epochs", "2", "--out", str(tmp_path / "runs" / "cnn")]) == 0
    env = {"SPARSELAB_RUNS": str(tmp_path / "runs"), "SPARSELAB_DATA": os.environ["SPARSELAB_DATA"]}
    with streamlit_server(ROOT / "app.py", env) as url, browser_page() as page:
        page.goto(url + "/?model=run:cnn")
        page.wait_for_selector("text=Through its host", timeout=90_000)
        card = page.locator('[data-testid="stMetric"]', has_text="Loss recovered (zero ablation)")
        expect(card).to_be_visible(timeout=90_000)
        assert 0 < float(card.inner_text().split("\n")[-1]) <= 1
        assert "digits-cnn, layer relu3" in page.locator('[data-testid="stMain"]').inner_text()
        page.goto(url + "/unit_browser?model=run:cnn")
        page.wait_for_selector("text=Nearest units", timeout=90_000)
        wait_idle(page)
        assert not page.locator('[data-testid="stException"]').count()
