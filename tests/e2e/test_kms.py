"""KMS through the endpoint with boto3 (issue 5, the KMS part): keys, aliases, key policies,
grants, real encryption, and authorization by key policies.

Sources: the KMS API reference (botocore's kms model) for operations, parameters and errors;
the KMS developer guide for the default key policy ("Enable IAM User Permissions": the root
principal delegates to IAM policies), key states (Disabled, PendingDeletion, the 7-30 day
waiting period, CancelKeyDeletion leaving the key Disabled), grants and grant constraints,
cross-account use (the key policy must allow the other account and that account's IAM
policies must allow its principals) and the policy lockout safety check; AWS responses
recorded in LocalStack's AWS-validated snapshots (tests/aws/services/kms/test_kms.snapshot.json:
"Key '<arn>' does not exist", "Invalid keyId '<id>'", the "alias/" prefix message,
InvalidCiphertextException with an empty message, the default policy's Id "key-default-1");
"Alias <alias arn> is not found." as quoted from AWS in public issue reports; and the
engine's AccessDenied messages (troubleshoot_access-denied.md).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from conftest import Server

ACCOUNT = "111122223333"
OTHER = "444455556666"


def error_of(call: Callable[[], Any]) -> dict[str, str]:
    with pytest.raises(ClientError) as e:
        call()
    return dict(e.value.response["Error"])


@pytest.fixture(scope="module")
def kms(server: Server) -> Any:
    return server.client("kms")


@pytest.fixture(scope="module")
def iam(server: Server) -> Any:
    return server.client("iam")


def user_kms(server: Server, iam: Any, name: str, policy: dict[str, Any] | None = None) -> Any:
    """A KMS client for a new IAM user with an optional inline identity policy."""
    iam.create_user(UserName=name)
    if policy is not None:
        iam.put_user_policy(UserName=name, PolicyName="kms", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return server.client("kms", key["AccessKeyId"], key["SecretAccessKey"])


def allow(*actions: str, resource: str = "*") -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": list(actions), "Resource": resource}]}


def test_create_and_describe_by_id_arn_alias(kms: Any) -> None:
    meta = kms.create_key(Description="training data key")["KeyMetadata"]
    key_id, arn = meta["KeyId"], meta["Arn"]
    assert arn == f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{key_id}"
    # The fields AWS returns for a symmetric key (recorded test_create_key snapshot).
    assert {k: v for k, v in meta.items() if k != "CreationDate"} == {
        "AWSAccountId": ACCOUNT, "KeyId": key_id, "Arn": arn, "Enabled": True,
        "Description": "training data key", "KeyUsage": "ENCRYPT_DECRYPT",
        "KeyState": "Enabled", "Origin": "AWS_KMS", "KeyManager": "CUSTOMER",
        "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT", "KeySpec": "SYMMETRIC_DEFAULT",
        "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"], "MultiRegion": False}
    kms.create_alias(AliasName="alias/training", TargetKeyId=key_id)
    alias_arn = f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/training"
    for given in (key_id, arn, "alias/training", alias_arn):
        assert kms.describe_key(KeyId=given)["KeyMetadata"]["Arn"] == arn
    assert {"KeyId": key_id, "KeyArn": arn} in kms.list_keys()["Keys"]
    listed = kms.list_aliases(KeyId=key_id)["Aliases"]
    assert [(a["AliasName"], a["AliasArn"], a["TargetKeyId"]) for a in listed] == [
        ("alias/training", alias_arn, key_id)]
    # The default key policy (KMS developer guide; recorded ReplicaPolicy).
    policy = json.loads(kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])
    assert policy == {"Version": "2012-10-17", "Id": "key-default-1", "Statement": [{
        "Sid": "Enable IAM User Permissions", "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*",
        "Resource": "*"}]}


def test_not_found_and_alias_rules(kms: Any) -> None:
    missing = "0b3a4c1e-1111-4222-8333-444455556666"
    assert error_of(lambda: kms.describe_key(KeyId=missing)) == {
        "Code": "NotFoundException",
        "Message": f"Key 'arn:aws:kms:us-east-1:{ACCOUNT}:key/{missing}' does not exist"}
    assert error_of(lambda: kms.describe_key(KeyId="fake-key-id")) == {
        "Code": "NotFoundException", "Message": "Invalid keyId 'fake-key-id'"}
    assert error_of(lambda: kms.describe_key(KeyId="alias/nope")) == {
        "Code": "NotFoundException",
        "Message": f"Alias arn:aws:kms:us-east-1:{ACCOUNT}:alias/nope is not found."}
    first = kms.create_key()["KeyMetadata"]["KeyId"]
    second = kms.create_key()["KeyMetadata"]["KeyId"]
    assert error_of(lambda: kms.create_alias(AliasName="rules", TargetKeyId=first)) == {
        "Code": "ValidationException",
        "Message": 'Alias must start with the prefix "alias/". Please see '
                   "https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html"}
    # alias/aws/ is reserved for AWS managed keys (API reference, CreateAlias AliasName).
    assert error_of(lambda: kms.create_alias(AliasName="alias/aws/mine",
                                             TargetKeyId=first))["Code"] == \
        "NotAuthorizedException"
    kms.create_alias(AliasName="alias/rules", TargetKeyId=first)
    assert error_of(lambda: kms.create_alias(AliasName="alias/rules", TargetKeyId=second)) == {
        "Code": "AlreadyExistsException",
        "Message": f"An alias with the name arn:aws:kms:us-east-1:{ACCOUNT}:alias/rules "
                   "already exists"}
    kms.update_alias(AliasName="alias/rules", TargetKeyId=second)
    assert kms.describe_key(KeyId="alias/rules")["KeyMetadata"]["KeyId"] == second
    kms.delete_alias(AliasName="alias/rules")
    assert error_of(lambda: kms.delete_alias(AliasName="alias/rules"))["Code"] == \
        "NotFoundException"


def test_only_symmetric_keys(kms: Any) -> None:
    err = error_of(lambda: kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY"))
    assert err["Code"] == "UnsupportedOperationException"
    assert "SYMMETRIC_DEFAULT" in err["Message"] and "RSA_2048" in err["Message"]


def test_encrypt_decrypt_round_trip(kms: Any) -> None:
    key = kms.create_key()["KeyMetadata"]
    plain = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"s3://bucket/train.csv")
    assert plain["KeyId"] == key["Arn"] and plain["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    # The blob names its key: Decrypt needs no KeyId.
    out = kms.decrypt(CiphertextBlob=plain["CiphertextBlob"])
    assert (out["Plaintext"], out["KeyId"]) == (b"s3://bucket/train.csv", key["Arn"])
    context = {"purpose": "training", "job": "xgb-1"}
    bound = kms.encrypt(KeyId=key["Arn"], Plaintext=b"secret", EncryptionContext=context)
    assert kms.decrypt(CiphertextBlob=bound["CiphertextBlob"],
                       EncryptionContext=context)["Plaintext"] == b"secret"
    # The encryption context is authenticated: missing or different, the blob is invalid.
    for wrong in ({}, {"purpose": "training"}, {**context, "job": "xgb-2"}):
        assert error_of(lambda w=wrong: kms.decrypt(CiphertextBlob=bound["CiphertextBlob"],
                                                    EncryptionContext=w)) == {
            "Code": "InvalidCiphertextException", "Message": ""}
    # Two encryptions of the same plaintext differ (a fresh nonce each time).
    again = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"s3://bucket/train.csv")
    assert again["CiphertextBlob"] != plain["CiphertextBlob"]


def test_tampered_and_foreign_ciphertexts(kms: Any) -> None:
    key = kms.create_key()["KeyMetadata"]
    blob = bytearray(kms.encrypt(KeyId=key["KeyId"], Plaintext=b"weights")["CiphertextBlob"])
    blob[-5] ^= 0x01
    assert error_of(lambda: kms.decrypt(CiphertextBlob=bytes(blob))) == {
        "Code": "InvalidCiphertextException", "Message": ""}
    assert error_of(lambda: kms.decrypt(CiphertextBlob=b"not a kms ciphertext"))["Code"] == \
        "InvalidCiphertextException"
    other = kms.create_key()["KeyMetadata"]
    good = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"weights")["CiphertextBlob"]
    assert error_of(lambda: kms.decrypt(CiphertextBlob=good, KeyId=other["KeyId"])) == {
        "Code": "IncorrectKeyException",
        "Message": "The key ID in the request does not identify a CMK that can perform this "
                   "operation."}


def test_data_keys_and_reencrypt(kms: Any) -> None:
    key = kms.create_key()["KeyMetadata"]
    data = kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256",
                                 EncryptionContext={"bucket": "train"})
    assert len(data["Plaintext"]) == 32 and data["KeyId"] == key["Arn"]
    assert kms.decrypt(CiphertextBlob=data["CiphertextBlob"],
                       EncryptionContext={"bucket": "train"})["Plaintext"] == data["Plaintext"]
    bare = kms.generate_data_key_without_plaintext(KeyId=key["KeyId"], NumberOfBytes=16)
    assert "Plaintext" not in bare
    assert len(kms.decrypt(CiphertextBlob=bare["CiphertextBlob"])["Plaintext"]) == 16
    assert error_of(lambda: kms.generate_data_key(KeyId=key["KeyId"])) == {
        "Code": "ValidationException",
        "Message": "Please specify either number of bytes or key spec."}
    target = kms.create_key()["KeyMetadata"]
    moved = kms.re_encrypt(CiphertextBlob=data["CiphertextBlob"],
                           SourceEncryptionContext={"bucket": "train"},
                           DestinationKeyId=target["KeyId"])
    assert (moved["SourceKeyId"], moved["KeyId"]) == (key["Arn"], target["Arn"])
    assert kms.decrypt(CiphertextBlob=moved["CiphertextBlob"])["Plaintext"] == data["Plaintext"]


def test_disabled_key(kms: Any) -> None:
    key = kms.create_key()["KeyMetadata"]
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    kms.disable_key(KeyId=key["KeyId"])
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Disabled"
    disabled = {"Code": "DisabledException", "Message": f"{key['Arn']} is disabled."}
    assert error_of(lambda: kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")) == disabled
    assert error_of(lambda: kms.decrypt(CiphertextBlob=blob)) == disabled
    kms.enable_key(KeyId=key["KeyId"])
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"


def test_schedule_deletion_bounds(kms: Any) -> None:
    key = kms.create_key()["KeyMetadata"]
    for days, bound in ((6, "greater than or equal to 7"), (31, "less than or equal to 30")):
        err = error_of(lambda d=days: kms.schedule_key_deletion(KeyId=key["KeyId"],
                                                                PendingWindowInDays=d))
        assert err["Code"] == "ValidationException" and bound in err["Message"]
    scheduled = kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    assert (scheduled["KeyId"], scheduled["KeyState"], scheduled["PendingWindowInDays"]) == (
        key["Arn"], "PendingDeletion", 7)
    expected = datetime.now(UTC) + timedelta(days=7)
    assert abs((scheduled["DeletionDate"] - expected).total_seconds()) < 120
    meta = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    assert (meta["KeyState"], meta["Enabled"]) == ("PendingDeletion", False)
    pending = {"Code": "KMSInvalidStateException", "Message": f"{key['Arn']} is pending deletion."}
    assert error_of(lambda: kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")) == pending
    assert error_of(lambda: kms.enable_key(KeyId=key["KeyId"])) == pending
    assert error_of(lambda: kms.schedule_key_deletion(KeyId=key["KeyId"])) == pending
    assert kms.cancel_key_deletion(KeyId=key["KeyId"])["KeyId"] == key["Arn"]
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Disabled"
    assert error_of(lambda: kms.cancel_key_deletion(KeyId=key["KeyId"])) == {
        "Code": "KMSInvalidStateException", "Message": f"{key['Arn']} is not pending deletion."}


def test_key_policy_must_enable_iam(server: Server, kms: Any, iam: Any) -> None:
    """An identity policy allowing kms:Decrypt is enough on a key whose policy delegates to
    IAM (the default policy), and not on a key whose policy does not."""
    admin = user_kms(server, iam, "keyadmin")  # no identity policy at all
    admin_arn = f"arn:aws:iam::{ACCOUNT}:user/keyadmin"
    closed_policy = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "KeyAdmin", "Effect": "Allow", "Principal": {"AWS": admin_arn},
        "Action": "kms:*", "Resource": "*"}]})
    # The policy lockout safety check: the root user could not change this policy later.
    assert error_of(lambda: kms.create_key(Policy=closed_policy)) == {
        "Code": "MalformedPolicyDocumentException",
        "Message": "The new key policy will not allow you to update the key policy in the "
                   "future."}
    closed = kms.create_key(Policy=closed_policy,
                            BypassPolicyLockoutSafetyCheck=True)["KeyMetadata"]
    open_key = kms.create_key()["KeyMetadata"]
    # A key policy naming the user lets it work without any identity policy.
    closed_blob = admin.encrypt(KeyId=closed["KeyId"], Plaintext=b"closed")["CiphertextBlob"]
    assert admin.decrypt(CiphertextBlob=closed_blob)["Plaintext"] == b"closed"
    open_blob = kms.encrypt(KeyId=open_key["KeyId"], Plaintext=b"open")["CiphertextBlob"]

    reader = user_kms(server, iam, "kmsreader", allow("kms:Decrypt"))
    assert reader.decrypt(CiphertextBlob=open_blob)["Plaintext"] == b"open"
    err = error_of(lambda: reader.decrypt(CiphertextBlob=closed_blob))
    assert err == {"Code": "AccessDeniedException", "Message": (
        f"User: arn:aws:iam::{ACCOUNT}:user/kmsreader is not authorized to perform: "
        f"kms:Decrypt on resource: {closed['Arn']} because no resource-based policy allows "
        "the kms:Decrypt action")}
    # The same with KeyId given, which the endpoint resolves to the key ARN itself.
    assert error_of(lambda: reader.decrypt(CiphertextBlob=closed_blob,
                                           KeyId=closed["KeyId"])) == err
    # And the root user is locked out of the closed key, as the safety check warned.
    assert error_of(lambda: kms.get_key_policy(KeyId=closed["KeyId"]))["Code"] == \
        "AccessDeniedException"
    assert json.loads(admin.get_key_policy(KeyId=closed["KeyId"])["Policy"]) == \
        json.loads(closed_policy)
    malformed = error_of(lambda: admin.put_key_policy(KeyId=closed["KeyId"], PolicyName="default",
                                                      Policy="{not json"))
    assert malformed["Code"] == "MalformedPolicyDocumentException"


def test_grant_allows_then_retired(server: Server, kms: Any, iam: Any) -> None:
    """A grant lets its grantee use the key without any policy naming it, within its
    encryption-context constraint; retiring it takes that away."""
    key = kms.create_key()["KeyMetadata"]
    training = {"purpose": "training"}
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"data key",
                       EncryptionContext=training)["CiphertextBlob"]
    other = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"other",
                        EncryptionContext={"purpose": "billing"})["CiphertextBlob"]
    grantee = user_kms(server, iam, "grantee")
    grantee_arn = f"arn:aws:iam::{ACCOUNT}:user/grantee"
    denied = error_of(lambda: grantee.decrypt(CiphertextBlob=blob, EncryptionContext=training))
    assert denied["Code"] == "AccessDeniedException"
    assert denied["Message"].endswith("because no identity-based policy allows the "
                                      "kms:Decrypt action")
    grant = kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=grantee_arn,
                             RetiringPrincipal=grantee_arn, Operations=["Decrypt"],
                             Name="training-job",
                             Constraints={"EncryptionContextSubset": training})
    assert len(grant["GrantId"]) == 64 and grant["GrantToken"]
    listed = kms.list_grants(KeyId=key["KeyId"])["Grants"]
    assert [(g["GrantId"], g["GranteePrincipal"], g["Operations"], g["Constraints"],
             g["IssuingAccount"]) for g in listed] == [
        (grant["GrantId"], grantee_arn, ["Decrypt"], {"EncryptionContextSubset": training},
         f"arn:aws:iam::{ACCOUNT}:root")]
    assert grantee.decrypt(CiphertextBlob=blob, EncryptionContext=training)["Plaintext"] == \
        b"data key"
    # The constraint: a different encryption context is not covered by the grant.
    assert error_of(lambda: grantee.decrypt(CiphertextBlob=other, EncryptionContext={
        "purpose": "billing"}))["Code"] == "AccessDeniedException"
    # Operations the grant does not list stay denied.
    assert error_of(lambda: grantee.encrypt(KeyId=key["KeyId"], Plaintext=b"x",
                                            EncryptionContext=training))["Code"] == \
        "AccessDeniedException"
    # The retiring principal retires it with the grant token.
    grantee.retire_grant(GrantToken=grant["GrantToken"])
    assert kms.list_grants(KeyId=key["KeyId"])["Grants"] == []
    assert error_of(lambda: grantee.decrypt(CiphertextBlob=blob,
                                            EncryptionContext=training))["Code"] == \
        "AccessDeniedException"


def test_revoke_grant(server: Server, kms: Any, iam: Any) -> None:
    key = kms.create_key()["KeyMetadata"]
    user = user_kms(server, iam, "revoked")
    grant = kms.create_grant(KeyId=key["Arn"], Operations=["Encrypt", "DescribeKey"],
                             GranteePrincipal=f"arn:aws:iam::{ACCOUNT}:user/revoked")
    assert user.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["Arn"] == key["Arn"]
    user.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    kms.revoke_grant(KeyId=key["KeyId"], GrantId=grant["GrantId"])
    assert error_of(lambda: user.encrypt(KeyId=key["KeyId"], Plaintext=b"x"))["Code"] == \
        "AccessDeniedException"


@pytest.fixture(scope="module")
def partner(server: Server) -> tuple[Any, Any]:
    """Account 444455556666's root IAM client and a user of it allowed to use KMS keys."""
    created = subprocess.run([sys.executable, "-m", "execrole", "account", "create", "--id",
                              OTHER, "--data-dir", str(server.data_dir)],
                             capture_output=True, text=True, timeout=60)
    assert created.returncode == 0, created.stderr
    info = json.loads(created.stdout)
    other_iam: Any = server.client("iam", info["AccessKeyId"], info["SecretAccessKey"])
    other_iam.create_user(UserName="partner")
    other_iam.put_user_policy(UserName="partner", PolicyName="kms", PolicyDocument=json.dumps(
        allow("kms:Encrypt", "kms:Decrypt", "kms:DescribeKey")))
    key = other_iam.create_access_key(UserName="partner")["AccessKey"]
    return other_iam, server.client("kms", key["AccessKeyId"], key["SecretAccessKey"])


