"""The conformance suite: case files written from the AWS reference pages, each citing its
page and heading in `source` (tests/conformance/*/)."""

from __future__ import annotations

from pathlib import Path

import pytest

from execrole.cases import Case, iter_case_files, load_file, mismatches, result_of

ROOT = Path(__file__).parent / "conformance"
REFERENCE = Path(__file__).resolve().parents[2] / "shared"
ITEMS = [item for path in iter_case_files([ROOT]) for item in load_file(path)]
CASES = [item for item in ITEMS if isinstance(item, Case)]


def test_every_case_file_loads() -> None:
    broken = [item for item in ITEMS if not isinstance(item, Case)]
    assert broken == []


def test_suite_size_and_sources() -> None:
    assert len(CASES) >= 300
    missing = [c.id for c in CASES if not str(c.raw.get("source", "")).strip()]
    assert missing == []


def test_sources_name_real_pages() -> None:
    """Each `source` names a page of the seed or of shared/reference."""
    if not REFERENCE.exists():
        pytest.skip("shared/ reference pages are not beside this checkout")
    bad = []
    for case in CASES:
        page = str(case.raw["source"]).split("#", 1)[0].strip()
        candidates = [REFERENCE / "reference" / page, REFERENCE / page, REFERENCE / "seed" / page]
        if not any(p.is_file() for p in candidates):
            bad.append((case.id, page))
    assert bad == []


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id.replace(str(ROOT) + "/", ""))
def test_case(case: Case) -> None:
    assert mismatches(case, result_of(case)) == []
