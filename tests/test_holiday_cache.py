"""The holidays library's answers kept on disk (warmup/policy/holidaycache.py) are the library's
answers: the same years, subdivisions and announced year from the cache as computed, for the
locale they were computed in only, and a file that is broken, foreign or cannot be written
changes nothing but the time. Each case runs fresh processes, as commands do."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

ASK = """
import json, sys
from warmup.policy import calendar as c
out = {}
for code, sub, year in json.loads(sys.argv[1]):
    t = c.year_table(code, sub, year)
    out[f"{code} {sub} {year}"] = [
        [[d.isoformat(), n] for d, n in t.holidays.items()],
        sorted(d.isoformat() for d in t.workdays),
        sorted(t.weekend),
    ]
checks = {}
for code, sub in json.loads(sys.argv[2]):
    try:
        checks[f"{code} {sub}"] = list(c.check(code, sub))
    except c.CalendarError as exc:
        checks[f"{code} {sub}"] = [exc.key, str(exc)]
print(json.dumps({
    "tables": out,
    "checks": checks,
    "announced": c.Calendar("CN").announced_until(),
    "version": c.data_version(),
    "imported": "holidays" in sys.modules,
}, ensure_ascii=False))
"""
YEARS = [
    ("CN", None, 2025),
    ("CN", None, 2026),
    ("CN", None, 2027),  # past the announced schedule: the library's estimate
    ("CHN", None, 2026),
    ("DE", "BW", 2026),
    ("US", "CA", 2026),
]
CHECKS = [
    ("CN", None),
    ("de", "Baden-Württemberg"),  # an alias
    ("DE", "ZZ"),  # no such subdivision: the library's list in the error
    ("US", "CA"),
]


def _ask(cache: Path, years=YEARS, checks=CHECKS, **env: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", ASK, json.dumps(years), json.dumps(checks)],
        env={**os.environ, "XDG_CACHE_HOME": str(cache), **env},
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    return json.loads(proc.stdout)


def _files(cache: Path) -> list[Path]:
    return sorted((cache / "warmup" / "holidays").glob("*.json"))


def test_cached_answers_are_the_librarys(tmp_path: Path):
    """The first process computes (and keeps) them; the next answers the same without
    importing the library."""
    cache = tmp_path / "cache"
    first = _ask(cache)
    assert first["imported"] is True
    assert [p.name.split("-")[0] for p in _files(cache)] == ["CHN", "CN", "DE", "US"]
    second = _ask(cache)
    assert second["imported"] is False
    assert second == {**first, "imported": False}
    assert first["tables"]["CN None 2026"][0][0] == ["2026-01-01", "New Year's Day"]
    assert "2026-10-01" in dict(first["tables"]["CN None 2026"][0])
    assert first["tables"]["CN None 2026"][1]  # make-up working days
    assert first["checks"]["de Baden-Württemberg"] == ["DE", "BW"]
    assert (
        first["checks"]["DE ZZ"][0] == "subdivision" and "BB, BE, BW" in first["checks"]["DE ZZ"][1]
    )
    assert first["version"] == importlib.metadata.version("holidays")
    # a country the library does not know is asked of it each time (and refused as before)
    unknown = _ask(cache, [], [("XX", None)])
    assert unknown["checks"]["XX None"][0] == "country" and unknown["imported"] is True
    assert "'XX' is not a country the holidays library knows" in unknown["checks"]["XX None"][1]


def test_each_locale_has_its_own_names(tmp_path: Path):
    """The library translates the holidays' names by the locale's variables: a cache filled
    in English never answers a Thai locale."""
    cache = tmp_path / "cache"
    years, checks = [("DE", None, 2026)], [("DE", None)]
    english = _ask(cache, years, checks, LANGUAGE="en_US")
    thai = _ask(cache, years, checks, LANGUAGE="th")
    assert thai["imported"] is True  # not answered from the English file
    assert [p.name.split("-")[0] for p in _files(cache)].count("DE") == 2
    assert english["tables"]["DE None 2026"][0][0] == ["2026-01-01", "New Year's Day"]
    assert thai["tables"]["DE None 2026"][0][0][1] != "New Year's Day"
    again = _ask(cache, years, checks, LANGUAGE="th")
    assert again == {**thai, "imported": False}


@pytest.mark.parametrize(
    "content",
    [
        "not json {",
        "[1, 2]",
        '{"key": {"format": 1}, "years": {"/2026": {"holidays": 5}}}',
        None,  # the right key, a year with a wrong shape
    ],
    ids=["garbage", "not-an-object", "another-key", "wrong-shape"],
)
def test_a_broken_or_foreign_file_is_ignored_and_replaced(tmp_path: Path, content: str | None):
    cache = tmp_path / "cache"
    years, checks = [("CN", None, 2026)], [("CN", None)]
    good = _ask(cache, years, checks)
    (path,) = _files(cache)
    if content is None:
        data = json.loads(path.read_text(encoding="utf-8"))
        data["years"]["/2026"] = {"holidays": [["2026-13-01", "x"]], "workdays": [], "weekend": []}
        data["country"]["facts"] = {"subdivisions": 3}
        content = json.dumps(data)
    path.write_text(content, encoding="utf-8")
    assert _ask(cache, years, checks) == good  # the library answered
    assert _ask(cache, years, checks) == {**good, "imported": False}  # and its answer was kept


def test_a_file_others_may_write_is_not_read(tmp_path: Path):
    """Kept files are the user's own (0600); one that others may write (a shared
    $XDG_CACHE_HOME) could close or open days, and is computed again instead."""
    cache = tmp_path / "cache"
    years, checks = [("CN", None, 2026)], [("CN", None)]
    good = _ask(cache, years, checks)
    (path,) = _files(cache)
    assert path.stat().st_mode & 0o777 == 0o600
    path.chmod(0o666)
    assert _ask(cache, years, checks) == good  # the library answered (and replaced it)
    assert path.stat().st_mode & 0o777 == 0o600
    assert _ask(cache, years, checks) == {**good, "imported": False}


def test_a_cache_that_cannot_be_written_changes_nothing(tmp_path: Path):
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache folder would be")
    years, checks = [("CN", None, 2026)], [("CN", None)]
    answers = _ask(blocker, years, checks)
    assert answers == _ask(tmp_path / "other", years, checks)
    assert _ask(blocker, years, checks)["imported"] is True  # nothing kept


@pytest.mark.parametrize("infos", [[], ["holidays-0.1.dist-info", "holidays-0.2.dist-info"]])
def test_a_library_without_one_installed_metadata_is_never_cached(tmp_path: Path, infos: list[str]):
    """A source checkout (no dist-info next to the package: its code changes under one version)
    or two versions' metadata side by side: the version cannot be told, so nothing is kept."""
    site = tmp_path / "site"
    (site / "holidays").mkdir(parents=True)
    (site / "holidays" / "__init__.py").write_text("")
    for name in infos:
        (site / name).mkdir()
        (site / name / "METADATA").write_text(f"Name: holidays\nVersion: {name[9:12]}\n\n")
    probe = "from warmup.policy import holidaycache as h; print(h.installed())"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO)])}
    proc = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    assert proc.stdout == "None\n"
    (site / "holidays-0.3.dist-info").mkdir()
    (site / "holidays-0.3.dist-info" / "METADATA").write_text("Name: holidays\nVersion: 0.3\n\n")
    if not infos:
        proc = subprocess.run(
            [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
        )
        assert proc.stdout == f"('0.3', {str(site / 'holidays')!r})\n"
