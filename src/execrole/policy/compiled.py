"""Statements compiled once into matchers: actions, resources, principals, conditions.

Sources: reference_policies_elements_action.md / _notaction.md (actions match
case-insensitively, with * and ?), _resource.md / _notresource.md (resources match
case-sensitively; wildcards stay inside an ARN segment), _principal.md / _notprincipal.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Literal

from .decision import Layer, MatchedStatement
from .model import Policy, PrincipalSet, Statement
from .operators import Context, Predicate, compile_condition
from .principals import Kind, RequestPrincipal
from .variables import Template, has_variables, parse_template, pieces_to_regex, resolve
from .wildcard import glob_to_regex


class Grant:
    """How a resource-policy statement names the caller (reference_policies_evaluation-logic.md,
    "Resource-based policies"): directly (user, session, service, "*"), through the role a
    session belongs to, or through the whole account (a delegation to identity policies)."""

    # Plain ints, not an IntEnum: these are compared on every evaluation.
    NONE = 0
    ACCOUNT = 1
    ROLE = 2
    DIRECT = 3


_ACCOUNT_ID = re.compile(r"^\d{12}$")


class PrincipalMatcher:
    __slots__ = ("accounts", "direct", "everyone", "roles")

    def __init__(self, spec: PrincipalSet) -> None:
        self.everyone = spec.everyone
        self.direct: set[str] = set()
        self.roles: set[tuple[str, str]] = set()
        self.accounts: set[str] = set()
        for ident in spec.aws:
            if ident == "*":
                self.everyone = True
            elif _ACCOUNT_ID.match(ident):
                self.accounts.add(ident)
            else:
                parts = ident.split(":", 5)
                if len(parts) == 6 and parts[2] == "iam" and parts[5] == "root":
                    self.accounts.add(parts[4])
                elif len(parts) == 6 and parts[2] == "iam" and parts[5].startswith("role/"):
                    # Sessions are named by role name, without the role's path.
                    self.roles.add((parts[4], parts[5].rsplit("/", 1)[-1]))
                else:
                    self.direct.add(ident)
        for ident in spec.service:
            if ident == "*":
                self.everyone = True
            self.direct.add(ident.lower())
        self.direct.update(spec.federated)
        self.direct.update(spec.canonical_user)

    def grant(self, p: RequestPrincipal) -> int:
        if self.everyone:
            return Grant.DIRECT
        if p.kind is Kind.SERVICE:
            return Grant.DIRECT if p.text.lower() in self.direct else Grant.NONE
        if p.text in self.direct:
            return Grant.DIRECT
        is_role = p.kind is Kind.ASSUMED_ROLE or p.kind is Kind.ROLE
        if is_role and (p.account or "", p.name or "") in self.roles:
            return Grant.ROLE
        if p.account is not None and p.account in self.accounts:
            return Grant.ACCOUNT
        return Grant.NONE

    def excludes(self, p: RequestPrincipal) -> bool:
        """NotPrincipal exempts a caller only when its whole chain is listed: the account,
        the role for a session, and the caller itself (reference_policies_elements_notprincipal.md,
        "NotPrincipal With Deny")."""
        if self.everyone:
            return True
        if p.kind in (Kind.SERVICE, Kind.OTHER):
            return p.text.lower() in self.direct or p.text in self.direct
        if p.kind is Kind.ANONYMOUS:
            return False
        if p.account is None or p.account not in self.accounts:
            return False
        if p.kind is Kind.ROOT:
            return True
        if p.kind is Kind.ASSUMED_ROLE:
            return (p.account, p.name or "") in self.roles and p.text in self.direct
        if p.kind is Kind.ROLE:
            return (p.account, p.name or "") in self.roles
        return p.text in self.direct


ResourceTest = Callable[[str, Context], bool]


def _always(_resource: str, _ctx: Context) -> bool:
    return True


def _never(_resource: str, _ctx: Context) -> bool:
    return False


def compile_resources(patterns: tuple[str, ...], variables: bool) -> ResourceTest:
    """One test for a Resource list: a single regex for the static patterns, and per-request
    resolution for the ones that hold policy variables."""
    matcher = _static_matcher(patterns, variables)
    if matcher is True:
        return _always
    if callable(matcher):
        fullmatch = matcher
        return lambda resource, _ctx: fullmatch(resource) is not None
    return _compile_dynamic(patterns, variables)


Fullmatch = Callable[[str], "re.Match[str] | None"]


def _static_matcher(patterns: tuple[str, ...], variables: bool) -> Fullmatch | Literal[True] | None:
    """True for "everything", a fullmatch for patterns without variables, else None."""
    templates = [parse_template(p, variables) for p in patterns]
    if any(has_variables(t) for t in templates):
        if any(t == ("*",) for t in templates):
            return True
        return None
    if any(t == ("*",) for t in templates):
        return True
    sources = []
    for t in templates:
        pieces = resolve(t, lambda _k: None)
        assert pieces is not None
        sources.append("(?:" + pieces_to_regex(pieces, arn=True) + ")")
    return re.compile("|".join(sources) or "(?!)", re.DOTALL).fullmatch


def _compile_dynamic(patterns: tuple[str, ...], variables: bool) -> ResourceTest:
    templates = [parse_template(p, variables) for p in patterns]
    static: list[Template] = [t for t in templates if not has_variables(t)]
    dynamic: list[Template] = [t for t in templates if has_variables(t)]
    regex = None
    if static:
        sources = []
        for t in static:
            pieces = resolve(t, lambda _k: None)
            assert pieces is not None
            sources.append("(?:" + pieces_to_regex(pieces, arn=True) + ")")
        regex = re.compile("|".join(sources), re.DOTALL)
    if not dynamic:
        if regex is None:
            return _never
        fullmatch = regex.fullmatch
        return lambda resource, _ctx: fullmatch(resource) is not None

    def with_variables(resource: str, ctx: Context) -> bool:
        if regex is not None and regex.fullmatch(resource):
            return True
        for t in dynamic:
            pieces = resolve(t, ctx.single)
            if pieces is not None and _dynamic_regex(pieces_to_regex(pieces, arn=True)).fullmatch(
                resource
            ):
                return True
        return False

    return with_variables


_DYNAMIC_CACHE: dict[str, re.Pattern[str]] = {}


def _dynamic_regex(source: str) -> re.Pattern[str]:
    found = _DYNAMIC_CACHE.get(source)
    if found is None:
        if len(_DYNAMIC_CACHE) > 65536:
            _DYNAMIC_CACHE.clear()
        found = _DYNAMIC_CACHE[source] = re.compile(source, re.DOTALL)
    return found


def compile_actions(patterns: tuple[str, ...]) -> Callable[[str], bool]:
    if "*" in patterns:
        return lambda _action: True
    source = "|".join("(?:" + glob_to_regex(p) + ")" for p in patterns)
    regex = re.compile(source, re.IGNORECASE | re.DOTALL)
    return lambda action: regex.fullmatch(action) is not None


class CompiledStatement:
    """A statement ready to evaluate; `ref` is what a decision reports about it."""

    __slots__ = (
        "_action_test",
        "_not_action",
        "conditions",
        "deny",
        "fullmatch",
        "not_principal",
        "plain",
        "principal",
        "ref",
        "resource_mode",
        "resource_test",
    )

    def __init__(self, statement: Statement, policy: Policy, layer: Layer) -> None:
        variables = policy.variables_enabled
        self.deny = statement.effect == "Deny"
        self.ref = MatchedStatement(layer, policy.name, statement.index, statement.sid,
                                    statement.effect)
        if statement.actions is not None:
            self._action_test = compile_actions(statement.actions)
            self._not_action = False
        else:
            self._action_test = compile_actions(statement.not_actions or ())
            self._not_action = True
        # Resource test, fastest form first: 0 everything, 1 static Resource regex,
        # 2 static NotResource regex, 3 the general test (policy variables).
        self.fullmatch: Fullmatch | None = None
        self.resource_mode = 3
        patterns = statement.resources if statement.resources is not None else \
            statement.not_resources
        negate = statement.resources is None
        if patterns is None:
            self.resource_test: ResourceTest = _always  # trust policies name no resource
            self.resource_mode = 0
        else:
            static = _static_matcher(patterns, variables)
            if static is True:
                self.resource_mode = 0 if not negate else 3
            elif callable(static):
                self.fullmatch = static
                self.resource_mode = 2 if negate else 1
            inner = compile_resources(patterns, variables)
            self.resource_test = (lambda r, ctx: not inner(r, ctx)) if negate else inner
        self.principal = PrincipalMatcher(statement.principal) if statement.principal else None
        self.not_principal = (
            PrincipalMatcher(statement.not_principal) if statement.not_principal else None
        )
        self.conditions: tuple[Predicate, ...] = tuple(
            compile_condition(c, variables) for c in statement.conditions
        )
        self.plain = not self.conditions and self.principal is None \
            and self.not_principal is None

    def matches_action(self, action: str) -> bool:
        return self._action_test(action) != self._not_action

    def evaluate(self, resource: str, caller: RequestPrincipal, ctx: Context) -> int:
        """Grant.NONE when the statement does not apply; otherwise how it names the caller
        (Grant.DIRECT for statements without a principal)."""
        mode = self.resource_mode
        if mode == 1:
            if self.fullmatch(resource) is None:  # type: ignore[misc]
                return Grant.NONE
        elif mode == 2:
            if self.fullmatch(resource) is not None:  # type: ignore[misc]
                return Grant.NONE
        elif mode == 3 and not self.resource_test(resource, ctx):
            return Grant.NONE
        if self.plain:
            return Grant.DIRECT
        return self.grant_beyond_resource(caller, ctx)

    def grant_beyond_resource(self, caller: RequestPrincipal, ctx: Context) -> int:
        """The principal and condition checks, for a statement whose resource matched."""
        grant = Grant.DIRECT
        if self.principal is not None:
            grant = self.principal.grant(caller)
            if not grant:
                return grant
        elif self.not_principal is not None:
            # With Deny, a caller escapes only when its whole chain is listed; with Allow,
            # everyone the element names is left out (reference_policies_elements_notprincipal.md).
            if self.deny:
                if self.not_principal.excludes(caller):
                    return Grant.NONE
            elif self.not_principal.grant(caller) != Grant.NONE:
                return Grant.NONE
        for condition in self.conditions:
            if not condition(ctx):
                return Grant.NONE
        return grant


def compile_policy(policy: Policy, layer: Layer) -> tuple[CompiledStatement, ...]:
    return tuple(CompiledStatement(s, policy, layer) for s in policy.statements)
