"""The IAM policy language: parse, validate, compile once, decide many times.

    >>> from execrole.policy import Authorizer, PolicySet, Request, parse_policy
    >>> policy = parse_policy('''{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
    ...     "Action": "s3:GetObject", "Resource": "arn:aws:s3:::training-data/*"}]}''')
    >>> authorizer = Authorizer(PolicySet(identity=[policy]))
    >>> alice = "arn:aws:iam::111122223333:user/alice"
    >>> authorizer.authorize(Request(alice, "s3:GetObject", "arn:aws:s3:::training-data/a.csv")).outcome
    <Outcome.ALLOW: 'allow'>
    >>> print(authorizer.authorize(Request(alice, "s3:PutObject", "arn:aws:s3:::training-data/a.csv")).message)
    User: arn:aws:iam::111122223333:user/alice is not authorized to perform: s3:PutObject on resource: arn:aws:s3:::training-data/a.csv because no identity-based policy allows the s3:PutObject action
"""

from .authorizer import Authorizer, PolicySet, authorize, requires_resource_policy
from .cache import CachedAuthorizer
from .decision import Decision, Layer, MatchedStatement, Outcome, access_denied_message
from .errors import PolicyError
from .model import Condition, Policy, PolicyType, PrincipalSet, Statement
from .parse import parse_policy
from .request import Request

__all__ = [
    "Authorizer",
    "CachedAuthorizer",
    "Condition",
    "Decision",
    "Layer",
    "MatchedStatement",
    "Outcome",
    "Policy",
    "PolicyError",
    "PolicySet",
    "PolicyType",
    "PrincipalSet",
    "Request",
    "Statement",
    "access_denied_message",
    "authorize",
    "parse_policy",
    "requires_resource_policy",
]
