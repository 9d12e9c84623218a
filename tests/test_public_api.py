import importlib

import synth_core


def test_all_lists_exactly_the_public_names():
    public = {
        n
        for n in dir(synth_core)
        if not n.startswith("_") and not isinstance(getattr(synth_core, n), type(synth_core))
    }
    assert set(synth_core.__all__) - {"__version__"} == public


def test_library_never_imports_streamlit():
    import subprocess
    import sys

    code = (
        "import sys, synth_core.data, synth_core.rules, synth_core.discovery, synth_core.pipeline, "
        "synth_core.viz, synth_core.evaluation.report, synth_core.labels, synth_core.run; "
        "print('streamlit' in sys.modules)"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "False"


def _public_names(module) -> set[str]:
    """Public names a module really has: no submodules, no ``from __future__ import annotations``."""
    import __future__

    import types

    values = {n: getattr(module, n) for n in dir(module) if not n.startswith("_")}
    return {
        n
        for n, v in values.items()
        if not isinstance(v, types.ModuleType) and v is not __future__.annotations
    }


def test_rules_package_exports_what_it_lists():
    import synth_core.rules as rules

    # the vocabularies were public before the split without being listed; pages read STATUSES
    assert _public_names(rules) - set(rules.__all__) == {"COMPARISONS", "ORIGINS", "STATUSES"}
    assert set(rules.__all__) <= _public_names(rules)
    assert len(rules.__all__) == len(set(rules.__all__))


def test_discovery_package_exports_what_it_lists():
    import synth_core.discovery as discovery

    assert _public_names(discovery) == set(discovery.__all__)
    assert len(discovery.__all__) == len(set(discovery.__all__))
    for name in ("encoding", "paths", "shared_model", "training", "search", "estimator", "report"):
        module = importlib.import_module(f"synth_core.discovery.{name}")
        assert set(module.__all__) <= _public_names(module), name


#: Private names still imported from another module (issue 20 removed the last ones; keep it empty).
PRIVATE_IMPORTS_LEFT: set = set()


def test_no_new_private_name_is_imported_across_modules():
    """``from .x import _name`` ties two modules by a name that promises nothing: give it a public home."""
    import ast
    from pathlib import Path

    root = Path(synth_core.__file__).parent
    found = set()
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ImportFrom):
                continue
            if node.level or (node.module or "").startswith("synth_core"):
                where = path.relative_to(root.parent).as_posix()
                found |= {
                    (where, node.module, alias.name)
                    for alias in node.names
                    if alias.name.startswith("_") and not alias.name.startswith("__")
                }
    assert found == PRIVATE_IMPORTS_LEFT
