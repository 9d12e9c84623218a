"""Cached calls into synth_core.

Caches are shared by every session, so they hold only trusted results keyed by
plain values: a file digest, a dataset fingerprint plus its schema, an LLM
endpoint and model. Arguments that start with ``_`` are left out of the key; a
string beside each of them (digest, fingerprint) stands for it.
"""

from __future__ import annotations

import hashlib
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import streamlit as st

from synth_core.data import load_table
from synth_core.samples import SAMPLES, sample_path


def digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()[:20]


def dataset_key(ds) -> str:
    """A string that changes whenever what discovery or evaluation sees changes."""
    meta = json.dumps(
        {
            "fp": ds.fingerprint,
            "schema": ds.schema.to_dict(),
            "target": ds.target,
            "task": ds.task,
            "train": digest(ds.train_idx.tobytes()),
            "val": digest(ds.val_idx.tobytes()),
        },
        sort_keys=True,
        default=str,
    )
    return digest(meta.encode())


@st.cache_data(show_spinner=False, max_entries=8)
def load_upload(file_digest: str, name: str, _raw: bytes) -> pd.DataFrame:
    """Parse an uploaded file (keyed by its digest and name)."""
    return load_table(_raw, name=name)


@st.cache_data(show_spinner=False, max_entries=8)
def load_sample(label: str) -> pd.DataFrame:
    fname, _ = SAMPLES[label]
    return load_table(sample_path(fname))


def discovery_available() -> bool:
    try:
        from synth_core.discovery import DGRDiscoverer  # noqa: F401
    except ImportError:
        return False
    return True


@st.cache_data(show_spinner=False, max_entries=16)
def discover(key: str, rho: float, max_rules: int, seed: int, _dataset) -> dict:
    """DATE Alg. 1 on the train split: rules, summary table, uncovered rows, warnings and a text report."""
    from synth_core.discovery import DGRDiscoverer, discover_report

    disc = DGRDiscoverer(rho=rho, max_rules=max_rules, random_state=seed).fit(_dataset)
    return {
        "rules": list(disc.rules_),
        "summary": disc.summary(),
        "remainder": int(disc.remainder_),
        "coverage": float(getattr(disc, "coverage_", float("nan"))),
        "warnings": list(getattr(disc, "warnings_", [])),
        "report": discover_report(disc),
    }


@st.cache_resource(show_spinner=False, max_entries=8)
def llm_client(base_url: str | None, model: str | None, key_fingerprint: str):
    """One client per (endpoint, model, key fingerprint); the key itself is read here, never an argument."""
    from synth_core.llm import LLMClient, LLMSettings

    api_key = st.session_state.get("gen.api_key") or None
    settings = LLMSettings.from_env(base_url=base_url, model=model) if base_url else LLMSettings()
    return LLMClient(settings, api_key=api_key)


def current_client(config: dict):
    """The cached client for the endpoint chosen on the Generate page (raises SynthError on bad settings)."""
    key = st.session_state.get("gen.api_key") or ""
    fingerprint = digest(key.encode()) if key else ""
    return llm_client(config["base_url"], config["model"], fingerprint)


def existing_client(config: dict):
    """The client if one was built already (for usage on the home page), else None; never starts one."""
    from synth_core.errors import SynthError

    try:
        return current_client(config)
    except SynthError:  # a bad endpoint setting simply means "no client yet" here
        return None


_run_maps: dict = {}
_run_map_lock = threading.Lock()


def _map_entry(run) -> dict:
    key = (id(run), run.created)
    with _run_map_lock:
        entry = _run_maps.get(key)
        if entry is None:
            if len(_run_maps) >= 8:
                _run_maps.pop(next(iter(_run_maps)))
            entry = _run_maps[key] = {"lock": threading.Lock(), "map": None, "error": None, "started": False}
    return entry


def run_map(run):
    """The run's map (:func:`synth_core.compare.run_map`), computed once per run and shared by every rerun
    (the generation job starts it as soon as a run ends, so the Compare page opens on it; a page that asks
    while it is being computed waits for that one instead of computing it again). A library error (too few
    rows to map) is kept and raised to every asker."""
    from synth_core.compare import run_map as compute
    from synth_core.errors import SynthError

    entry = _map_entry(run)
    with entry["lock"]:
        entry["started"] = True
        if entry["map"] is None and entry["error"] is None:
            try:
                entry["map"] = compute(run, random_state=run.dataset.seed)
            except SynthError as err:
                entry["error"] = err
    if entry["error"] is not None:
        raise entry["error"]
    return entry["map"]


def run_map_when_ready(run):
    """The run's map if it is computed, else ``None`` (its computation is under way or started here)."""
    entry = _map_entry(run)
    if entry["map"] is not None or entry["error"] is not None:
        return run_map(run)
    if not entry["started"]:
        entry["started"] = True
        threading.Thread(target=_quiet_map, args=(run,), name="synth-map", daemon=True).start()
    return None


def _quiet_map(run) -> None:
    from synth_core.errors import SynthError

    try:
        run_map(run)
    except SynthError:  # kept in the entry: the page that asks next shows it
        pass


_metric_jobs: dict = {}
_metric_lock = threading.Lock()
_metric_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="synth-metrics")


def _metric_job(key: str, run, synthetic: pd.DataFrame, real: pd.DataFrame | None):
    """The background computation of the metric cards named by ``key`` (started by the first ask)."""
    from app_support.evaluate import metric_cards

    with _metric_lock:
        job = _metric_jobs.get(key)
        if job is None:
            if len(_metric_jobs) >= 32:
                _metric_jobs.pop(next(iter(_metric_jobs)))
            job = _metric_jobs[key] = _metric_pool.submit(metric_cards, run, synthetic, real)
    return job


def metrics_when_ready(
    key: str, run, synthetic: pd.DataFrame, real: pd.DataFrame | None = None
) -> dict | None:
    """Metric cards for a set of synthetic rows against ``real`` (``key`` names both), or ``None`` while they
    are computed in the background (started by the first call), so a page shows its figures at once and
    the cards when they are ready. An error in the computation is raised here, to the page."""
    job = _metric_job(key, run, synthetic, real)
    return job.result() if job.done() else None


def metrics(key: str, run, synthetic: pd.DataFrame, real: pd.DataFrame | None = None) -> dict:
    """The same cards, waiting for them: each value, or an explanation of why it is missing."""
    return _metric_job(key, run, synthetic, real).result()


@st.cache_data(show_spinner=False, max_entries=16)
def rates(key: str, method: str, models: tuple, _dataset, _rules):
    """This machine's speed on this table for ``method`` and ``models`` (measured once, a few seconds)."""
    from synth_core.estimate import measure_rates

    return measure_rates(_dataset, _rules, method=method, models=list(models))
