"""SampleLLM: clustered exemplars, few-shot LLM rows, feature-attribution importance sampling.

Two presets; ``docs/PAPERS.md`` (section "SampleLLM") lists each step of the
paper's Alg. 1 with the function, same / differs and why, and the test.

``preset="paper"`` follows Gao et al., *SampleLLM*, Alg. 1:

- **Exemplars** (Sec. 2.4, Eq. 5): K-means over the whole table (the
  :class:`~synth_core.encoding.RowEncoder` encoding of every train row, target
  included), ``n_clusters`` = the paper's ``a``; each prompt shows one random
  row of each cluster.
- **Q prompts x b rows** (Fig. 2a): ``rows_per_call`` is ``b``; prompts are
  sent until the pool ``D_s'`` holds ``pool_factor * n`` rows (``Q`` follows,
  bounded by ``max_calls``).
- **Interaction map** (Eq. 9-11): second-order attributions of a neural
  network: a small MLP (scikit-learn) fitted on the train rows, Hessian terms
  by central finite differences against a zero (mean) baseline, absolute
  values summed over rows and over the encoded columns of each field
  (:func:`hessian_interaction_map`).
- **Feature groups** (Eq. 12): pairs above ``gamma * max``, merged.
- **Weights** (Eq. 13-14): ``w = prod_t P_o(z_t) / P_s'(z_t) * M_o(y|x) /
  M_s'(y|x)`` with ``P_d`` the raw frequency of the row's cell of group ``t``
  in the real rows and in the pool (:func:`frequency_weights`), then a
  weighted draw of the rows asked for.
- Not run: the instruction chosen among five hand-written ones by the gain of
  1% synthetic rows and refined by chain-of-thought over official documents
  (Sec. 2.3). It needs an instruction-following model and the data set's
  documents; the embedded base model follows no instruction, so the prompt is
  the project's row prompt.

``preset="product"`` (default) keeps what works on small tables:

- K-medoids (scikit-learn-extra) per approved rule's rows, every class of the
  region at least once per prompt: exemplars come from the region the rows
  are written for.
- Interactions from the pairwise normalised mutual information of binned
  features (:func:`interaction_map`): no network to train on a few hundred
  rows, milliseconds instead of a Hessian per row; merged groups are capped at
  ``max_group`` (3) columns so their joint cells stay populated.
- Group probabilities from a regularised real-vs-synthetic discriminator over
  one-hot group cells (its log-odds is a sum over groups, the same
  semi-independent factorisation): raw cell frequencies explode when a pool of
  20 rows leaves most cells empty. Weights clipped to ``[1/20, 20]``.

Both: rows are written by :func:`synth_core.llm.generate_rows` under the
approved rule as the row constraint (grammar on the embedded model), every
accepted row is checked against its rule again once cast to the table's
types; ``M_o`` and ``M_s'`` are logistic regressions (Ridge with a Gaussian
residual for regression); the pool is resampled **without replacement** (no
duplicate rows). Rows not drawn stay in the output with
``_status='rejected'`` and ``_reason='importance resampling'``; every row
carries its weight in ``_weight``.
"""

from __future__ import annotations

import math
import time
import warnings
from collections import Counter

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import normalized_mutual_info_score

from .._frames import concat_rows
from .._validation import InstanceOf, Interval, Options
from ..encoding import RowEncoder
from ..errors import GenerationError
from ..llm.client import LLMClient
from .base import Generation, Generator, allocate, coerce_like, is_cancelled, provenance_frame, recheck_typed

__all__ = [
    "SampleLLMGenerator",
    "interaction_map",
    "feature_groups",
    "importance_weights",
    "frequency_weights",
    "hessian_interaction_map",
    "bin_codes",
    "PRESETS",
]

PRESETS = ("product", "paper")

RESAMPLED_OUT = "importance resampling"


def _kmedoids():
    with warnings.catch_warnings():  # scikit-learn-extra imports distutils' LooseVersion
        warnings.simplefilter("ignore")
        from sklearn_extra.cluster import KMedoids
    return KMedoids


def usage_delta(client, before: dict | None) -> dict:
    """What ``client.usage.summary()`` grew by since ``before`` (empty without a client)."""
    usage = getattr(client, "usage", None)
    if usage is None or not hasattr(usage, "summary"):
        return {}
    now = usage.summary()
    before = before or {}
    out = {}
    for key, value in now.items():
        if (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and key != "tokens_per_accepted_row"
            and key != "server_start_seconds"
        ):
            out[key] = value - (before.get(key) or 0)
        else:
            out[key] = value
    if "seconds" in out:
        out["seconds"] = round(out["seconds"], 3)
    rows = out.get("rows_accepted") or 0
    out["tokens_per_accepted_row"] = round(out.get("total_tokens", 0) / rows, 1) if rows else None
    return out


