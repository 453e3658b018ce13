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
from .principals import Kind, RequestPrincipal, parse_principal
from .request import Request, RequestContext

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
        )
        if len(self._index) >= self._index_limit:
            self._index.clear()
        self._index[action] = found
        return found

    def authorize(self, request: Request) -> Decision:
        action = request.action_key
        cand = self._index.get(action) or self._candidates(action)
        caller = parse_principal(request.principal)
        ctx = RequestContext(request)
        resource = request.resource
        kind = caller.kind
        service_or_anonymous = kind is Kind.SERVICE or kind is Kind.ANONYMOUS
        allows: list[MatchedStatement] = []
        denies: list[MatchedStatement] = []

        grant = _scan(cand.resource, resource, caller, ctx, allows, denies) if cand.resource \
            else Grant.NONE
        identity_ok = boundary_ok = session_ok = scp_ok = True
        if not service_or_anonymous:
            identity_ok = (_scan(cand.identity, resource, caller, ctx, allows, denies) > 0
                           or kind is Kind.ROOT)
            if self._has_boundary:
                boundary_ok = bool(cand.boundary) and _scan(
                    cand.boundary, resource, caller, ctx, allows, denies) > 0
            if self._has_session:
                session_ok = bool(cand.session) and _scan(
                    cand.session, resource, caller, ctx, allows, denies) > 0
            elif kind is Kind.FEDERATED_USER:
                session_ok = False  # a federated user without a session policy gets nothing
            if self._scp_levels is not None:
                for level in cand.scp_levels:
                    if not _scan(level, resource, caller, ctx, allows, denies):
                        scp_ok = False
        if kind is not Kind.SERVICE and self._rcp_levels is not None:
            for level in cand.rcp_levels:
                # RCPFullAWSAccess allows on every level; only denies count.
                _scan(level, resource, caller, ctx, allows, denies)

        if denies:
            layers = _ordered({m.layer for m in denies})
            message = access_denied_message(request.principal, request.action, resource,
                                            Outcome.EXPLICIT_DENY, layers,
                                            action in TRUST_ACTIONS)
            return Decision(Outcome.EXPLICIT_DENY, layers, tuple(denies), message)

        if service_or_anonymous:
            if grant:
                return Decision(Outcome.ALLOW, (), tuple(allows), None)
            return self._implicit(request, action, {Layer.RESOURCE}, allows)
        if identity_ok and boundary_ok and session_ok and scp_ok and grant != Grant.NONE \
                and grant != Grant.ACCOUNT:
            pass  # every layer allows and the resource policy names the caller
        elif identity_ok and boundary_ok and session_ok and scp_ok and not grant \
                and not requires_resource_policy(action, resource) \
                and self._same_account(request, caller):
            return Decision(Outcome.ALLOW, (), tuple(allows), None)

        denied: set[Layer] = set()
        failures = set()
        if not identity_ok:
            failures.add(Layer.IDENTITY)
        if not boundary_ok:
            failures.add(Layer.PERMISSIONS_BOUNDARY)
        if not session_ok:
            failures.add(Layer.SESSION)
        if self._same_account(request, caller):
            if grant == Grant.DIRECT:
                pass  # granted to the caller itself: implicit denies elsewhere don't matter
            elif grant == Grant.ROLE:
                denied |= failures - {Layer.IDENTITY}
            elif not grant and requires_resource_policy(action, resource):
                denied.add(Layer.RESOURCE)
                denied |= failures
            else:
                denied |= failures
        else:
            denied |= failures
            if not grant:
                denied.add(Layer.RESOURCE)
        if not scp_ok:
            denied.add(Layer.SCP)
        if not denied:
            return Decision(Outcome.ALLOW, (), tuple(allows), None)
        return self._implicit(request, action, denied, allows)

    @staticmethod
    def _same_account(request: Request, caller: RequestPrincipal) -> bool:
        account = request.target_account or caller.account
        return caller.account is not None and caller.account == account

    @staticmethod
    def _implicit(request: Request, action: str, denied: set[Layer],
                  allows: list[MatchedStatement]) -> Decision:
        layers = _ordered(denied)
        message = access_denied_message(request.principal, request.action, request.resource,
                                        Outcome.IMPLICIT_DENY, layers, action in TRUST_ACTIONS)
        return Decision(Outcome.IMPLICIT_DENY, layers, tuple(allows), message)


def _scan(statements: tuple[CompiledStatement, ...], resource: str, caller: RequestPrincipal,
          ctx: RequestContext, allows: list[MatchedStatement],
          denies: list[MatchedStatement]) -> int:
    """Evaluate one layer's candidate statements; the best grant among its Allows."""
    best = Grant.NONE
    for st in statements:
        grant = st.evaluate(resource, caller, ctx)
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
