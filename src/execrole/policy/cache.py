"""An optional decision cache in front of an Authorizer, for callers that ask the same
question many times (the endpoint's hot paths). Decisions are values, so a cached one is as
good as a fresh one, unless a policy reads the clock: then nothing is cached."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from .authorizer import Authorizer, PolicySet
from .decision import Decision
from .request import Request

_CLOCK_KEYS = frozenset({"aws:currenttime", "aws:epochtime"})


def _reads_clock(policies: PolicySet) -> bool:
    docs: list[Any] = [*policies.identity, *(policies.boundary or ())]
    docs += [p for p in (policies.resource, policies.session) if p is not None]
    for levels in (policies.scp_levels or (), policies.rcp_levels or ()):
        for level in levels:
            docs.extend(level)
    return any(c.key.lower() in _CLOCK_KEYS or "${aws:currenttime" in " ".join(c.values).lower()
               or "${aws:epochtime" in " ".join(c.values).lower()
               for doc in docs for s in doc.statements for c in s.conditions)


class CachedAuthorizer:
    def __init__(self, authorizer: Authorizer, maxsize: int = 100_000) -> None:
        self.authorizer = authorizer
        self.maxsize = maxsize
        self.enabled = not _reads_clock(authorizer.policies)
        self._cache: dict[Hashable, Decision] = {}

    def authorize(self, request: Request) -> Decision:
        if not self.enabled:
            return self.authorizer.authorize(request)
        key = (request.principal, request.action, request.resource, request.resource_account,
               tuple(sorted(request.context.items())))
        found = self._cache.get(key)
        if found is None:
            found = self.authorizer.authorize(request)
            if len(self._cache) >= self.maxsize:
                self._cache.clear()
            self._cache[key] = found
        return found