def usage_before(client) -> dict:
    usage = getattr(client, "usage", None)
    return usage.summary() if usage is not None and hasattr(usage, "summary") else {}


# --------------------------------------------------------------------------- feature interactions


def bin_codes(real: pd.Series, other: pd.Series | None, spec, bins: int = 5):
    """Integer codes of ``real`` (and ``other``) on bins learnt from ``real`` (missing = its own code).

    Numbers (``spec.is_numeric``) fall in ``bins`` quantile bins of ``real``; anything else is coded by
    ``real``'s ten most frequent values, one code for the rest. Used for the mutual-information and TVD
    measures of SampleLLM, H-TDBU and StructSynth.

    Returns
    -------
    ndarray, or a tuple of two ndarrays when ``other`` is given

    Examples
    --------
    >>> bin_codes(pd.Series(["a", "b", "a", None]), None, None).tolist()
    [0, 1, 0, 3]
    """
    frames = [real] if other is None else [real, other]
    if spec is not None and spec.is_numeric:
        x = pd.to_numeric(real, errors="coerce").dropna().to_numpy(dtype=float)
        edges = np.unique(np.quantile(x, np.linspace(0, 1, bins + 1)[1:-1])) if len(x) else np.array([])
        out = []
        for s in frames:
            v = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)
            codes = np.searchsorted(edges, v, side="right")
            codes[np.isnan(v)] = len(edges) + 1
            out.append(codes.astype(int))
    else:
        top = real.dropna().astype(str).value_counts().index[:10].tolist()
        table = {c: i for i, c in enumerate(top)}
        out = []
        for s in frames:
            text = s.astype(str)
            codes = np.array([table.get(t, len(top)) for t in text], dtype=int)
            codes[s.isna().to_numpy()] = len(top) + 1
            out.append(codes)
    return out[0] if other is None else tuple(out)


def interaction_map(frame: pd.DataFrame, schema, features) -> pd.DataFrame:
    """Pairwise interaction strength of the features (normalised mutual information of binned values).

    The cheaper stand-in for SampleLLM's Hessian interaction map ``Gamma^{D_o}`` (Eq. 10-11).
    """
    codes = {c: bin_codes(frame[c], None, schema[c] if c in schema else None) for c in features}
    k = len(features)
    gamma = np.zeros((k, k))
    for i in range(k):
        for j in range(i + 1, k):
            a, b = codes[features[i]], codes[features[j]]
            if len(np.unique(a)) < 2 or len(np.unique(b)) < 2:
                continue
            gamma[i, j] = gamma[j, i] = normalized_mutual_info_score(a, b, average_method="geometric")
    return pd.DataFrame(gamma, index=list(features), columns=list(features))


def feature_groups(gamma: pd.DataFrame, threshold: float, *, max_group: int = 3) -> list[list[str]]:
    """SampleLLM Eq. 12: pairs above ``threshold * max``, merged over shared columns (groups capped in size)."""
    names = list(gamma.columns)
    values = gamma.to_numpy()
    top = values.max() if values.size else 0.0
    group = {c: [c] for c in names}
    if top > 0:
        cut = threshold * top
        pairs = sorted(
            (
                (values[i, j], names[i], names[j])
                for i in range(len(names))
                for j in range(i + 1, len(names))
                if values[i, j] > cut
            ),
            reverse=True,
        )
        for _, a, b in pairs:
            ga, gb = group[a], group[b]
            if ga is gb or len(ga) + len(gb) > max_group:
                continue
            ga.extend(gb)
            for c in gb:
                group[c] = ga
    out, seen = [], set()
    for c in names:
        g = group[c]
        if id(g) not in seen:
            seen.add(id(g))
            out.append(list(g))
    return out


