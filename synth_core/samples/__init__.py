"""Small tables bundled so the app has something to open on a fresh machine.

Each is a 3,000-row random sample (``random_state=0``) of a file in the
project's shared benchmark data; see ``SOURCES.md`` for origin and licence.
"""

from pathlib import Path

__all__ = ["SAMPLES", "sample_path"]

#: label -> (file name, target column)
SAMPLES = {
    "Adult income (3,000 rows, mixed types)": ("adult_3k.csv", "income"),
    "Bank marketing (3,000 rows, numeric)": ("bank_marketing_3k.csv", "Class"),
    "Bike sharing (3,000 rows, regression)": ("bike_3k.csv", "cnt"),
}


def sample_path(file_name: str) -> Path:
    """Absolute path of a bundled sample file."""
    return Path(__file__).parent / file_name
