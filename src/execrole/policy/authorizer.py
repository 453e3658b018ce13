"""The authorizer: policies compiled once per principal, then one decision per request.

Source: reference_policies_evaluation-logic.md (deny evaluation, SCPs, resource-based
policies by principal type, identity policies, boundaries, session policies),
reference_policies_evaluation-logic-cross-account.md (both sides must allow),
access_policies_boundaries.md, and troubleshoot_access-denied.md for the messages.
RCPs follow the SCP rules on the resource side (reference/README.md); RCPFullAWSAccess is
attached to every level, so only their Deny statements can change a decision.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .compiled import CompiledStatement, Grant, compile_policy
from .decision import Decision, Layer, MatchedStatement, Outcome, access_denied_message
from .model import Policy
from .principals import RequestPrincipal
from .request import Request

# Actions whose resource policy (the role trust policy) must allow explicitly.
TRUST_ACTIONS = frozenset({"sts:assumerole", "sts:assumerolewithsaml",
                           "sts:assumerolewithwebidentity", "sts:tagsession",
                           "sts:setsourceidentity", "sts:setcontext"})


def requires_resource_policy(action: str, resource: str) -> bool:
    """Role trust policies and KMS key policies must allow access explicitly."""
    if action in TRUST_ACTIONS:
        return True
    return action.startswith("kms:") and ":key/" in resource


@dataclass(frozen=True)
class PolicySet:
    """The policies that apply to one principal's requests, by layer.

    boundary/session None means "no such policy"; an empty boundary list allows nothing.
    Each SCP/RCP level is one node of the organization path; every SCP level must allow.
    """

    identity: Sequence[Policy] = ()
    resource: Policy | None = None
    boundary: Sequence[Policy] | None = None
    session: Policy | None = None
    scp_levels: Sequence[Sequence[Policy]] | None = None
    rcp_levels: Sequence[Sequence[Policy]] | None = None


@dataclass(slots=True)
class _Candidates:
    """The statements of each layer whose Action/NotAction matches one action."""

    identity: tuple[CompiledStatement, ...]
    resource: tuple[CompiledStatement, ...]
    boundary: tuple[CompiledStatement, ...]
    session: tuple[CompiledStatement, ...]
    scp_levels: tuple[tuple[CompiledStatement, ...], ...]
    rcp_levels: tuple[tuple[CompiledStatement, ...], ...]
    trust: bool  # an sts:AssumeRole* action: the trust policy must allow
    kms: bool  # a kms: action: on a key, the key policy must allow


def _flatten(policies: Sequence[Policy], layer: Layer) -> tuple[CompiledStatement, ...]:
    return tuple(s for p in policies for s in compile_policy(p, layer))


class Authorizer:
    """Compile a PolicySet once; `authorize` answers requests against it."""

    def __init__(self, policies: PolicySet, *, index_limit: int = 100_000) -> None:
        self.policies = policies
        self._identity = _flatten(policies.identity, Layer.IDENTITY)
        self._resource = (compile_policy(policies.resource, Layer.RESOURCE)
                          if policies.resource else ())
        self._has_boundary = policies.boundary is not None
        self._boundary = _flatten(policies.boundary or (), Layer.PERMISSIONS_BOUNDARY)
        self._has_session = policies.session is not None
        self._session = (compile_policy(policies.session, Layer.SESSION)
                         if policies.session else ())
        self._scp_levels = (None if policies.scp_levels is None else
                            tuple(_flatten(level, Layer.SCP) for level in policies.scp_levels))
        self._rcp_levels = (None if policies.rcp_levels is None else
                            tuple(_flatten(level, Layer.RCP) for level in policies.rcp_levels))
        self._index: dict[str, _Candidates] = {}
        self._index_limit = index_limit

    def _candidates(self, action: str) -> _Candidates:
        found = self._index.get(action)
        if found is not None:
            return found

        def pick(statements: tuple[CompiledStatement, ...]) -> tuple[CompiledStatement, ...]:
            return tuple(s for s in statements if s.matches_action(action))

        found = _Candidates(
            pick(self._identity), pick(self._resource), pick(self._boundary),
            pick(self._session),
            tuple(pick(level) for level in self._scp_levels or ()),
            tuple(pick(level) for level in self._rcp_levels or ()),
            action in TRUST_ACTIONS,
            action.startswith("kms:"),
        )
        if len(self._index) >= self._index_limit:
            self._index.clear()
        self._index[action] = found
        return found

    def authorize(self, request: Request) -> Decision:
        action = request.action_key
        cand = self._index.get(action) or self._candidates(action)
        caller = request.caller
        resource = request.resource
        allows: list[MatchedStatement] = []
        denies: list[MatchedStatement] = []

        grant = _scan(cand.resource, resource, caller, request, allows, denies) \
            if cand.resource else Grant.NONE
        identity_ok = boundary_ok = session_ok = scp_ok = True
        if caller.is_iam:
            identity_ok = _scan(cand.identity, resource, caller, request, allows, denies) > 0 \
                or caller.is_root  # the root user needs no identity policy
            if self._has_boundary:
                boundary_ok = bool(cand.boundary) and _scan(
                    cand.boundary, resource, caller, request, allows, denies) > 0
            if self._has_session:
                session_ok = bool(cand.session) and _scan(
                    cand.session, resource, caller, request, allows, denies) > 0
            elif caller.is_federated_user:
                session_ok = False  # a federated user without a session policy gets nothing
            if self._scp_levels is not None:
                for level in cand.scp_levels:
                    if not _scan(level, resource, caller, request, allows, denies):
                        scp_ok = False
        if self._rcp_levels is not None and not caller.is_service:
            for level in cand.rcp_levels:
                # RCPFullAWSAccess allows on every level; only denies count.
                _scan(level, resource, caller, request, allows, denies)

        if denies:
            layers = _ordered({m.layer for m in denies})
            message = access_denied_message(request.principal, request.action, resource,
                                            Outcome.EXPLICIT_DENY, layers, cand.trust)
            return _decision((Outcome.EXPLICIT_DENY, layers, tuple(denies), message))

        if not caller.is_iam:  # a service or an anonymous caller: the resource policy decides
            if grant:
                return _decision((Outcome.ALLOW, (), tuple(allows), None))
            return _implicit(request, cand.trust, {Layer.RESOURCE}, allows)
        account = caller.account
        same_account = account is not None and account == (request.target_account or account)
        needs_resource = cand.trust or (cand.kms and ":key/" in resource)
        if identity_ok and boundary_ok and session_ok and scp_ok and not grant \
                and same_account and not needs_resource:
            # The common case: the principal's own policies allow, in its own account.
            return _decision((Outcome.ALLOW, (), tuple(allows), None))

        failures: set[Layer] = set()
        if not identity_ok:
            failures.add(Layer.IDENTITY)
        if not boundary_ok:
            failures.add(Layer.PERMISSIONS_BOUNDARY)
        if not session_ok:
            failures.add(Layer.SESSION)
        denied: set[Layer] = set()
        if same_account:
            if grant == Grant.DIRECT:
                pass  # granted to the caller itself: implicit denies elsewhere don't matter
            elif grant == Grant.ROLE:
                denied = failures - {Layer.IDENTITY}  # a role grant is capped by boundary/session
            elif not grant and needs_resource:
                denied = failures | {Layer.RESOURCE}
            else:
                denied = failures
        else:
            denied = failures if grant else failures | {Layer.RESOURCE}
        if not scp_ok:
            denied.add(Layer.SCP)
        if not denied:
            return _decision((Outcome.ALLOW, (), tuple(allows), None))
        return _implicit(request, cand.trust, denied, allows)


# Decisions are built with tuple.__new__: the named tuple's own __new__ costs as much again.
def _decision(fields: tuple[Outcome, tuple[Layer, ...], tuple[MatchedStatement, ...],
                            str | None]) -> Decision:
    return tuple.__new__(Decision, fields)


def _implicit(request: Request, trust: bool, denied: set[Layer],
              allows: list[MatchedStatement]) -> Decision:
    layers = _ordered(denied)
    message = access_denied_message(request.principal, request.action, request.resource,
                                    Outcome.IMPLICIT_DENY, layers, trust)
    return _decision((Outcome.IMPLICIT_DENY, layers, tuple(allows), message))


def _scan(statements: tuple[CompiledStatement, ...], resource: str, caller: RequestPrincipal,
          ctx: Request, allows: list[MatchedStatement],
          denies: list[MatchedStatement]) -> int:
    """Evaluate one layer's candidate statements; the best grant among its Allows.

    This is CompiledStatement.evaluate written inline: it runs for every statement of every
    decision, and the call overhead was a fifth of the decision's cost."""
    best = Grant.NONE
    for st in statements:
        mode = st.resource_mode
        if mode == 1:
            if st.fullmatch(resource) is None:  # type: ignore[misc]
                continue
        elif mode == 2:
            if st.fullmatch(resource) is not None:  # type: ignore[misc]
                continue
        elif mode == 3 and not st.resource_test(resource, ctx):
            continue
        grant = Grant.DIRECT if st.plain else st.grant_beyond_resource(caller, ctx)
        if grant:
            if st.deny:
                denies.append(st.ref)
            else:
                allows.append(st.ref)
                if grant > best:
                    best = grant
    return best


_ORDER = (Layer.SCP, Layer.RCP, Layer.RESOURCE, Layer.IDENTITY, Layer.PERMISSIONS_BOUNDARY,
          Layer.SESSION)


def _ordered(layers: set[Layer]) -> tuple[Layer, ...]:
    return tuple(layer for layer in _ORDER if layer in layers)


def authorize(request: Request, policies: PolicySet) -> Decision:
    """One-off convenience: compile and decide. Reuse an Authorizer for many requests."""
    return Authorizer(policies).authorize(request)
