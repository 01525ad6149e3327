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
    assert "as of 2026-11-29 01:00 UTC on 3 mailboxes\n" in text
    # counts take their noun's number ("1 events", "3 mailbox(es)" were printed)
    assert re.search(r"Sample ledger: \d+ sends, \d+ bounces, 3 mailboxes, 1 event\n", text), text
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


def _execute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, params: str) -> tuple[object, str]:
    """The notebook run headless with ``params`` injected as papermill would; its notebook
    and the text of its stream outputs (stdout and stderr)."""
    from nbclient import NotebookClient

    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "jupyter"))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    injected = nbformat.v4.new_code_cell(params)
    injected.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(at + 1, injected)
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=600,
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    try:
        client.execute()
    finally:
        outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    return nb, text


def _plain(nb: object) -> str:
    """The text a reader sees of the displays that are not figures (markdown, or text)."""
    return "\n".join(
        o.data.get("text/markdown") or o.data.get("text/plain", "")
        for c in nb.cells  # type: ignore[attr-defined]
        if c.cell_type == "code"
        for o in c.outputs
        if o.output_type in ("display_data", "execute_result") and "image/png" not in o.data
    )


def _errors(nb: object) -> list[str]:
    return [
        f"{o.ename}: {o.evalue}"
        for c in nb.cells  # type: ignore[attr-defined]
        if c.cell_type == "code"
        for o in c.outputs
        if o.output_type == "error"
    ]


@pytest.mark.slow
def test_notebook_on_odd_ledgers_says_what_it_has_without_errors_or_warnings(
    tmp_path, monkeypatch, migrated
):
    """An empty ledger, and a mailbox that never sent: every section runs; the first says
    there is nothing yet instead of failing on 'nothing to plot' (the figures), KeyError 'kind'
    (an empty by-kind table selected by an untyped 'counted') or warning 'All-NaN slice'."""
    from warmup import api
    from warmup.ledger import open_ledger

    params = f'ledger_url = "{migrated}"\nat = "2026-11-29T09:00:00+08:00"'
    nb, text = _execute(tmp_path, monkeypatch, params)
    assert _errors(nb) == []
    assert "on 0 mailboxes\n" in text and "no mailboxes yet" in text
    assert "0 suppressed addresses in all" in text
    # no pandas repr of nothing under the kinds figure: it says so, as the reasons section does
    shown = _plain(nb)
    assert "Empty DataFrame" not in shown and "No counted bounces in this period." in shown
    ledger = open_ledger(str(migrated))
    api.add_mailbox(ledger, "new@corp.example", "exmail", timezone="Asia/Shanghai")
    ledger.close()
    # an `at` without an offset is the mailbox's local time, as `warmup report --at` reads it
    # (it was read as UTC: 09:00 in Shanghai became 17:00)
    nb, text = _execute(
        tmp_path, monkeypatch, f'ledger_url = "{migrated}"\nat = "2026-11-29T09:00"'
    )
    assert _errors(nb) == []
    assert "Reporting as of 2026-11-29 01:00 UTC on 1 mailbox\n" in text
    assert "no mailboxes yet" not in text
    assert "Warning" not in text
    # mailboxes in two zones: this machine's zone, as `warmup report --at` reads it, saying so
    # (it was UTC: the notebook and the command answered for different instants off UTC)
    ledger = open_ledger(str(migrated))
    api.add_mailbox(ledger, "ny@corp.example", "exmail", timezone="America/New_York")
    ledger.close()
    monkeypatch.setenv("TZ", "Europe/Berlin")
    nb, text = _execute(
        tmp_path, monkeypatch, f'ledger_url = "{migrated}"\nat = "2026-11-29T09:00"'
    )
    assert _errors(nb) == []
    assert "Reporting as of 2026-11-29 08:00 UTC on 2 mailboxes\n" in text, text[:2000]
    assert "read in this machine's zone, Europe/Berlin" in text
    monkeypatch.delenv("TZ")
    pngs = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
        if "image/png" in o.get("data", {})
    ]
    assert len(pngs) == 5  # ramp, quota ahead, trends, domains and kinds, suppressions


