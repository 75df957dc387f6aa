"""export/ depends on streamer/ only through the shared numpy contract (issue 12 item 2).

Allowed: ``streamer.model_contract`` (names, metadata record, predictor rendering),
``streamer.errors`` (ExportError is a StreamerError, so both commands print errors alike) and
``streamer.geometry`` (the face crop our face models are trained on *is* part of the contract:
training must cut crops exactly as the runtime does). ``streamer.faces.detect`` is allowed only as
a lazy import in the training-data and evaluation code, which runs the runtime's own detector on
purpose (training crops "as the runtime cuts them").
"""

from __future__ import annotations

import ast
import subprocess
import sys

from tests.unit.export.conftest import REPO

ALLOWED = {"streamer", "streamer.model_contract", "streamer.errors", "streamer.geometry"}
LAZY_ONLY = {"streamer.faces.detect": {"export/data/faces.py", "export/train_siamese.py"}}


def _export_modules() -> list[str]:
    return sorted(
        ".".join(p.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        for p in (REPO / "export").rglob("*.py")
        if p.name != "__main__.py"
    )


def test_importing_every_export_module_loads_only_the_contract() -> None:
    modules = _export_modules()
    assert "export.exporter" in modules and "export.train_predictor" in modules
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "print(sorted(m for m in sys.modules if m == 'streamer' or m.startswith('streamer.')))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    loaded = set(eval(r.stdout.strip().splitlines()[-1]))  # noqa: S307 - our own subprocess's list
    assert "streamer.model_contract" in loaded
    assert loaded <= ALLOWED, f"export pulls in {sorted(loaded - ALLOWED)}"


def test_no_other_streamer_import_anywhere_in_export() -> None:
    """Lazy (function-level) imports too, which the subprocess test cannot see."""
    found: list[str] = []
    for path in sorted((REPO / "export").rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        for node in ast.walk(ast.parse(path.read_text(), rel)):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                if name.split(".")[0] != "streamer" or name in ALLOWED:
                    continue
                if rel in LAZY_ONLY.get(name, set()) and node.col_offset > 0:
                    continue
                found.append(f"{rel}:{node.lineno} imports {name}")
    assert found == []