def test_cross_account_key_policy(server: Server, kms: Any,
                                  partner: tuple[Any, Any]) -> None:
    """Both sides must allow: the key policy names account 444455556666 and that account's
    identity policy allows its user."""
    other_iam, partner_kms = partner
    shared_policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
         "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*",
         "Resource": "*"},
        {"Sid": "Partner", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"},
         "Action": ["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey"], "Resource": "*"}]})
    shared = kms.create_key(Policy=shared_policy)["KeyMetadata"]
    private = kms.create_key()["KeyMetadata"]
    assert partner_kms.describe_key(KeyId=shared["Arn"])["KeyMetadata"]["AWSAccountId"] == \
        ACCOUNT
    blob = partner_kms.encrypt(KeyId=shared["Arn"], Plaintext=b"shared")["CiphertextBlob"]
    assert partner_kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"shared"
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"shared"
    # The key policy of the private key does not name the other account.
    err = error_of(lambda: partner_kms.encrypt(KeyId=private["Arn"], Plaintext=b"x"))
    assert err["Code"] == "AccessDeniedException"
    assert err["Message"].endswith("because no resource-based policy allows the kms:Encrypt "
                                   "action")
    # The other account's user without an identity policy: its own account does not allow.
    other_iam.create_user(UserName="outsider")
    key = other_iam.create_access_key(UserName="outsider")["AccessKey"]
    outsider: Any = server.client("kms", key["AccessKeyId"], key["SecretAccessKey"])
    err = error_of(lambda: outsider.decrypt(CiphertextBlob=blob))
    assert err["Code"] == "AccessDeniedException"
    assert err["Message"].startswith(f"User: arn:aws:iam::{OTHER}:user/outsider is not "
                                     "authorized to perform: kms:Decrypt")
    assert err["Message"].endswith("because no identity-based policy allows the kms:Decrypt "
                                   "action")