def _group_cells(real: pd.DataFrame, other: pd.DataFrame, schema, groups) -> tuple[np.ndarray, np.ndarray]:
    """One-hot matrices of each group's joint cell, for real and other rows (cells learnt from both)."""
    blocks_r, blocks_o = [], []
    for g in groups:
        cr, co = [], []
        for c in g:
            a, b = bin_codes(real[c], other[c], schema[c] if c in schema else None)
            cr.append(a)
            co.append(b)
        key_r = [tuple(t) for t in np.column_stack(cr)]
        key_o = [tuple(t) for t in np.column_stack(co)]
        cells = {k: i for i, k in enumerate(dict.fromkeys(key_r + key_o))}
        m_r = np.zeros((len(real), len(cells)))
        m_o = np.zeros((len(other), len(cells)))
        m_r[np.arange(len(real)), [cells[k] for k in key_r]] = 1
        m_o[np.arange(len(other)), [cells[k] for k in key_o]] = 1
        blocks_r.append(m_r)
        blocks_o.append(m_o)
    return np.hstack(blocks_r), np.hstack(blocks_o)


def _label_likelihood(train_x, train_y, x, y, task, classes=None) -> np.ndarray:
    """``M(y | x)`` of each row of ``x`` under a simple discriminant model fitted on (train_x, train_y)."""
    n = len(x)
    if task == "classification":
        train_y = np.asarray(train_y).astype(str)
        y = np.asarray(y).astype(str)
        labels = np.unique(train_y)
        if len(labels) < 2 or len(train_y) < 10:
            counts = Counter(train_y)
            k = max(len(set(classes or [])) or len(labels), 1)
            return np.array([(counts.get(v, 0) + 1) / (len(train_y) + k) for v in y])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = LogisticRegression(C=1.0, max_iter=500).fit(train_x, train_y)
        proba = model.predict_proba(x)
        col = {c: i for i, c in enumerate(model.classes_)}
        out = np.array([proba[i, col[v]] if v in col else 0.0 for i, v in enumerate(y)])
        return np.clip(out, 1e-3, 1.0)
    ty = np.asarray(train_y, dtype=float)
    yy = np.asarray(y, dtype=float)
    if len(ty) < 5:
        mu, sd = np.full(n, ty.mean() if len(ty) else 0.0), (ty.std() if len(ty) > 1 else 1.0) or 1.0
    else:
        model = Ridge(alpha=1.0).fit(train_x, ty)
        mu = model.predict(x)
        sd = float(np.std(ty - model.predict(train_x))) or 1.0
    return np.exp(-0.5 * ((yy - mu) / sd) ** 2) / sd + 1e-12


