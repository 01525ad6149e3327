"""The report notebook runs headless from a clean checkout and renders to HTML with its figures."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK = REPO / "notebooks" / "mailbox_report.ipynb"


def test_notebook_is_committed_without_outputs_and_has_parameters():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1
    for name in ("ledger_url", "mailboxes", "days"):
        assert re.search(rf"^{name} = ", params[0].source, re.MULTILINE)
    text = "\n".join(c.source for c in nb.cells)
    assert "from warmup import api, plots, reports" in text and "SELECT" not in text.upper()


@pytest.mark.slow
def test_notebook_renders_headless_to_html_without_code_and_with_its_figures(tmp_path, monkeypatch):
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter

    # Only this venv's kernels: a user-level "python3" kernel elsewhere must not shadow it.
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "jupyter"))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    # Parameters go in as papermill injects them: a cell right after the tagged one.
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    injected = nbformat.v4.new_code_cell('days = 45\nat = "2026-11-29T09:00:00+08:00"')
    injected.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(at + 1, injected)
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=600,
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "Sample ledger:" in text and "3 mailboxes" in text
    assert "as of 2026-11-29 01:00 UTC on 3 mailbox(es)" in text
    pngs = [o for o in outputs if "image/png" in o.get("data", {})]
    # ramp, quota ahead, trends, domains and kinds, reasons, suppressions
    assert len(pngs) == 6
    # What a reader gets: `jupyter nbconvert --to html --no-input` (README).
    html, _ = HTMLExporter(exclude_input=True).from_notebook_node(nb)
    assert 'class="jp-CodeMirrorEditor' not in html and "In&nbsp;[" not in html
    for code in ("from warmup import", "reports.daily(", "display("):
        assert code not in html
    images = re.findall(r'<img[^>]+src="data:image/png;base64,', html)
    assert len(images) == len(pngs)
    for heading in (
        "Where each mailbox stands today",
        "Ramp against plan",
        "Bounce and complaint trends",
        "Bounces by recipient domain and by kind",
        "Bounces by reason",
        "Suppression growth",
    ):
        assert heading in html
    assert "old-list.example" in html  # the by-domain table names the stale list
    assert "userunknown" in html and "mailboxfull" in html  # the reasons table (issue #14)
    # The weekly table, 45 local days back: weeks are dates (Sundays), no time of day.
    assert "2026-10-18" in html and "2026-10-11" not in html
    assert "00:00:00" not in html
    with_code, _ = HTMLExporter().from_notebook_node(nb)
    assert 'class="jp-CodeMirrorEditor' in with_code  # the check above would see code cells


@pytest.mark.parametrize("name", ["python3"])
def test_kernel_is_this_venv(name, tmp_path, monkeypatch):
    """The kernel the notebook asks for starts this interpreter (where warmup is installed)."""
    import sys

    from jupyter_client.kernelspec import KernelSpecManager

    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "jupyter"))
    spec = KernelSpecManager().get_kernel_spec(name)
    exe = spec.argv[0]
    assert (
        exe in ("python", "python3", sys.executable)
        or Path(exe).resolve() == Path(sys.executable).resolve()
    )
