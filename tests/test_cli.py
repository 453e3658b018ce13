"""The CLI as a user runs it: real processes, real files, exit codes and output formats."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SEED_EXTRA_S3 = {  # the seed's "Add Additional Amazon S3 Permissions" policy
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow",
         "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
         "Resource": ["arn:aws:s3:::DOC-EXAMPLE-BUCKET1/*", "arn:aws:s3:::DOC-EXAMPLE-BUCKET2/*"]},
        {"Effect": "Allow",
         "Action": ["s3:CreateBucket", "s3:GetBucketLocation", "s3:ListBucket",
                    "s3:ListAllMyBuckets", "s3:GetBucketCors", "s3:PutBucketCors"],
         "Resource": "*"},
        {"Effect": "Allow", "Action": ["s3:GetBucketAcl", "s3:PutObjectAcl"],
         "Resource": ["arn:aws:s3:::DOC-EXAMPLE-BUCKET1", "arn:aws:s3:::DOC-EXAMPLE-BUCKET2"]},
    ],
}


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "execrole", *args], capture_output=True,
                          text=True, input=stdin, timeout=120)


def write(tmp: Path, name: str, value: object) -> str:
    path = tmp / name
    path.write_text(value if isinstance(value, str) else json.dumps(value))
    return str(path)


def test_validate_valid_policy_exits_0(tmp_path: Path) -> None:
    result = run("policy", "validate", write(tmp_path, "p.json", SEED_EXTRA_S3))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_validate_prints_aws_code_and_message(tmp_path: Path) -> None:
    # reference_policies_grammar.md: a statement needs an action; IAM's message.
    bad = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*"}]}
    result = run("policy", "validate", write(tmp_path, "p.json", bad))
    assert result.returncode == 1
    assert result.stdout.strip() == ("MalformedPolicyDocument: "
                                     "Policy statement must contain actions.")


def test_validate_trust_type_and_stdin() -> None:
    # The seed's trust policy is a valid trust policy but not a valid permissions policy.
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
        "Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    ok = run("policy", "validate", "-", "--type", "trust", stdin=json.dumps(trust))
    assert ok.returncode == 0, ok.stdout
    bad = run("policy", "validate", "-", stdin=json.dumps(trust))
    assert bad.stdout.strip() == ("MalformedPolicyDocument: Policy document should not "
                                  "specify a principal.")


def test_validate_managed_flag_requires_2012_version(tmp_path: Path) -> None:
    old = {"Version": "2008-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject",
                                                  "Resource": "*"}]}
    path = write(tmp_path, "p.json", old)
    assert run("policy", "validate", path).returncode == 0  # inline policies accept 2008
    managed = run("policy", "validate", path, "--managed")
    assert managed.stdout.strip() == ("MalformedPolicyDocument: Policy document must be "
                                      "version 2012-10-17 or greater.")


def test_validate_warns_about_unknown_actions(tmp_path: Path) -> None:
    policy = {"Version": "2012-10-17", "Statement": [{"Sid": "Typo", "Effect": "Allow",
                                                     "Action": "s3:GetObjekt", "Resource": "*"}]}
    result = run("policy", "validate", write(tmp_path, "p.json", policy))
    assert result.returncode == 0  # IAM accepts unknown actions inside a known service
    assert "statement 0 (Typo)" in result.stderr
    assert "s3:GetObjekt" in result.stderr


def test_validate_missing_file() -> None:
    result = run("policy", "validate", "/nonexistent/policy.json")
    assert result.returncode == 2
    assert "cannot read" in result.stderr
    assert "Traceback" not in result.stderr


def _case(decision_resource: str, expect: dict[str, object] | None = None) -> dict[str, object]:
    case: dict[str, object] = {
        "request": {"principal": "arn:aws:sts::111122223333:assumed-role/Exec/SageMaker",
                    "action": "s3:GetObject", "resource": decision_resource},
        "policies": {"identity": ["AmazonSageMakerFullAccess", SEED_EXTRA_S3]},
    }
    if expect:
        case["expect"] = expect
    return case


def test_evaluate_prints_one_json_line_per_case_and_keeps_going(tmp_path: Path) -> None:
    ok = write(tmp_path, "a.json", _case("arn:aws:s3:::DOC-EXAMPLE-BUCKET1/train.csv"))
    denied = write(tmp_path, "b.json", _case("arn:aws:s3:::corp/train.csv"))
    broken = write(tmp_path, "c.json", "{not json")
    result = run("policy", "evaluate", ok, broken, denied)
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["case"] for line in lines] == [ok, broken, denied]
    assert lines[0]["decision"] == "allow"
    assert lines[0]["matched"][0]["policy"] == "identity[1]"
    assert "error" in lines[1]
    assert lines[2]["decision"] == "implicit_deny"
    assert lines[2]["denied_by"] == ["identity"]
    assert lines[2]["message"] == (
        "User: arn:aws:sts::111122223333:assumed-role/Exec/SageMaker is not authorized to "
        "perform: s3:GetObject on resource: arn:aws:s3:::corp/train.csv because no "
        "identity-based policy allows the s3:GetObject action")
    assert result.returncode == 1  # one case had an error


def test_evaluate_reports_invalid_policy_in_case(tmp_path: Path) -> None:
    case = _case("arn:aws:s3:::x/y")
    case["policies"] = {"identity": [{"Version": "2012-10-17", "Statement": []}]}
    result = run("policy", "evaluate", write(tmp_path, "c.json", case))
    line = json.loads(result.stdout)
    assert line["error"] == "identity[0]: MalformedPolicyDocument: Syntax errors in policy."


def test_test_command_summary_and_exit_codes(tmp_path: Path) -> None:
    suite = tmp_path / "suite"
    (suite / "nested").mkdir(parents=True)
    write(suite, "pass.json", _case("arn:aws:s3:::DOC-EXAMPLE-BUCKET2/k", {"decision": "allow"}))
    write(suite / "nested", "many.json", [
        {**_case("arn:aws:s3:::corp/k", {"decision": "implicit_deny",
                                          "denied_by": ["identity"]}), "name": "corp"},
        {**_case("arn:aws:s3:::corp/k", {"decision": "allow"}), "name": "wrong"},
    ])
    result = run("policy", "test", str(suite))
    assert result.returncode == 1
    assert result.stdout.splitlines()[-1] == "2 passed, 1 failed"
    assert "FAIL " + str(suite / "nested" / "many.json") + "#wrong: decision: expected allow, " \
        "got implicit_deny" in result.stdout
    quiet = run("policy", "test", "-q", str(suite / "pass.json"))
    assert quiet.returncode == 0
    assert quiet.stdout.strip() == "1 passed, 0 failed"


def test_help_texts() -> None:
    for args in (["--help"], ["policy", "--help"], ["policy", "validate", "--help"],
                 ["policy", "evaluate", "--help"], ["policy", "test", "--help"],
                 ["demo", "--help"]):
        result = run(*args)
        assert result.returncode == 0
        assert "usage: execrole" in result.stdout


def test_demo_explains_seed_story() -> None:
    result = run("demo", "--json")
    assert result.returncode == 0
    steps = [json.loads(line) for line in result.stdout.splitlines()]
    by_title = {s["step"]: s for s in steps}
    assert by_title["SageMaker assumes the execution role (seed trust policy)"]["decision"] \
        == "allow"
    assert by_title["The job reads training data from corp-datasets"]["denied_by"] \
        == ["identity"]
    assert by_title["The role passes itself to Amazon EC2"]["decision"] == "implicit_deny"
