"""The house's rules, read off its source: pages and the CLI reach training only through
kdviz.runs, and what runs re-exports exists."""

import ast
from pathlib import Path

from kdviz import runs

ROOT = Path(__file__).resolve().parents[2]
# Modules that train, hold a model or drive training: pages and the CLI reach them through runs
BELOW_THE_DOOR = {"train", "teacher", "shipped", "distill", "lab", "experiments", "ensemble", "bench"}
BELOW_THE_DOOR |= {"models", "losses", "targets", "shifts", "elastic", "probes", "result"}


def kdviz_imports(path: Path) -> set[str]:
    """The kdviz modules a file imports, anywhere in it (a function's lazy import included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == "kdviz":
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("kdviz."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("kdviz.")}
    return found


def test_pages_and_the_cli_reach_training_only_through_runs():
    front = [
        ROOT / "app.py",
        ROOT / "kdviz" / "cli.py",
        *ROOT.glob("pages/*.py"),
        *ROOT.glob("pages/ui/*.py"),
    ]
    assert len(front) >= 12
    crossing = {str(p.relative_to(ROOT)): kdviz_imports(p) & BELOW_THE_DOOR for p in front}
    assert {p: m for p, m in crossing.items() if m} == {}
    assert any("runs" in kdviz_imports(p) for p in front if p.parent.name == "pages")


def test_the_checker_sees_a_crossing(tmp_path):
    page = tmp_path / "page.py"
    page.write_text("def f():\n    from kdviz.teacher import TeacherSpec\nfrom kdviz import models, plots\n")
    assert kdviz_imports(page) & BELOW_THE_DOOR == {"teacher", "models"}


def test_what_runs_lists_exists():
    assert all(hasattr(runs, name) for name in runs.__all__)
    assert runs.EXPERIMENTS and set(runs.DEFAULT) < set(runs.EXPERIMENTS)