@pytest.mark.slow
def test_notebook_refuses_a_ledger_that_does_not_exist(tmp_path, monkeypatch):
    """A mistyped ledger_url is an error naming it, as 'warmup --db' is, not a new empty ledger
    that reports 'no mailboxes'."""
    from nbclient.exceptions import CellExecutionError

    missing = tmp_path / "typo.db"
    with pytest.raises(CellExecutionError) as err:
        _execute(tmp_path, monkeypatch, f'ledger_url = "{missing}"')
    assert f"no ledger at {missing}" in str(err.value)
    assert not missing.exists()


@pytest.mark.slow
def test_notebook_takes_mailboxes_as_papermill_p_passes_them(tmp_path, monkeypatch, migrated):
    """``papermill ... -p mailboxes sales@corp.example`` injects a string, and the notebook
    took each of its characters for a mailbox: DataError "malformed mailbox address 's'"."""
    from warmup import api
    from warmup.ledger import open_ledger

    ledger = open_ledger(str(migrated))
    for box in ("a@corp.example", "b@corp.example", "c@corp.example"):
        api.add_mailbox(ledger, box, "exmail", timezone="Asia/Shanghai")
    ledger.close()
    params = f'ledger_url = "{migrated}"\nmailboxes = "b@corp.example"\ndays = 7'
    nb, text = _execute(tmp_path, monkeypatch, params)
    assert _errors(nb) == []
    assert "on 1 mailbox\n" in text


def _html(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, params: str) -> str:
    """The notebook run as :func:`_execute` runs it, without errors; its HTML, code left out."""
    from nbconvert import HTMLExporter

    nb, _ = _execute(tmp_path, monkeypatch, params)
    assert _errors(nb) == []
    html, _ = HTMLExporter(exclude_input=True).from_notebook_node(nb)
    return str(html)


@pytest.mark.slow
def test_notebook_on_a_paused_mailbox_shows_no_nan_or_inf_share_of_quota(
    tmp_path, monkeypatch, run, ledger_path
):
    """A mailbox paused (quota 0) all the period: the summary's quota_used was 0/0, shown as
    'nan%'; one that sent on a day of quota 0 (recorded while paused) showed 'inf%'."""
    for box in ("idle@corp.example", "busy@corp.example"):
        assert (
            run("mailbox", "add", box, "--provider", "exmail", "--timezone", "UTC").exit_code == 0
        )
        assert run("mailbox", "pause", box, "--reason", "list review").exit_code == 0
    assert run("record", "send", "busy@corp.example", "--to", "x@example.com").exit_code == 0
    html = _html(tmp_path, monkeypatch, f'ledger_url = "{ledger_path}"\ndays = 1')
    assert "idle@corp.example" in html and "busy@corp.example" in html
    assert "quota_used" in html
    assert "nan%" not in html and "inf%" not in html


@pytest.mark.slow
def test_notebook_of_chinese_stage_names_prints_no_glyph_warnings(
    tmp_path, monkeypatch, run, ledger_path
):
    """matplotlib's default font has no CJK glyph: a stage named in Chinese filled the report
    with one 'Glyph ... missing from font(s)' UserWarning per character and figure."""
    policy = tmp_path / "wide.toml"
    assert run("db", "migrate").exit_code == 0
    preset = run("policy", "show", "default").output
    policy.write_text(preset.replace('name = "week 1"', 'name = "第一周 预热"'))
    assert run("policy", "add", "wide", str(policy)).exit_code == 0
    box = "cn@corp.example"
    assert run("mailbox", "add", box, "--provider", "exmail", "--policy", "wide").exit_code == 0
    assert run("record", "send", box, "--to", "x@example.com").exit_code == 0
    html = _html(tmp_path, monkeypatch, f'ledger_url = "{ledger_path}"\ndays = 3')
    assert "第一周 预热" in html
    assert "Glyph" not in html and "UserWarning" not in html


