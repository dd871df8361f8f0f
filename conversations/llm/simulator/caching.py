"""Prompt caching by the documented rules, with exact read and creation figures.

A breakpoint is a block carrying `cache_control` (or the last block, for a top-level one).
The entry for a prefix ending at block i is keyed by a hash chained over the model, the tools
and every block up to i with its role, minus the cache_control fields themselves: editing
anything earlier, or switching model, misses from that point on.

Reading: each breakpoint looks for an entry at its own block or up to 20 blocks earlier;
the longest hit is read (and its TTL refreshed). Writing: every later breakpoint whose prefix
reaches the model's minimum is stored; the tokens between the hit and the last stored
breakpoint are creation, each stretch billed at the TTL of the breakpoint that ends it.
Below the minimum nothing is stored, silently. The rest of the prompt is plain input.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from conversations.llm.simulator.prompt import Block
from conversations.llm.simulator.validation import Breakpoint
from conversations.llm.simulator.wire import fingerprint

TTL_SECONDS = {"5m": 300.0, "1h": 3600.0}
LOOKBACK_BLOCKS = 20


@dataclass(frozen=True)
class CacheEntry:
    model: str
    tokens: int  # the length of the cached prefix
    ttl: str
    expires_at: float  # on the simulator's clock


@dataclass(frozen=True)
class CacheUsage:
    read: int = 0
    created_5m: int = 0
    created_1h: int = 0

    @property
    def created(self) -> int:
        return self.created_5m + self.created_1h


def prefix_keys(model: str, tools: object, blocks: Sequence[Block]) -> list[str]:
    """keys[i] identifies the prefix that ends with blocks[i] (tools come first, then system)."""
    chain = fingerprint({"model": model, "tools": tools})
    keys = []
    for block in blocks:
        link = fingerprint({"role": block.role, "block": block.key})
        chain = hashlib.sha256(f"{chain}:{link}".encode()).hexdigest()
        keys.append(chain)
    return keys


class PromptCache:
    """Entries by prefix key. Locked: one simulator may serve several threads."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._entries: dict[str, CacheEntry] = {}
        self._lock = threading.Lock()

    def entries(self) -> list[CacheEntry]:
        """The live entries, shortest prefix first."""
        with self._lock:
            self._expire(self._clock())
            return sorted(self._entries.values(), key=lambda entry: entry.tokens)

    def apply(
        self,
        *,
        model: str,
        min_tokens: int,
        keys: Sequence[str],
        blocks: Sequence[Block],
        breakpoints: Sequence[Breakpoint],
    ) -> CacheUsage:
        """Read and write the cache for one successful request; what it read and created."""
        totals = list(itertools.accumulate(block.tokens for block in blocks))
        with self._lock:
            now = self._clock()
            self._expire(now)
            hit = self._longest_hit(keys, breakpoints)
            read = 0
            if hit is not None:
                entry = self._entries[keys[hit]]
                self._entries[keys[hit]] = self._renewed(entry, now)
                read = totals[hit]
            covered = read
            created = dict.fromkeys(TTL_SECONDS, 0)
            for breakpoint in breakpoints:
                length = totals[breakpoint.index]
                if (hit is not None and breakpoint.index <= hit) or length < min_tokens:
                    continue
                expires_at = now + TTL_SECONDS[breakpoint.ttl]
                entry = CacheEntry(model, length, breakpoint.ttl, expires_at)
                self._entries[keys[breakpoint.index]] = entry
                created[breakpoint.ttl] += length - covered
                covered = length
        return CacheUsage(read=read, created_5m=created["5m"], created_1h=created["1h"])

    def _longest_hit(self, keys: Sequence[str], breakpoints: Sequence[Breakpoint]) -> int | None:
        best: int | None = None
        for breakpoint in breakpoints:
            lowest = max(0, breakpoint.index - LOOKBACK_BLOCKS)
            for index in range(breakpoint.index, lowest - 1, -1):
                if keys[index] in self._entries:
                    best = index if best is None else max(best, index)
                    break
        return best

    def _renewed(self, entry: CacheEntry, now: float) -> CacheEntry:
        expires_at = now + TTL_SECONDS[entry.ttl]
        return CacheEntry(entry.model, entry.tokens, entry.ttl, expires_at)

    def _expire(self, now: float) -> None:
        for key in [key for key, entry in self._entries.items() if entry.expires_at <= now]:
            del self._entries[key]
