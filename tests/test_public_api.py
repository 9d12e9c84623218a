import synth_core


def test_all_lists_exactly_the_public_names():
    public = {n for n in dir(synth_core) if not n.startswith("_") and not
              isinstance(getattr(synth_core, n), type(synth_core))}
    assert set(synth_core.__all__) - {"__version__"} == public


def test_library_never_imports_streamlit():
    import subprocess
    import sys

    code = ("import sys, synth_core.data, synth_core.rules, synth_core.discovery, synth_core.pipeline, "
            "synth_core.viz, synth_core.evaluation.report, synth_core.labels, synth_core.run; "
            "print('streamlit' in sys.modules)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "False"
