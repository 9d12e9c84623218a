"""Two-dimensional t-SNE map of real and synthetic rows of mixed type.

Steps, each fixed so the same input gives the same map:

1. Subsample to at most ``max_points`` rows (5,000 by default), keeping up to
   half the budget for synthetic rows and the rest for real rows, drawn with
   ``random_state``.
2. Encode with the shared :class:`~synth_core.encoding.RowEncoder`
   fitted on the real sample: numerics centred and scaled by their robust
   range, categories one-hot, missing numbers flagged.
3. Reduce to at most 50 dimensions with PCA, then run scikit-learn's
   Barnes-Hut ``TSNE`` (PCA initialisation, ``learning_rate="auto"``,
   ``max_iter=500``, ``angle=0.8``). The choice against openTSNE and the
   iteration budget are measured in ``benchmarks/results/report.md``: at this
   budget both give the same neighbourhood trustworthiness, and scikit-learn
   is already a dependency.

Embeddings are cached in-process (LRU of :data:`CACHE_SIZE` entries) keyed by a
SHA-256 of the encoded matrix and the parameters, so redrawing a figure for the
same data and selection (another colouring, another hover) costs no new t-SNE.
"""

from __future__ import annotations

import hashlib
import inspect
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from threadpoolctl import threadpool_limits

from ..encoding import RowEncoder
from ..errors import DataError
from .fidelity import resolve_columns

__all__ = [
    "CACHE_SIZE",
    "MAX_POINTS",
    "Embedding",
    "clear_embedding_cache",
    "embed_tsne",
    "embedding_cache_info",
    "tsne_matrix",
]

#: Default cap on the points of one map.
MAX_POINTS = 5000
#: Embeddings kept in the in-process cache.
CACHE_SIZE = 16
_PCA_DIMS = 50

_cache: OrderedDict[str, np.ndarray] = OrderedDict()
_lock = threading.Lock()
_stats = {"hits": 0, "misses": 0}
_ITER_PARAM = "max_iter" if "max_iter" in inspect.signature(TSNE).parameters else "n_iter"  # sklearn < 1.5


@dataclass(frozen=True)
class Embedding:
    """A t-SNE map and where its points came from.

    Attributes
    ----------
    coords : DataFrame
        One row per point: ``x``, ``y``, ``source`` (``'real'`` / ``'synthetic'``),
        ``position`` (row position in its own frame) and ``row`` (index label).
    n_real, n_synthetic : int
        Rows offered before the cap.
    max_points : int
        The cap applied.
    params : dict
        t-SNE settings actually used (perplexity, iterations, seed, ...).
    seconds : float
        Wall time of this call (near 0 when served from the cache).
    cached : bool
        Whether the map came from the cache.
    """

    coords: pd.DataFrame
    n_real: int
    n_synthetic: int
    max_points: int
    params: dict = field(default_factory=dict)
    seconds: float = 0.0
    cached: bool = False

    @property
    def n_shown(self) -> int:
        return len(self.coords)

    @property
    def subtitle(self) -> str:
        """What a figure should say about the sample, e.g. ``"5,000 of 11,000 rows (cap 5,000), seed 0"``."""
        total = self.n_real + self.n_synthetic
        shown = (self.coords["source"] == "real").sum(), (self.coords["source"] == "synthetic").sum()
        return (
            f"{self.n_shown:,} of {total:,} rows shown ({shown[0]:,} real, {shown[1]:,} synthetic; "
            f"cap {self.max_points:,}), perplexity {self.params.get('perplexity', 0):g}, "
            f"seed {self.params.get('random_state')}"
        )


def clear_embedding_cache() -> None:
    """Empty the in-process embedding cache and reset its counters."""
    with _lock:
        _cache.clear()
        _stats.update(hits=0, misses=0)


def embedding_cache_info() -> dict:
    """``{"hits", "misses", "size", "maxsize"}`` of the embedding cache."""
    with _lock:
        return {**_stats, "size": len(_cache), "maxsize": CACHE_SIZE}


