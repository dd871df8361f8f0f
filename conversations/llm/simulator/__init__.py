"""An offline, wire-compatible simulator of the Anthropic Messages API.

It speaks the real HTTP protocol (status codes, error bodies, SSE events), so the real
`anthropic` SDK is exercised end to end: in process through `simulator_transport` (an httpx2
transport), or over loopback through `simulator_asgi_app` (`manage.py run_simulator`).
This package must not import Django.

What it plays, module by module:
- `models`: the server's model table (window, max output, prefill, sampling, thinking, effort,
  minimum cacheable prefix) and GET /v1/models with capabilities.
- `prompt`, `validation`: the request rules, answered with the API's status and error body.
- `caching`: prompt caching with exact read / creation figures and an injectable clock.
- `replies`, `streaming`: a deterministic reply that describes what was received, thinking
  blocks, stop reasons, and its SSE events.
- `files`: the Files API (uploads usable as image sources).
- `core`: the `Simulator` that routes and answers; `asgi`: the two adapters.

Directives in the last user text of a /v1/messages request (a browser can type them too):
- `[sim:error=overloaded|rate_limit|api|auth|invalid]`: fail with 529 / 429 / 500 / 401 / 400.
- `[sim:error_times=N]`: the `error` fault answers only the first N requests with this exact
  body, then they succeed (to test the SDK's retries).
- `[sim:retry_after=S]`: the retry-after sent with a 429 / 529 / 500 fault (default 0; a
  retry-after-ms of at least 1 goes with it, so SDK retries do not back off for seconds).
- `[sim:error_after=N]`: an `overloaded_error` event after N output tokens of a stream.
- `[sim:drop_after=N]`: the stream ends after N output tokens, without message_stop.
- `[sim:delay=S]`, `[sim:first_delay=S]`: seconds between tokens / before the first token.
- `[sim:words=N]`: reply with N words of lorem ipsum instead of the description.
- `[sim:echo=1]`: reply with the last user text verbatim, every `[sim:...]` directive taken
  out (spaces and line breaks kept), streamed token by token like any reply: a person or a
  test makes the model say exact Markdown. It wins over `words`.
- `[sim:stop=refusal|pause_turn]`: stop with that stop_reason after about half the reply.
- `[sim:window=N]`: pretend the model's context window is N tokens (prompt too long,
  model_context_window_exceeded), without sending a million tokens.
An unknown directive or a bad value is a 400, so a typo shows. count_tokens ignores all of
them but `window`.
"""

from conversations.llm.simulator.asgi import simulator_asgi_app, simulator_transport
from conversations.llm.simulator.caching import CacheEntry
from conversations.llm.simulator.core import Simulator
from conversations.llm.simulator.models import MODELS, ModelRules
from conversations.llm.simulator.wire import SimulatorResponse

__all__ = [
    "MODELS",
    "CacheEntry",
    "ModelRules",
    "Simulator",
    "SimulatorResponse",
    "simulator_asgi_app",
    "simulator_transport",
]