def importance_weights(
    real: pd.DataFrame,
    pool: pd.DataFrame,
    *,
    schema,
    features,
    target,
    task,
    groups,
    clip: float = 20.0,
    random_state=0,
) -> np.ndarray:
    """SampleLLM Eq. 14 weights of ``pool`` rows towards ``real`` (mean 1, clipped to ``[1/clip, clip]``).

    ``w = p/(1-p) * M_o(y|x) / M_s(y|x)`` where ``p = P(real | group cells)`` comes from a balanced
    logistic discriminator over one-hot group cells (the semi-independent factorisation of Eq. 8).
    """
    if len(pool) < 2:
        return np.ones(len(pool))
    zr, zs = _group_cells(real, pool, schema, groups)
    x = np.vstack([zr, zs])
    lab = np.r_[np.ones(len(zr)), np.zeros(len(zs))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        disc = LogisticRegression(
            C=1.0, class_weight="balanced", max_iter=1000, random_state=random_state
        ).fit(x, lab)
    p = np.clip(disc.predict_proba(zs)[:, 1], 1e-6, 1 - 1e-6)
    log_w = np.log(p / (1 - p))
    enc = RowEncoder(schema, features).fit(real)
    xr, xs = enc.transform(real), enc.transform(pool)
    m_o = _label_likelihood(xr, real[target].to_numpy(), xs, pool[target].to_numpy(), task)
    m_s = _label_likelihood(
        xs,
        pool[target].to_numpy(),
        xs,
        pool[target].to_numpy(),
        task,
        classes=real[target].dropna().astype(str).unique().tolist(),
    )
    log_w += np.log(m_o) - np.log(m_s)
    log_w = np.nan_to_num(log_w - np.median(log_w), nan=0.0)
    w = np.exp(np.clip(log_w, -math.log(clip), math.log(clip)))
    return w / w.mean()


def _fields(encoder: RowEncoder) -> list[str]:
    """The column (field) of every encoded column of a fitted :class:`RowEncoder`, in order."""
    return (
        list(encoder.numeric_)
        + list(encoder.flags_)
        + [c for c in encoder.categorical_ for _ in encoder.levels_[c]]
    )


def hessian_interaction_map(
    frame: pd.DataFrame,
    schema,
    features,
    target,
    task,
    *,
    max_rows: int = 200,
    step: float = 0.5,
    random_state=0,
) -> pd.DataFrame:
    """SampleLLM Eq. 10-11: summed absolute second-order attributions of a small neural network.

    A one-hidden-layer MLP (scikit-learn) is fitted on the encoded features; for each of at most
    ``max_rows`` rows ``x`` and pair of encoded columns, ``Gamma_ij(x) = x_i x_j d2f/dx_i dx_j`` against the
    zero baseline (the encoding's centre), the second derivative by central finite differences of
    ``step``. ``f`` is the predicted value, or the predicted probability of each class (summed in
    absolute value). Absolute values are summed over rows (Eq. 11) and over the encoded columns of each
    field (a one-hot category is one field).
    """
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    features = list(features)
    enc = RowEncoder(schema, features).fit(frame)
    x = enc.transform(frame)
    fields = _fields(enc)
    rng = np.random.default_rng(random_state)
    if len(x) > max_rows:
        x_eval = x[np.sort(rng.choice(len(x), max_rows, replace=False))]
    else:
        x_eval = x
    y = frame[target].to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a small net on a few hundred rows rarely converges fully
        if task == "classification":
            net = MLPClassifier(hidden_layer_sizes=(32,), max_iter=400, random_state=int(random_state or 0))
            net.fit(x, pd.Series(y).astype(str).to_numpy())

            def f(z):
                return net.predict_proba(z)
        else:
            yy = pd.to_numeric(pd.Series(y), errors="coerce").to_numpy(dtype=float)
            mu, sd = float(np.nanmean(yy)), float(np.nanstd(yy)) or 1.0
            net = MLPRegressor(hidden_layer_sizes=(32,), max_iter=400, random_state=int(random_state or 0))
            net.fit(x, (np.nan_to_num(yy, nan=mu) - mu) / sd)

            def f(z):
                return net.predict(z)[:, None]

    d = x.shape[1]
    n = len(x_eval)
    gamma_cols = np.zeros((d, d))
    h = float(step)
    for i in range(d):
        js = np.arange(i + 1, d)
        if not len(js):
            continue
        batch = []
        for si, sj in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
            z = np.repeat(x_eval[None, :, :], len(js), axis=0).copy()  # (pairs, rows, d)
            z[:, :, i] += si * h
            z[np.arange(len(js)), :, js] += sj * h
            batch.append(z.reshape(-1, d))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = [f(b).reshape(len(js), n, -1) for b in batch]
        second = (out[0] - out[1] - out[2] + out[3]) / (4 * h * h)  # (pairs, rows, outputs)
        attr = np.abs(second * (x_eval[None, :, i, None] * x_eval.T[js][:, :, None])).sum(axis=(1, 2))
        gamma_cols[i, js] = gamma_cols[js, i] = attr
    names = features
    pos = {c: k for k, c in enumerate(names)}
    gamma = np.zeros((len(names), len(names)))
    for a in range(d):
        for b in range(d):
            fa, fb = fields[a], fields[b]
            if fa != fb:
                gamma[pos[fa], pos[fb]] += gamma_cols[a, b]
    return pd.DataFrame(gamma, index=names, columns=names)


def frequency_weights(
    real: pd.DataFrame, pool: pd.DataFrame, *, schema, features, target, task, groups
) -> np.ndarray:
    """SampleLLM Eq. 14 with raw frequencies: ``w = prod_t P_o(z_t) / P_s'(z_t) * M_o(y|x) / M_s'(y|x)``.

    ``P_d(z_t)`` is the share of rows of ``d`` (real rows, the pool) in the row's cell of group ``t``
    (numbers binned on the real rows' quintiles). A cell no real row has gets weight 0. Not normalised
    and not clipped.
    """
    if len(pool) == 0:
        return np.ones(0)
    log_w = np.zeros(len(pool))
    zero = np.zeros(len(pool), dtype=bool)
    for g in groups:
        cr, cp = [], []
        for c in g:
            a, b = bin_codes(real[c], pool[c], schema[c] if c in schema else None)
            cr.append(a)
            cp.append(b)
        key_r = pd.Series([tuple(t) for t in np.column_stack(cr)])
        key_p = pd.Series([tuple(t) for t in np.column_stack(cp)])
        p_o = key_p.map(key_r.value_counts(normalize=True)).fillna(0.0).to_numpy(dtype=float)
        p_s = key_p.map(key_p.value_counts(normalize=True)).to_numpy(dtype=float)
        zero |= p_o <= 0
        log_w += np.log(np.where(p_o > 0, p_o, 1.0)) - np.log(p_s)
    enc = RowEncoder(schema, features).fit(real)
    xr, xs = enc.transform(real), enc.transform(pool)
    m_o = _label_likelihood(xr, real[target].to_numpy(), xs, pool[target].to_numpy(), task)
    m_s = _label_likelihood(
        xs,
        pool[target].to_numpy(),
        xs,
        pool[target].to_numpy(),
        task,
        classes=real[target].dropna().astype(str).unique().tolist(),
    )
    log_w += np.log(m_o) - np.log(m_s)
    w = np.exp(log_w - np.max(log_w[~zero])) if (~zero).any() else np.zeros(len(pool))
    w[zero] = 0.0
    return w


# --------------------------------------------------------------------------- generator


class SampleLLMGenerator(Generator):
    """SampleLLM: clustered exemplars, few-shot LLM rows per approved rule, importance resampling.

    Parameters
    ----------
    client : LLMClient, optional
        The LLM (the pipeline passes one; default :func:`synth_core.llm.get_client` at generate time).
    preset : {'product', 'paper'}
        ``'paper'``: K-means over the whole table, Hessian interactions, Eq. 14's frequency ratios;
        ``'product'``: K-medoids per rule region, mutual-information interactions, a discriminator
        (see the module docstring).
    n_clusters : int
        Clusters = exemplars per prompt (the paper's ``a``).
    rows_per_call : int
        Rows asked per prompt (the paper's ``b``).
    gamma : float
        Interaction threshold as a share of the strongest interaction (Eq. 12); pairs above it are grouped.
    pool_factor : float
        Candidate pool size ``D_s'`` as a multiple of ``n`` before importance resampling (>= 1).
    max_calls : int, optional
        Most prompts (``Q``) in one ``generate``; default twice the prompts the pool needs.
    random_state : int or None

    Attributes
    ----------
    interaction_ : DataFrame
        The feature interaction map on the train rows.
    groups_ : list of list of str
        Feature groups (Eq. 12).
    medoids_ : dict
        Rule id -> train positions of the K-medoids of its region.
    """

    name = "samplellm"
    needs_llm = True
    llm_rows = True

    _parameter_constraints = {
        "client": [InstanceOf(LLMClient, what="an LLMClient"), None],
        "preset": [Options(PRESETS)],
        "n_clusters": [Interval(int, 1, None)],
        "rows_per_call": [Interval(int, 1, None)],
        "gamma": [Interval(float, 0, 1)],
        "pool_factor": [Interval(float, 1, None)],
        "max_calls": [Interval(int, 1, None), None],
        "random_state": [Interval(int, 0, None), None],
    }

    def __init__(
        self,
        *,
        client=None,
        preset: str = "product",
        n_clusters: int = 8,
        rows_per_call: int = 5,
        gamma: float = 0.5,
        pool_factor: float = 1.5,
        max_calls: int | None = None,
        random_state=None,
    ):
        self.client = client
        self.preset = preset
        self.n_clusters = n_clusters
        self.rows_per_call = rows_per_call
        self.gamma = gamma
        self.pool_factor = pool_factor
        self.max_calls = max_calls
        self.random_state = random_state

    def planned_calls(self, n: int, n_rules: int) -> int:
        """One call per ``rows_per_call`` pool rows, rounded up per rule."""
        pool = max(n, math.ceil(n * float(self.pool_factor)))
        planned = math.ceil(pool / max(int(self.rows_per_call), 1)) + max(n_rules, 1) - 1
        return min(planned, int(self.max_calls)) if self.max_calls is not None else planned

    def _fit(self):
        """Cluster the exemplars and map the feature interactions on the train rows."""
        schema = self.dataset_.schema
        self.encoder_ = RowEncoder(schema, self.columns_).fit(self.train_)
        rng = np.random.default_rng(self.random_state)
        self.clusters_, self.medoids_ = {}, {}
        everything = np.arange(len(self.train_))
        feats = self.dataset_.features
        if self.preset == "paper":  # Eq. 5: K-means over the whole table, the same clusters for every prompt
            self._global = self._kmeans(everything, rng)
            for rule in self.rules_:
                self.clusters_[rule.id] = self._global
                self.medoids_[rule.id] = self._global[2]
            self.interaction_ = hessian_interaction_map(
                self.train_,
                schema,
                feats,
                self.dataset_.target,
                self.dataset_.task,
                random_state=self.random_state or 0,
            )
            self.groups_ = feature_groups(self.interaction_, float(self.gamma), max_group=len(feats) or 1)
            return
        self._global = self._cluster(everything, rng)
        for rule in self.rules_:
            pos = np.flatnonzero(rule.mask(self.train_))
            self.clusters_[rule.id] = self._cluster(pos, rng) if len(pos) >= 2 else self._global
            self.medoids_[rule.id] = self.clusters_[rule.id][2]
        self.interaction_ = interaction_map(self.train_, schema, feats)
        self.groups_ = feature_groups(self.interaction_, float(self.gamma))

    def _kmeans(self, positions: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(train positions, cluster label per position, the row nearest each centre) for K-means."""
        from sklearn.cluster import KMeans

        x = self.encoder_.transform(self.train_.iloc[positions])
        k = min(int(self.n_clusters), len(positions))
        if k <= 1:
            return positions, np.zeros(len(positions), dtype=int), positions[:1]
        km = KMeans(n_clusters=k, n_init=10, random_state=int(rng.integers(2**31))).fit(x)
        labels = km.labels_
        nearest = [
            positions[
                np.flatnonzero(labels == c)[
                    np.argmin(((x[labels == c] - km.cluster_centers_[c]) ** 2).sum(axis=1))
                ]
            ]
            for c in range(k)
            if (labels == c).any()
        ]
        return positions, labels, np.asarray(nearest)

    def _cluster(self, positions: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(train positions, cluster label per position, medoid positions) for K-medoids over the encoding."""
        x = self.encoder_.transform(self.train_.iloc[positions])
        k = min(int(self.n_clusters), len(positions))
        if k <= 1:
            return positions, np.zeros(len(positions), dtype=int), positions[:1]
        fit_idx = np.arange(len(positions))
        if len(positions) > 1000:  # BUILD init is quadratic: fit on a sample, assign the rest
            fit_idx = np.sort(rng.choice(len(positions), 1000, replace=False))
        km = _kmedoids()(
            n_clusters=k,
            metric="euclidean",
            method="alternate",
            init="build",
            random_state=int(rng.integers(2**31)),
        ).fit(x[fit_idx])
        labels = km.predict(x)
        return positions, labels, positions[fit_idx[km.medoid_indices_]]

    def _exemplars(self, rule, rng) -> pd.DataFrame:
        """One random row per cluster (Eq. 5), every class of the region present at least once."""
        positions, labels, _ = self.clusters_.get(rule.id, self._global)
        chosen = [int(rng.choice(positions[labels == c])) for c in np.unique(labels)]
        if self.dataset_.task == "classification" and self.preset != "paper":
            y = self.train_[self.dataset_.target].astype(str).to_numpy()
            present = Counter(y[chosen])
            for cls in pd.unique(y[positions]):
                if cls in present:
                    continue
                options = positions[y[positions] == cls]
                pick = int(rng.choice(options))
                common = present.most_common(1)[0][0] if present else None
                swap = [i for i, p in enumerate(chosen) if y[p] == common]
                if common is not None and present[common] > 1 and swap:
                    chosen[swap[int(rng.integers(len(swap)))]] = pick
                    present[common] -= 1
                else:
                    chosen.append(pick)
                present[cls] += 1
        order = rng.permutation(len(chosen))
        return self.train_.iloc[[chosen[i] for i in order]]

    def generate(self, n: int, *, progress=None, cancel=None) -> Generation:
        """Ask for the candidate pool (every rule's prompts at once, up to the client's concurrency), then
        resample it by importance weights.

        Every rule first gets the prompts that would fill its pool if every row were accepted
        (``rows_per_call`` rows each), all sent through one :class:`~synth_core.llm.parallel.CallStream`;
        a rule still short once its prompts' replies are all taken gets another round, added behind the
        prompts already planned. The exemplars are drawn in the order the prompts are added and the replies
        are taken in it, so the rows are the same at any concurrency. An LLM failure or cancel starts no
        further prompt; the replies of the calls in flight are kept.
        """
        self._check_fitted()
        if n < 1:
            raise GenerationError(f"n must be at least 1, got {n}.")
        from ..llm import generate_rows
        from ..llm._domain import generated_columns
        from ..llm.parallel import CallStream
        from ..llm.row_check import real_row_keys

        if self.client is None:
            from ..llm import get_client

            self.client = get_client()
        client = self.client
        ds = self.dataset_
        started = time.perf_counter()
        before = usage_before(client)
        rng = np.random.default_rng(self.random_state)
        b = int(self.rows_per_call)
        pool_n = max(n, int(math.ceil(n * float(self.pool_factor))))
        supports = [max(r.count(self.train_), 1) for r in self.rules_]
        quotas = allocate(n, supports)
        pool_quotas = allocate(pool_n, supports)
        planned = [int(math.ceil(q / b)) if q > 0 else 0 for q in pool_quotas]
        budget = int(self.max_calls) if self.max_calls is not None else 2 * sum(planned)
        total = min(sum(planned), budget) + 1
        stop = (lambda: is_cancelled(cancel)) if cancel is not None else None
        real_keys = real_row_keys(self.train_, ds.schema, generated_columns(ds.schema, ds.target))
        asks = [
            {
                "index": i,
                "rule": rule,
                "quota": quota,
                "pool_q": pool_q,
                "limit": max(2 * plan, plan),
                "prompts": 0,
                "calls": 0,
                "got": 0,
                "made": [],
                "rejected": Counter(),
                "outstanding": 0,
            }
            for i, (rule, quota, pool_q, plan) in enumerate(zip(self.rules_, quotas, pool_quotas, planned))
        ]
        answered = 0
        cancelled, failure = False, None
        messages = []

        def one(job):
            a, sample, want, exemplars = job
            return generate_rows(
                client,
                schema=ds.schema,
                target=ds.target,
                rule=a["rule"],
                examples=exemplars,
                n=want,
                real_rows=self.train_,
                rows_per_call=want,
                n_examples=len(exemplars),
                max_calls=1,
                start_sample=sample,
                tag=a["rule"].id or "samplellm",
                cancel=stop,
                real_keys=real_keys,
            )

        stream = CallStream(client, cancel=cancel)
        n_planned = [0]
        held = [False]  # a prompt was not planned because the stream had stopped (cancel or failure)

        def plan(a) -> int:
            """Add the prompts that fill ``a``'s pool if every row is accepted (exemplars drawn now, in order)."""
            want = a["pool_q"] - a["got"]
            count = max(min(math.ceil(want / b), a["limit"] - a["prompts"], budget - n_planned[0]), 0)
            if count and stream.halted:
                held[0], count = True, 0
            for j in range(count):
                exemplars = self._exemplars(a["rule"], rng)
                stream.add(one, (a, 1000 * a["index"] + a["prompts"], min(b, want - j * b), exemplars))
                a["prompts"] += 1
                n_planned[0] += 1
            a["outstanding"] = count
            return count

        def handle(out) -> None:  # in the order the prompts were added, whichever call finished first
            nonlocal failure, cancelled, answered
            a = out.job[0]
            a["outstanding"] -= 1
            if out.error is not None:
                failure = failure or out.error
                return
            batch = out.value
            if batch.cancelled and not batch.call_ids:
                cancelled = True
                return
            answered += 1
            a["calls"] += len(batch.call_ids)
            a["rejected"].update(batch.reasons)
            if len(batch.rows):
                rows = coerce_like(batch.rows[self.columns_], self.train_, ds.schema)
                rows["_call_id"] = batch.row_call_ids[: len(rows)]
                a["made"].append(rows)
                a["got"] += len(rows)
            if progress:
                progress(
                    min(answered, total - 1),
                    total,
                    f"samplellm: rule {a['rule'].id}: {answered} call(s) answered, "
                    f"{sum(x['got'] for x in asks)} of {pool_n} candidate rows",
                )
            if a["outstanding"] == 0 and failure is None:
                plan(a)  # rows were rejected: another round for this rule, behind the prompts already added

        if progress:
            progress(0, total, "samplellm: asking the LLM for candidate rows")
        for a in asks:
            plan(a)
        stream.run(handle)
        if failure is None and (stream.cancelled or held[0]):
            cancelled = True
        pools, summary = [], []
        for a in asks:
            made = a["made"]
            pool = (
                concat_rows(made, ignore_index=True)
                if made
                else pd.DataFrame(columns=self.columns_ + ["_call_id"])
            )
            pools.append((a["rule"], a["quota"], pool))
            summary.append(
                {
                    "rule_id": a["rule"].id,
                    "rule": a["rule"].text,
                    "requested": a["quota"],
                    "pool": len(pool),
                    "calls": a["calls"],
                    "llm_rejected": int(sum(a["rejected"].values())),
                    "rejected_by_reason": dict(a["rejected"]),
                }
            )
        calls = sum(a["calls"] for a in asks)
        if failure is not None:
            made_rows = sum(len(p) for _, _, p in pools)
            if made_rows == 0:
                raise failure
            messages.append(
                f"the LLM failed after {made_rows} candidate row(s) ({failure}); "
                "the rows made so far are kept."
            )
        if cancelled:
            messages.append(
                f"cancelled after {calls} call(s); {sum(len(p) for _, _, p in pools)} candidate row(s) kept."
            )
        if progress:
            progress(total - 1, total, "samplellm: importance sampling (distribution alignment)")
        parts = self._align(pools, summary, messages, rng)
        if progress:
            progress(total, total, "samplellm: done")
        rows = concat_rows(parts, ignore_index=True) if parts else self._empty()
        for row in summary:
            row.setdefault("accepted", 0)
            row.setdefault("rejected", row["llm_rejected"])
            if row["pool"] == 0 and failure is None and not cancelled:
                messages.append(
                    f"rule {row['rule_id']}: the LLM wrote no valid row in {row['calls']} call(s) "
                    f"(rejections: {row['rejected_by_reason'] or 'none'})."
                )
            row["rejected_by_reason"] = ", ".join(f"{k}: {v}" for k, v in row["rejected_by_reason"].items())
        return Generation(
            rows=rows,
            per_rule=pd.DataFrame(summary),
            messages=messages,
            usage=usage_delta(client, before),
            cancelled=cancelled,
            seconds=time.perf_counter() - started,
            error=failure,
        )

    def _align(self, pools, summary, messages, rng) -> list[pd.DataFrame]:
        """Importance weights over the whole pool, then per rule a weighted draw of its quota."""
        frames = [p for _, _, p in pools if len(p)]
        if not frames:
            return []
        everything = concat_rows(frames, ignore_index=True)
        real = self.train_[np.any([r.mask(self.train_) for r in self.rules_], axis=0)]
        if len(real) < 10:
            real = self.train_
        try:
            if self.preset == "paper":
                weights = frequency_weights(
                    real,
                    everything[self.columns_],
                    schema=self.dataset_.schema,
                    features=self.dataset_.features,
                    target=self.dataset_.target,
                    task=self.dataset_.task,
                    groups=self.groups_,
                )
            else:
                weights = importance_weights(
                    real,
                    everything[self.columns_],
                    schema=self.dataset_.schema,
                    features=self.dataset_.features,
                    target=self.dataset_.target,
                    task=self.dataset_.task,
                    groups=self.groups_,
                    random_state=self.random_state or 0,
                )
        except ValueError as exc:  # a degenerate pool (e.g. one constant row): no alignment possible
            messages.append(f"importance weights could not be computed ({exc}); rows kept unweighted.")
            weights = np.ones(len(everything))
        groups = [g for g in self.groups_ if len(g) > 1]
        if groups:
            messages.append(
                "feature groups (interaction > gamma * max): "
                + "; ".join("{" + ", ".join(g) + "}" for g in groups)
            )
        parts, offset = [], 0
        for (rule, quota, pool), row in zip(pools, summary):
            w = weights[offset : offset + len(pool)]
            offset += len(pool)
            if len(pool) == 0:
                continue
            keep = np.ones(len(pool), dtype=bool)
            if self.preset == "paper":
                keep &= w > 0  # a cell no real row has: weight 0, never drawn
            if keep.sum() > quota:
                live = np.flatnonzero(keep)
                keep[:] = False
                keep[live[rng.choice(len(live), size=quota, replace=False, p=w[live] / w[live].sum())]] = True
            call_ids = pool["_call_id"].astype(str).to_numpy()
            data = pool[self.columns_]
            lost = 0
            for status, mask, reason in (("accepted", keep, ""), ("rejected", ~keep, RESAMPLED_OUT)):
                if not mask.any():
                    continue
                frame = provenance_frame(
                    data[mask].reset_index(drop=True),
                    generator=self.name,
                    rule_id=rule.id,
                    iteration=1,
                    status=status,
                    reason=reason,
                )
                frame["_call_id"] = call_ids[mask]
                frame["_weight"] = np.round(w[mask], 4)
                if status == "accepted":  # the rule checked once more on the final, typed row
                    lost += recheck_typed(frame, {rule.id: rule}).get(str(rule.id), 0)
                parts.append(frame)
            row["accepted"] = int(keep.sum()) - lost
            row["rejected"] = row["llm_rejected"] + len(pool) - row["accepted"]
            if len(pool) < quota:
                messages.append(
                    f"rule {rule.id}: {len(pool)} of {quota} rows (the pool was too small to "
                    "resample; all candidates kept)."
                )
        return parts