@pytest.mark.slow
def test_notebook_given_an_unknown_mailbox_stops_on_one_line_not_a_traceback(tmp_path, monkeypatch):
    """'-p mailboxes nobody@corp.example' stopped the notebook on a traceback through
    warmup's frames, its one line (what was wrong, what to do) at the bottom of it."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "jupyter"))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    nb.cells.insert(at + 1, nbformat.v4.new_code_cell('mailboxes = "nobody@corp.example"'))
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=600,
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    with pytest.raises(CellExecutionError):
        client.execute()
    [error] = [
        o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"
    ]
    said = "\n".join(error.traceback)
    assert "Traceback" not in said and "File " not in said and ".py" not in said, said
    assert error.traceback == [
        "Error: mailbox 'nobody@corp.example' not found; add it with 'warmup mailbox add "
        "nobody@corp.example --provider exmail'"
    ]
    assert error.ename == "MailboxNotFound"  # a raised error: the run stops, nbconvert fails


@pytest.mark.slow
def test_notebook_counts_an_address_taken_back_on_the_days_it_was_on_the_list(
    tmp_path, monkeypatch, migrated
):
    """The "Suppression growth" section was drawn from the suppressions left: an address taken
    back (``warmup suppress remove``) vanished from the days it was on the list, and the section
    said "1 suppressed address in all" of a list that had held two."""
    import datetime as dt

    from warmup.ledger import open_ledger

    ledger = open_ledger(str(migrated))
    day = dt.datetime(2026, 11, 10, 9, tzinfo=dt.UTC)
    ledger.suppress(["gone@example.com", "kept@example.com"], "manual", "asked", day)
    assert ledger.unsuppress("gone@example.com", at=day + dt.timedelta(days=5))
    ledger.close()
    params = f'ledger_url = "{migrated}"\nat = "2026-11-29T09:00:00+00:00"'
    nb, text = _execute(tmp_path, monkeypatch, params)
    assert _errors(nb) == []
    assert "2 suppressed addresses in all, 1 taken back since: 1 on the list\n" in text


@pytest.mark.slow
def test_notebook_html_shows_ledger_text_as_text_not_as_html_or_math(
    tmp_path, monkeypatch, run, ledger_path
):
    """The HTML report is read in a browser: a stage name, a pause reason or a mailbox is
    text there. Its tables (pandas' Styler does not escape) and the reasons (markdown, which
    passes HTML through) ran a stage "<img onerror=...>" and a pause reason "<script>", and
    MathJax typeset what lay between two "$" of a mailbox as a formula."""
    policy = tmp_path / "tags.toml"
    assert run("db", "migrate").exit_code == 0
    preset = run("policy", "show", "default").output
    policy.write_text(preset.replace('name = "week 1"', 'name = "<img src=x onerror=alert(1)>"'))
    assert run("policy", "add", "tags", str(policy)).exit_code == 0
    box, other = "a$^^$b@corp.example", "c_d@corp.example"
    assert run("mailbox", "add", box, "--provider", "exmail", "--policy", "tags").exit_code == 0
    assert run("mailbox", "add", other, "--provider", "exmail").exit_code == 0
    assert run("mailbox", "pause", other, "--reason", "<script>alert(2)</script>").exit_code == 0
    assert run("record", "send", box, "--to", "x@example.com").exit_code == 0
    html = _html(tmp_path, monkeypatch, f'ledger_url = "{ledger_path}"\ndays = 3')
    assert "<script>alert(2)" not in html and not re.search(r"<img[^>]*onerror", html)
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    # the mailbox's line and tables are kept from MathJax
    assert f'<p class="tex2jax_ignore"><b>{box}</b>: warm-up day 1' in html
    tables = re.findall(r"<table[^>]*>", html)
    assert tables and all("tex2jax_ignore" in t for t in tables), tables
