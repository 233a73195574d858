"""Start the app (or any Streamlit script) on a free port and drive it with Debian's chromium via Playwright."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("SPARSELAB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def streamlit_server(script: Path, env: dict | None = None, timeout: float = 90.0, cpus: str | None = None):
    """Yields the URL; with `cpus` (a taskset core list, for benchmarks) the server is pinned to those cores and
    (URL, pid) is yielded."""
    port = free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", str(script), "--server.headless=true",
           f"--server.port={port}", "--server.address=127.0.0.1", "--browser.gatherUsageStats=false",
           "--server.fileWatcherType=none"]
    if cpus is not None:
        cmd = ["taskset", "-c", cpus, *cmd]
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        end = time.time() + timeout
        while True:
            try:
                if urllib.request.urlopen(url + "/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > end:
                raise RuntimeError(f"streamlit did not start: {proc.stdout.read() if proc.poll() is not None else 'timeout'}")
            time.sleep(0.3)
        yield url if cpus is None else (url, proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextmanager
def browser_page(width: int = 1400, height: int = 1000):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            yield page
        finally:
            browser.close()


def wait_idle(page, timeout: float = 60_000) -> None:
    """Until Streamlit has finished its current run (no 'Running…' status widget)."""
    page.wait_for_timeout(150)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout)


def plot_data(page, index: int = 0):
    """The `data` of the index-th Plotly figure on the page, read from the live chart."""
    return page.evaluate(
        "(i) => { const d = document.querySelectorAll('.js-plotly-plot')[i]; "
        "return d ? JSON.parse(JSON.stringify(d.data)) : null; }", index)
