"""Row blocks put together the same way on pandas 2 and pandas 3.

``pd.concat`` of row blocks is everywhere in the library (a generator's batches,
the folds' shares, the rows a selection keeps). pandas 2.x warns (a
``FutureWarning``, an error under the test settings) whenever an empty block or
a column that is missing in every row of a block takes part in choosing the
result's column types, because pandas 3 stopped leaving them out. For the types
this library handles both rules give the same result (numbers, text, booleans
mixed with missing values end as float or object either way), so :func:`concat_rows`
leaves empty blocks out, keeps every column any block had, and silences only
that one warning. pandas itself has no switch for this.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable

import pandas as pd

_EMPTY_OR_NA = "The behavior of DataFrame concatenation with empty or all-NA entries"


def concat_rows(frames: Iterable[pd.DataFrame], **kwargs) -> pd.DataFrame:
    """``pd.concat(frames, **kwargs)`` for row blocks, quiet and alike on pandas 2 and 3.

    Empty blocks add no rows, so they are left out (their columns are kept);
    when every block is empty the first one is returned, re-indexed to all columns.

    >>> a = pd.DataFrame({"x": [1.0], "y": ["p"]})
    >>> concat_rows([a, a.iloc[:0], pd.DataFrame({"x": [2.0], "y": [None]})], ignore_index=True)
         x     y
    0  1.0     p
    1  2.0  None
    """
    frames = [f for f in frames if f is not None]
    if not frames:
        raise ValueError("concat_rows needs at least one block of rows")
    columns = list(dict.fromkeys(c for f in frames for c in f.columns))
    used = [f for f in frames if len(f)] or frames[:1]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_EMPTY_OR_NA, category=FutureWarning)
        out = pd.concat(used, **kwargs)
    if list(out.columns) != columns:
        out = out.reindex(columns=columns)
    return out