def test_tags(kms: Any) -> None:
    key = kms.create_key(Tags=[{"TagKey": "team", "TagValue": "ml"}])["KeyMetadata"]
    kms.tag_resource(KeyId=key["KeyId"], Tags=[{"TagKey": "stage", "TagValue": "dev"}])
    kms.untag_resource(KeyId=key["KeyId"], TagKeys=["team"])
    assert kms.list_resource_tags(KeyId=key["KeyId"])["Tags"] == [
        {"TagKey": "stage", "TagValue": "dev"}]


def test_identity_policy_naming_the_key_arn(server: Server, kms: Any, iam: Any) -> None:
    key = kms.create_key()["KeyMetadata"]
    kms.create_alias(AliasName="alias/named-in-iam", TargetKeyId=key["KeyId"])
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    user = user_kms(server, iam, "arnscoped", allow("kms:Decrypt", "kms:Encrypt",
                                                    resource=key["Arn"]))
    user.encrypt(KeyId="alias/named-in-iam", Plaintext=b"x")
    assert user.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"
    # A denial names the key ARN even when the request named the key by its ciphertext.
    nobody = user_kms(server, iam, "arnscoped-none")
    err = error_of(lambda: nobody.decrypt(CiphertextBlob=blob))
    assert err["Message"] == (
        f"User: arn:aws:iam::{ACCOUNT}:user/arnscoped-none is not authorized to perform: "
        f"kms:Decrypt on resource: {key['Arn']} because no identity-based policy allows the "
        "kms:Decrypt action")


def test_restart_keeps_keys_and_ciphertexts(server: Server, kms: Any) -> None:
    key = kms.create_key(Description="survives")["KeyMetadata"]
    kms.create_alias(AliasName="alias/survives", TargetKeyId=key["KeyId"])
    blob = kms.encrypt(KeyId="alias/survives", Plaintext=b"model.tar.gz",
                       EncryptionContext={"job": "1"})["CiphertextBlob"]
    master = server.data_dir / "kms-master.key"
    assert stat.S_IMODE(os.stat(master).st_mode) == 0o600 and master.stat().st_size == 32
    # Key material is sealed at rest: the database never holds it in the clear.
    server.restart()
    client: Any = server.client("kms")
    assert client.describe_key(KeyId="alias/survives")["KeyMetadata"]["Description"] == \
        "survives"
    assert client.decrypt(CiphertextBlob=blob, EncryptionContext={"job": "1"})["Plaintext"] \
        == b"model.tar.gz"
