"""SageMaker notebook instances through the endpoint, and `execrole notebook run` (issue 6).

Sources: the seed ("Get execution role": the console shows the notebook's role ARN in
"Permissions and encryption", i.e. DescribeNotebookInstance's RoleArn; "Passing Roles":
iam:PassRole with iam:PassedToService and the sagemaker.amazonaws.com trust policy for
CreateNotebookInstance; "From the notebook": get_execution_role in a notebook),
security-confused-deputy-prevention.md (aws:SourceAccount / aws:SourceArn), and the SageMaker
API reference in botocore's model for the operations, their defaults and statuses
(DeleteNotebookInstance: "Before you can delete a notebook instance, you must call the
StopNotebookInstance API"; CreatePresignedNotebookInstanceUrl: the URL "is valid only for
5 minutes", and the caller's IAM permission on that API decides who may open the notebook).
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError
from conftest import Server

TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
    "Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
FULL_ACCESS = "arn:aws:iam::aws:policy/AmazonSageMakerFullAccess"
ROUTE = "/_execrole/sagemaker/notebook/"
WHO_AM_I = "import boto3; print(boto3.client('sts').get_caller_identity()['Arn'])"


def error_of(e: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    err = e.value.response["Error"]
    return str(err["Code"]), str(err["Message"])


def _user(server: Server, name: str, actions: list[str]) -> dict[str, str]:
    iam: Any = server.client("iam")
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return {"key": key["AccessKeyId"], "secret": key["SecretAccessKey"]}


@pytest.fixture(scope="module")
def env(server: Server) -> dict[str, Any]:
    iam: Any = server.client("iam")
    account = server.client("sts").get_caller_identity()["Account"]  # type: ignore[attr-defined]
    roles = {}
    for name in ("NotebookRole", "OtherNotebookRole"):
        roles[name] = iam.create_role(RoleName=name, Path="/service-role/",
                                      AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]
        iam.attach_role_policy(RoleName=name, PolicyArn=FULL_ACCESS)
    untrusted = iam.create_role(RoleName="Ec2OnlyRole", AssumeRolePolicyDocument=json.dumps(
        json.loads(json.dumps(TRUST).replace("sagemaker", "ec2"))))["Role"]["Arn"]
    # The bucket the role may not read: AmazonSageMakerFullAccess covers only buckets with
    # "sagemaker" in the name (seed, "Create execution role").
    s3: Any = server.client("s3")
    s3.create_bucket(Bucket="corp-datasets")
    s3.put_object(Bucket="corp-datasets", Key="train.csv", Body=b"a,b\n")
    return {"account": account, "role": roles["NotebookRole"],
            "other": roles["OtherNotebookRole"], "untrusted": untrusted}


def _create(server: Server, name: str, role: str, **extra: Any) -> str:
    sm: Any = server.client("sagemaker")
    return str(sm.create_notebook_instance(NotebookInstanceName=name,
                                           InstanceType="ml.t3.medium", RoleArn=role,
                                           **extra)["NotebookInstanceArn"])


def _run(server: Server, *argv: str, env: dict[str, str] | None = None,
         connection: tuple[str, ...] | None = None) -> subprocess.CompletedProcess[str]:
    if connection is None:
        connection = ("--endpoint", server.url, "--data-dir", str(server.data_dir))
    return subprocess.run([sys.executable, "-m", "execrole", "notebook", *argv[:2],
                           *connection, *argv[2:]],
                          capture_output=True, text=True, timeout=120,
                          env=env or server.env())


def test_describe_shows_the_role_and_aws_defaults(server: Server, env: dict[str, Any]) -> None:
    sm: Any = server.client("sagemaker")
    arn = _create(server, "Research-NB", env["role"], SubnetId="subnet-0abc",
                  SecurityGroupIds=["sg-0abc"], Tags=[{"Key": "team", "Value": "ml"}])
    # ARNs carry the name lower-cased, as SageMaker writes them.
    assert arn == f"arn:aws:sagemaker:us-east-1:{env['account']}:notebook-instance/research-nb"
    sm.get_waiter("notebook_instance_in_service").wait(NotebookInstanceName="Research-NB")
    d = sm.describe_notebook_instance(NotebookInstanceName="Research-NB")
    # Seed: "Under Notebook > Notebook instances, select the notebook. The ARN is given in the
    # Permissions and encryption section." -- the console shows DescribeNotebookInstance's.
    assert d["RoleArn"] == env["role"]
    assert d["NotebookInstanceArn"] == arn
    assert d["NotebookInstanceStatus"] == "InService"
    assert d["Url"] == "research-nb.notebook.us-east-1.sagemaker.aws"
    assert (d["InstanceType"], d["SubnetId"], d["SecurityGroups"]) == \
        ("ml.t3.medium", "subnet-0abc", ["sg-0abc"])
    # The API reference's defaults.
    assert (d["VolumeSizeInGB"], d["RootAccess"], d["DirectInternetAccess"],
            d["PlatformIdentifier"]) == (5, "Enabled", "Enabled", "notebook-al2023-v1")
    assert isinstance(d["CreationTime"], datetime)
    assert isinstance(d["LastModifiedTime"], datetime)
    assert "Tags" not in d
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "ml"}]
    with pytest.raises(ClientError) as e:
        _create(server, "research-nb", env["role"])
    assert error_of(e) == ("ValidationException",
                           f"Cannot create a duplicate Notebook Instance ({arn})")


def test_list_filters(server: Server, env: dict[str, Any]) -> None:
    sm: Any = server.client("sagemaker")
    _create(server, "list-a", env["role"])
    _create(server, "list-b", env["role"])
    sm.stop_notebook_instance(NotebookInstanceName="list-b")
    names = [n["NotebookInstanceName"] for n in sm.list_notebook_instances(
        NameContains="LIST-", SortBy="Name", SortOrder="Ascending")["NotebookInstances"]]
    assert names == ["list-a", "list-b"]
    stopped = sm.list_notebook_instances(NameContains="list-", StatusEquals="Stopped")
    assert [(n["NotebookInstanceName"], n["NotebookInstanceStatus"])
            for n in stopped["NotebookInstances"]] == [("list-b", "Stopped")]
    page = sm.list_notebook_instances(NameContains="list-", MaxResults=1)
    assert len(page["NotebookInstances"]) == 1 and page["NextToken"]


def test_stop_start_update_delete(server: Server, env: dict[str, Any]) -> None:
    sm: Any = server.client("sagemaker")
    arn = _create(server, "cycle", env["role"])
    with pytest.raises(ClientError) as e:
        sm.delete_notebook_instance(NotebookInstanceName="cycle")
    assert error_of(e) == ("ValidationException", "Status (InService) not in ([Stopped, "
                           f"Failed]). Unable to transition to (Deleting) for Notebook "
                           f"Instance ({arn}).")
    with pytest.raises(ClientError) as e:
        sm.update_notebook_instance(NotebookInstanceName="cycle", VolumeSizeInGB=20)
    assert "Unable to transition to (Updating)" in error_of(e)[1]
    sm.stop_notebook_instance(NotebookInstanceName="cycle")
    sm.get_waiter("notebook_instance_stopped").wait(NotebookInstanceName="cycle")
    with pytest.raises(ClientError) as e:
        sm.stop_notebook_instance(NotebookInstanceName="cycle")
    assert error_of(e) == ("ValidationException", "Status (Stopped) not in ([InService]). "
                           "Unable to transition to (Stopping) for Notebook Instance "
                           f"({arn}).")
    before = sm.describe_notebook_instance(NotebookInstanceName="cycle")
    sm.update_notebook_instance(NotebookInstanceName="cycle", InstanceType="ml.m5.xlarge",
                                VolumeSizeInGB=20, RootAccess="Disabled")
    after = sm.describe_notebook_instance(NotebookInstanceName="cycle")
    assert (after["InstanceType"], after["VolumeSizeInGB"], after["RootAccess"],
            after["NotebookInstanceStatus"]) == ("ml.m5.xlarge", 20, "Disabled", "Stopped")
    assert after["LastModifiedTime"] >= before["LastModifiedTime"]
    sm.start_notebook_instance(NotebookInstanceName="cycle")
    assert sm.describe_notebook_instance(
        NotebookInstanceName="cycle")["NotebookInstanceStatus"] == "InService"
    with pytest.raises(ClientError) as e:
        sm.start_notebook_instance(NotebookInstanceName="cycle")
    assert "Unable to transition to (Pending)" in error_of(e)[1]
    sm.stop_notebook_instance(NotebookInstanceName="cycle")
    sm.delete_notebook_instance(NotebookInstanceName="cycle")
    for call in (sm.describe_notebook_instance, sm.stop_notebook_instance,
                 sm.delete_notebook_instance, sm.create_presigned_notebook_instance_url):
        with pytest.raises(ClientError) as e:
            call(NotebookInstanceName="cycle")
        assert error_of(e) == ("ValidationException", "RecordNotFound")


def test_create_checks_passrole_and_trust(server: Server, env: dict[str, Any]) -> None:
    sm: Any = server.client("sagemaker")
    with pytest.raises(ClientError) as e:
        _create(server, "nb-untrusted", env["untrusted"])
    assert error_of(e) == ("ValidationException", f"Could not assume role {env['untrusted']}. "
                           "Please ensure that the role exists and allows principal "
                           "'sagemaker.amazonaws.com' to assume the role.")
    user = _user(server, "nb-creator", ["sagemaker:CreateNotebookInstance"])
    as_user: Any = server.client("sagemaker", user["key"], user["secret"])
    with pytest.raises(ClientError) as e:
        as_user.create_notebook_instance(NotebookInstanceName="nb-nopass",
                                         InstanceType="ml.t3.medium", RoleArn=env["role"])
    assert error_of(e) == ("AccessDeniedException", (
        f"User: arn:aws:iam::{env['account']}:user/nb-creator is not authorized to perform: "
        f"iam:PassRole on resource: {env['role']} because no identity-based policy allows "
        "the iam:PassRole action"))
    for name in ("nb-untrusted", "nb-nopass"):
        with pytest.raises(ClientError):
            sm.describe_notebook_instance(NotebookInstanceName=name)


def test_update_passes_the_new_role_through_the_checks(server: Server,
                                                       env: dict[str, Any]) -> None:
    sm: Any = server.client("sagemaker")
    _create(server, "re-role", env["role"])
    sm.stop_notebook_instance(NotebookInstanceName="re-role")
    with pytest.raises(ClientError) as e:
        sm.update_notebook_instance(NotebookInstanceName="re-role", RoleArn=env["untrusted"])
    assert error_of(e)[1].startswith(f"Could not assume role {env['untrusted']}.")
    assert sm.describe_notebook_instance(NotebookInstanceName="re-role")["RoleArn"] == \
        env["role"]
    user = _user(server, "nb-updater", ["sagemaker:UpdateNotebookInstance"])
    as_user: Any = server.client("sagemaker", user["key"], user["secret"])
    with pytest.raises(ClientError) as e:
        as_user.update_notebook_instance(NotebookInstanceName="re-role", RoleArn=env["other"])
    assert error_of(e)[0] == "AccessDeniedException" and "iam:PassRole" in error_of(e)[1]
    sm.update_notebook_instance(NotebookInstanceName="re-role", RoleArn=env["other"])
    assert sm.describe_notebook_instance(NotebookInstanceName="re-role")["RoleArn"] == \
        env["other"]


def _get(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, dict(json.load(r))
    except urllib.error.HTTPError as e:
        return e.code, dict(json.loads(e.read()))


def test_presigned_url_is_redeemed_once(server: Server, env: dict[str, Any]) -> None:
    sm: Any = server.client("sagemaker")
    arn = _create(server, "presigned", env["role"])
    url = sm.create_presigned_notebook_instance_url(
        NotebookInstanceName="presigned")["AuthorizedUrl"]
    assert url.startswith(f"{server.url}{ROUTE}presigned?authToken=")
    status, body = _get(url)
    assert status == 200
    assert body["Region"] == "us-east-1"
    assert body["ResourceMetadata"] == {"ResourceArn": arn, "ResourceName": "presigned",
                                        "ExecutionRoleArn": env["role"]}
    creds = body["Credentials"]
    sts: Any = server.client("sts", creds["AccessKeyId"], creds["SecretAccessKey"],
                             creds["SessionToken"])
    assert sts.get_caller_identity()["Arn"] == \
        f"arn:aws:sts::{env['account']}:assumed-role/NotebookRole/SageMaker"
    # Single use: the same URL again is refused, and so is a made-up token.
    assert _get(url)[0] == 403
    status, body = _get(f"{server.url}{ROUTE}presigned?authToken=not-a-token")
    assert status == 403 and body["Error"]["Code"] == "InvalidAuthToken"


def test_notebook_run_is_the_role_session(server: Server, env: dict[str, Any]) -> None:
    arn = _create(server, "runner", env["role"])
    done = _run(server, "run", "runner", "--", sys.executable, "-c", WHO_AM_I)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == \
        f"arn:aws:sts::{env['account']}:assumed-role/NotebookRole/SageMaker"
    # The role's permissions, not the caller's (root), decide what the command may do:
    # AmazonSageMakerFullAccess reads objects only in buckets named for SageMaker.
    denied = ("import boto3, botocore\n"
              "try:\n"
              "    boto3.client('s3').get_object(Bucket='corp-datasets', Key='train.csv')\n"
              "except botocore.exceptions.ClientError as e:\n"
              "    print(e.response['Error']['Code']); raise SystemExit(3)\n")
    done = _run(server, "run", "runner", "--", sys.executable, "-c", denied)
    assert (done.returncode, done.stdout.strip()) == (3, "AccessDenied")
    # "From the notebook": get_execution_role reads the notebook's metadata file.
    role = ("import json, os, execrole\n"
            "print(json.load(open(os.environ['EXECROLE_RESOURCE_METADATA']))['ResourceArn'])\n"
            "print(execrole.get_execution_role())\n")
    done = _run(server, "run", "runner", "--", sys.executable, "-c", role)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [arn, env["role"]]
    db = sqlite3.connect(server.data_dir / "execrole.db")
    rows = db.execute("SELECT action, decision FROM decisions WHERE source=? AND principal "
                      "LIKE '%assumed-role/NotebookRole/SageMaker'", (arn,)).fetchall()
    # The session's calls are logged under the notebook's ARN.
    assert ("s3:GetObject", "implicit_deny") in rows


def test_notebook_run_needs_the_presigned_url_permission(server: Server,
                                                         env: dict[str, Any]) -> None:
    _create(server, "guarded", env["role"])
    user = _user(server, "nb-viewer", ["sagemaker:DescribeNotebookInstance"])
    environ = server.env()
    environ.update(AWS_ACCESS_KEY_ID=user["key"], AWS_SECRET_ACCESS_KEY=user["secret"])
    done = _run(server, "run", "guarded", "--", sys.executable, "-c", WHO_AM_I,
                env=environ, connection=("--aws",))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.strip() == (
        f"execrole: AccessDeniedException: User: arn:aws:iam::{env['account']}:user/nb-viewer "
        "is not authorized to perform: sagemaker:CreatePresignedNotebookInstanceUrl on "
        f"resource: arn:aws:sagemaker:us-east-1:{env['account']}:notebook-instance/guarded "
        "because no identity-based policy allows the "
        "sagemaker:CreatePresignedNotebookInstanceUrl action")
    assert done.stdout == ""


def test_notebook_run_on_a_stopped_notebook(server: Server, env: dict[str, Any]) -> None:
    sm: Any = server.client("sagemaker")
    _create(server, "sleeping", env["role"])
    sm.stop_notebook_instance(NotebookInstanceName="sleeping")
    done = _run(server, "run", "sleeping", "--", sys.executable, "-c", WHO_AM_I)
    assert done.returncode == 1
    assert done.stderr.startswith("execrole: NotInService: Notebook instance sleeping is "
                                  "Stopped")
    done = _run(server, "run", "no-such-notebook", "--", "true")
    assert (done.returncode, done.stderr.strip()) == \
        (1, "execrole: ValidationException: RecordNotFound")


def test_notebook_ls(server: Server, env: dict[str, Any]) -> None:
    _create(server, "listed-by-cli", env["role"])
    done = _run(server, "ls", "--json")
    assert done.returncode == 0, done.stderr
    rows = {r["NotebookInstanceName"]: r for r in map(json.loads, done.stdout.splitlines())}
    assert rows["listed-by-cli"]["NotebookInstanceStatus"] == "InService"
    done = _run(server, "ls")
    assert done.stdout.splitlines()[0].split()[:2] == ["NAME", "STATUS"]
    assert any(line.startswith("listed-by-cli ") for line in done.stdout.splitlines())
