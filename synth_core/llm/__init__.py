"""The LLM layer: one client for every OpenAI-compatible endpoint and the embedded local model.

- :class:`LLMSettings` (no API key field, ever) and :class:`LLMClient`
  (completion and JSON chat on the ``openai`` package, SDK retries, a reply
  cache, usage accounting, a bounded-concurrency ``map``). Faulty endpoints
  end in :mod:`synth_core.errors` classes only: a reply that is not an OpenAI
  answer is an ``LLMResponseError``; one call never takes longer than the
  settings' timeout, retries included; :meth:`LLMClient.with_deadline` bounds
  a whole run (``LLMDeadlineError``).
- The embedded default: Gemma 3 270M served by ``llama_cpp.server`` on
  loopback, started on demand after a real 1-token completion proves it
  (:mod:`synth_core.llm.server`); a crash is reported as a crash, with its
  signal, its log and the fix.
- :func:`generate_rows` / :func:`parse_rows`: grammar-bound few-shot rows,
  strict parsing, rejections counted by reason.
- :func:`propose_rules`: JSON rules from the LLM, validated, invalid ones kept with their error.
- :mod:`synth_core.llm.budget`: every prompt fitted to the model's context
  (``LLMSettings.context_tokens`` / ``SYNTH_LLM_CONTEXT``, default 8192) before
  it is sent; what was left out is reported; a prompt that cannot fit, or a
  server's context refusal, is a :class:`ContextLengthError`.
- :class:`~synth_core.llm.testing.FakeLLM`: a scripted client for tests.
- :func:`~synth_core.llm.check.llm_check`: the ``synth llm-check`` command.
"""

from .budget import ContextLengthError, estimate_tokens
from .check import llm_check
from .client import Completion, LLMClient, get_client
from .propose import RuleProposals, propose_rules
from .row_check import REJECTION_REASONS, parse_rows
from .row_text import format_rows
from .rows import RowBatch, generate_rows
from .settings import LLMSettings, mask_key
from .usage import Usage

__all__ = [
    "Completion",
    "ContextLengthError",
    "LLMClient",
    "LLMSettings",
    "REJECTION_REASONS",
    "RowBatch",
    "RuleProposals",
    "Usage",
    "estimate_tokens",
    "format_rows",
    "generate_rows",
    "get_client",
    "llm_check",
    "mask_key",
    "parse_rows",
    "propose_rules",
]
