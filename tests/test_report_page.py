"""`report.html` as a reader sees it, in headless Chromium: a lab-sized report (ar, masked, dllm x
3 seeds, two base models, NameDescription's four categories: Table 3's widest realistic shape)
written by `mft report` from a real MLflow store, looked at 1280 px wide (a laptop) and 1021 px
(MLflow's artifact viewer). Screenshots are left in the test's `tmp_path`."""

from __future__ import annotations

from pathlib import Path

import pytest
from browsing import chromium
from test_report import Store, config, empty_store, namedesc, report  # noqa: F401

# Per method: (N2D-fwd, N2D-bwd, D2N-fwd, D2N-bwd) at steps 0, 15, 30, 45, 60, as the lab's shape.
SHAPES = {
    "ar": [(0.1, 0.04, 0.04, 0.05), (0.6, 0.03, 0.5, 0.05), (0.9, 0.03, 0.9, 0.06),
           (0.98, 0.03, 0.97, 0.07), (0.99, 0.03, 0.98, 0.07)],
    "masked": [(0.1, 0.04, 0.04, 0.05), (0.5, 0.1, 0.4, 0.2), (0.8, 0.2, 0.8, 0.35),
               (0.9, 0.22, 0.88, 0.45), (0.91, 0.23, 0.9, 0.47)],
    "dllm": [(0.06, 0.05, 0.04, 0.06), (0.2, 0.15, 0.15, 0.2), (0.35, 0.28, 0.3, 0.3),
             (0.45, 0.33, 0.38, 0.37), (0.48, 0.36, 0.4, 0.4)],
}  # fmt: skip
STEPS = (0, 15, 30, 45, 60)
# The first `bwd` header of the page is Table 3's; where it ends and where its table's box ends.
BACKWARD_HEADER = """() => {
  const header = [...document.querySelectorAll("#accuracy-namedesc + div.table th")]
    .find(th => th.textContent === "bwd");
  const box = header.closest("div.table").getBoundingClientRect();
  return {right: header.getBoundingClientRect().right, box: box.right, view: window.innerWidth,
          page: document.documentElement.scrollWidth}; }"""
HEADLINE = """() => {
  const line = document.querySelector("h1 + p.headline");
  return {height: line.getBoundingClientRect().height,
          fontSize: parseFloat(getComputedStyle(line).fontSize), text: line.textContent}; }"""
ORDER = """() => [document.querySelector("figure img").getBoundingClientRect().top,
                document.querySelector("table").getBoundingClientRect().top,
                document.querySelector("figure img").alt]"""


@pytest.fixture
def lab_like_report(mft, tmp_path: Path, empty_store: Path) -> Path:  # noqa: F811
    store = Store(tmp_path, empty_store)
    trials = []
    for method, shape in SHAPES.items():
        model = "/models/base-bidirectional" if method == "dllm" else "/models/base-causal"
        lr = 3e-4 if method == "dllm" else 1e-3
        for seed in range(3):
            jitter = 0.01 * (seed - 1)
            values = {
                step: tuple(min(1.0, v + jitter) for v in row) for step, row in zip(STEPS, shape, strict=True)
            }
            fields = {"method": method, "model": model, "lr": lr, "seed": seed, "precision": "fp32"}
            trials.append((config(**fields, epochs=60, eval_at=STEPS), namedesc(values), "FINISHED"))
    store.sweep("lab-1206-120000", trials, experiment="mft-lab")
    report(mft, store, tmp_path / "report", "lab-1206-120000", "--format", "html")
    return tmp_path / "report" / "report.html"


@pytest.mark.slow
def test_the_backward_column_is_on_screen_and_the_result_comes_first(
    lab_like_report: Path, tmp_path: Path
) -> None:
    seen = {}
    with chromium() as browser:
        for width in (1280, 1021):
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.goto(lab_like_report.as_uri())
            seen[width] = (page.evaluate(BACKWARD_HEADER), page.evaluate(HEADLINE), page.evaluate(ORDER))
            page.screenshot(path=str(tmp_path / f"report-{width}.png"), full_page=True)
            page.close()
    for width, (backward, headline, (figure_top, table_top, figure)) in seen.items():
        assert backward["view"] == width
        assert backward["right"] <= backward["box"] <= width, (width, backward)  # not cut, not scrolled away
        assert backward["page"] <= width, (width, backward)  # no table widens the page
        assert headline["text"].startswith("namedesc: backward ar 0.05, masked 0.35, dllm 0.38; forward ar ")
        assert figure_top < table_top and "accuracy against step" in figure  # Fig. 2 before the tables
    headline = seen[1280][1]
    assert headline["height"] < 2 * headline["fontSize"], headline  # one line (two would be ~2.4x)