def _sample_positions(
    n_real: int, n_syn: int, max_points: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    n_syn_keep = min(n_syn, max(max_points // 2, max_points - n_real))
    n_real_keep = min(n_real, max_points - n_syn_keep)
    real_pos = (
        np.sort(rng.choice(n_real, size=n_real_keep, replace=False))
        if n_real_keep < n_real
        else np.arange(n_real)
    )
    syn_pos = (
        np.sort(rng.choice(n_syn, size=n_syn_keep, replace=False)) if n_syn_keep < n_syn else np.arange(n_syn)
    )
    return real_pos, syn_pos


def _key(X: np.ndarray, params: dict) -> str:
    h = hashlib.sha256()
    X = np.ascontiguousarray(X, dtype=np.float64)
    h.update(repr((X.shape, sorted(params.items()))).encode())
    h.update(X.tobytes())
    return h.hexdigest()


def tsne_matrix(
    X: np.ndarray,
    *,
    perplexity: float = 30.0,
    random_state: int | None = 0,
    max_iter: int = 500,
    angle: float = 0.8,
    cache: bool = True,
    max_threads: int | None = 1,
) -> tuple[np.ndarray, dict, bool]:
    """t-SNE of a numeric matrix: ``(coords, params used, served from cache)``.

    PCA first reduces to at most 50 dimensions. ``perplexity`` is lowered to
    ``(n - 1) / 3`` for small inputs. ``max_threads`` caps OpenMP threads
    (``None``: library default); one thread is the default because on a
    shared machine OpenMP's busy waiting made t-SNE three times slower.

    Raises
    ------
    DataError
        Fewer than 3 rows.
    """
    n = len(X)
    if n < 3:
        raise DataError(f"a t-SNE map needs at least 3 rows; got {n}.")
    params = {
        "perplexity": float(min(perplexity, max((n - 1) / 3.0, 1.0))),
        "random_state": random_state,
        "max_iter": int(max_iter),
        "angle": float(angle),
        "pca_dims": int(min(_PCA_DIMS, X.shape[1], n)),
        "method": "sklearn-barnes-hut",
    }
    key = _key(X, params)
    if cache:
        with _lock:
            if key in _cache:
                _cache.move_to_end(key)
                _stats["hits"] += 1
                return _cache[key].copy(), params, True
            _stats["misses"] += 1
    Z = np.asarray(X, dtype=float)
    if Z.shape[1] == 0:
        Z = np.zeros((n, 1))
    if Z.shape[1] > params["pca_dims"]:
        Z = PCA(n_components=params["pca_dims"], random_state=random_state).fit_transform(Z)
    tsne = TSNE(
        n_components=2,
        perplexity=params["perplexity"],
        init="pca",
        learning_rate="auto",
        angle=params["angle"],
        random_state=random_state,
        **{_ITER_PARAM: params["max_iter"]},
    )
    with threadpool_limits(limits=max_threads, user_api="openmp"):
        coords = tsne.fit_transform(Z)
    if cache:
        with _lock:
            _cache[key] = coords.copy()
            _cache.move_to_end(key)
            while len(_cache) > CACHE_SIZE:
                _cache.popitem(last=False)
    return coords, params, False


def embed_tsne(
    real: pd.DataFrame,
    synthetic: pd.DataFrame | None = None,
    *,
    schema=None,
    columns=None,
    max_points: int = MAX_POINTS,
    perplexity: float = 30.0,
    random_state: int | None = 0,
    max_iter: int = 500,
    cache: bool = True,
    max_threads: int | None = 1,
) -> Embedding:
    """Map real and synthetic rows to 2-D with t-SNE on their shared encoding.

    Parameters
    ----------
    real, synthetic : DataFrame
        Rows to map; ``synthetic`` may be ``None`` or empty (real rows only).
    schema : Schema, optional
        Column kinds; inferred from ``real`` when absent.
    columns : list of str, optional
        Columns to encode (default: every compared column of the schema).
    max_points : int
        Cap on mapped points; the figure says how many were shown.
    perplexity, max_iter : float, int
        t-SNE settings.
    random_state : int or None
        Seeds the subsample, PCA and t-SNE.
    cache : bool
        Use the in-process LRU cache.
    max_threads : int or None
        OpenMP threads for t-SNE (see :func:`tsne_matrix`).

    Returns
    -------
    Embedding

    Examples
    --------
    >>> import pandas as pd
    >>> real = pd.DataFrame({"x": range(30), "c": list("ab") * 15})
    >>> emb = embed_tsne(real, real.head(5), max_points=20, max_iter=250)
    >>> emb.n_shown, sorted(emb.coords["source"].unique())
    (20, ['real', 'synthetic'])
    """
    t0 = time.perf_counter()
    synthetic = real.iloc[:0] if synthetic is None else synthetic
    schema, numeric, categorical = resolve_columns(
        real, synthetic if len(synthetic) else real, schema, columns
    )
    cols = numeric + categorical
    rng = np.random.default_rng(random_state)
    real_pos, syn_pos = _sample_positions(len(real), len(synthetic), max_points, rng)
    r, s = real.iloc[real_pos], synthetic.iloc[syn_pos]
    encoder = RowEncoder(schema, cols).fit(r if len(r) else s)
    X = np.vstack([encoder.transform(r), encoder.transform(s)]) if len(s) else encoder.transform(r)
    coords, params, cached = tsne_matrix(
        X,
        perplexity=perplexity,
        random_state=random_state,
        max_iter=max_iter,
        cache=cache,
        max_threads=max_threads,
    )
    frame = pd.DataFrame(
        {
            "x": coords[:, 0],
            "y": coords[:, 1],
            "source": ["real"] * len(r) + ["synthetic"] * len(s),
            "position": np.concatenate([real_pos, syn_pos]).astype(int),
            "row": list(r.index) + list(s.index),
        }
    )
    return Embedding(
        coords=frame,
        n_real=len(real),
        n_synthetic=len(synthetic),
        max_points=int(max_points),
        params={**params, "columns": cols},
        seconds=time.perf_counter() - t0,
        cached=cached,
    )
