"""Exceptions raised by synth_core.

Every error a person can cause or fix derives from :class:`SynthError` and also
from the nearest builtin, so callers may catch either. Messages say what went
wrong and what to do next; pages show ``str(err)`` as is, the CLI prints it and
exits with status 2. Anything that is not a ``SynthError`` is a bug.

::

    SynthError
    ├── DataError (ValueError)            a file or table that cannot be used
    │   └── FileTooLargeError             refused before reading, limit named
    ├── RuleError (ValueError)
    │   ├── RuleSyntaxError               rule text that does not parse (position + caret)
    │   └── RuleValidationError           parsed, but wrong for this Schema (all problems at once)
    ├── InvalidParameterError (ValueError)   an estimator parameter out of range
    ├── NotFittedError (ValueError, AttributeError)
    ├── LLMError (RuntimeError)
    │   ├── LLMUnavailableError           unreachable, timed out, or the embedded server failed to start
    │   │   └── LLMDeadlineError          a run's overall LLM deadline passed (no call is made after it)
    │   ├── LLMAuthError                  the endpoint refused the key
    │   ├── LLMRateLimitError             429 after retries
    │   └── LLMResponseError              an answer that cannot be used
    ├── GenerationError (RuntimeError)    a run that cannot start or produce rows
    └── BundleError (ValueError)          a run bundle that cannot be read
"""

from __future__ import annotations

__all__ = [
    "SynthError",
    "DataError",
    "FileTooLargeError",
    "RuleError",
    "RuleSyntaxError",
    "RuleValidationError",
    "InvalidParameterError",
    "NotFittedError",
    "LLMError",
    "LLMUnavailableError",
    "LLMAuthError",
    "LLMRateLimitError",
    "LLMResponseError",
    "LLMDeadlineError",
    "GenerationError",
    "BundleError",
]


class SynthError(Exception):
    """Base class of every error synth_core raises on purpose."""


class DataError(SynthError, ValueError):
    """A file or table that cannot be used as it is."""


class FileTooLargeError(DataError):
    """A file over the size limit, refused before it is parsed."""


class RuleError(SynthError, ValueError):
    """A rule that cannot be used."""


class RuleSyntaxError(RuleError):
    """Rule text that does not parse.

    Attributes
    ----------
    text : str
        The whole text that was parsed.
    pos : int
        Offset of the offending character.
    expected : str
        What the parser expected at ``pos``.
    """

    def __init__(self, text: str, pos: int, expected: str):
        self.text, self.pos, self.expected = text, pos, expected
        found = f"found {text[pos]!r}" if pos < len(text) else "found the end of the rule"
        message = f"expected {expected} at column {pos + 1}, {found}\n  {text}\n  {' ' * pos}^"
        super().__init__(message)


class RuleValidationError(RuleError):
    """A parsed rule that does not fit a Schema; ``problems`` lists every issue found."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


class InvalidParameterError(SynthError, ValueError):
    """A constructor parameter outside its allowed values (checked when ``fit`` starts)."""


class NotFittedError(SynthError, ValueError, AttributeError):
    """A method that needs ``fit`` was called first."""


class LLMError(SynthError, RuntimeError):
    """Base class for everything that goes wrong talking to an LLM."""


class LLMUnavailableError(LLMError):
    """The endpoint could not be reached, timed out, or the embedded server did not start."""


class LLMAuthError(LLMError):
    """The endpoint refused the credentials."""


class LLMRateLimitError(LLMError):
    """The endpoint kept answering 429 after the retries."""


class LLMResponseError(LLMError):
    """The endpoint answered, but the answer cannot be used."""


class GenerationError(SynthError, RuntimeError):
    """A generation run that cannot start or cannot produce rows."""


class BundleError(SynthError, ValueError):
    """A run bundle that cannot be read."""


class LLMDeadlineError(LLMUnavailableError):
    """A run's overall LLM deadline passed: the call in flight was cut short and no later call is made.

    Raised by clients from :meth:`synth_core.llm.LLMClient.with_deadline`; what
    was made before the deadline is kept by the caller.
    """
