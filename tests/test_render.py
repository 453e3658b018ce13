"""Rendering `execrole plan` output (execrole.planner.render): json, terraform, cloudformation
and cdk-json, for every request in tests/sagemaker_requests/, in both scopes.

The terraform output is read back with a small HCL parser for the subset render writes (object
and tuple constructors, quoted strings, numbers, true/false/null, comments), so the test checks
that `jsonencode(...)` of what we write is the plan's document, escapes included."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from execrole.planner.plan import plan as make_plan
from execrole.planner.render import FORMATS, hcl_string, render
from execrole.policy import PolicyType, parse_policy

REQUESTS = Path(__file__).resolve().parent / "sagemaker_requests"
APIS = sorted(p.stem for p in REQUESTS.glob("*.json"))
SCOPES = ("least", "seed")
ACCOUNT, REGION = "111122223333", "us-east-1"
DOCS = ("trust_policy", "role_policy", "caller_policy")


@cache
def _plan(api: str, scope: str) -> str:
    request = json.loads((REQUESTS / f"{api}.json").read_text())
    return json.dumps(make_plan(api, request, account=ACCOUNT, region=REGION,
                                scope=scope).to_dict())


def plan_of(api: str, scope: str = "least") -> dict[str, Any]:
    """A fresh copy of the plan for a fixture request (tests may change it)."""
    result: dict[str, Any] = json.loads(_plan(api, scope))
    return result


def role_parts(arn: str) -> tuple[str, str]:
    """(path, name) of a role ARN."""
    m = re.fullmatch(r"arn:[^:]+:iam::\d*:role(/(?:[^/]+/)*)([^/]+)", arn)
    assert m, arn
    return m[1], m[2]


def check_documents(plan: dict[str, Any], trust: Any, role: Any, caller: Any) -> None:
    """The rendered documents are exactly the plan's, and IAM accepts each of them."""
    assert trust == plan["trust_policy"]
    assert role == plan["role_policy"]
    assert caller == plan["caller_policy"]
    parse_policy(trust, PolicyType.TRUST)
    if role is not None:
        parse_policy(role, PolicyType.IDENTITY, managed=False)  # an inline role policy
    if caller is not None:
        parse_policy(caller, PolicyType.IDENTITY, managed=True)  # a customer managed policy


# -- a tiny HCL reader for the subset render writes -----------------------------------------

class HclError(ValueError):
    pass


_HCL_SIMPLE_ESCAPES = {"\\": "\\", '"': '"', "n": "\n", "r": "\r", "t": "\t"}


class HclReader:
    """Parses HCL expressions: {k = v ...} objects, [a, b] tuples, "strings", numbers,
    true/false/null. Rejects template interpolations and directives (unescaped ${ and %{),
    which render must never emit."""

    def __init__(self, text: str, pos: int = 0) -> None:
        self.text, self.pos = text, pos

    def skip(self) -> None:
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch in " \t\r\n":
                self.pos += 1
            elif ch == "#" or self.text.startswith("//", self.pos):
                end = self.text.find("\n", self.pos)
                self.pos = len(self.text) if end < 0 else end + 1
            else:
                return

    def peek(self) -> str:
        self.skip()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expect(self, token: str) -> None:
        self.skip()
        if not self.text.startswith(token, self.pos):
            near = self.text[self.pos:self.pos + 30]
            raise HclError(f"expected {token!r} at {self.pos}: {near!r}")
        self.pos += len(token)

    def value(self) -> Any:
        ch = self.peek()
        if ch == "{":
            return self.object()
        if ch == "[":
            return self.tuple()
        if ch == '"':
            return self.string()
        m = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?").match(self.text, self.pos)
        if m:
            self.pos = m.end()
            return json.loads(m[0])
        for word, result in (("true", True), ("false", False), ("null", None)):
            if re.compile(rf"{word}\b").match(self.text, self.pos):
                self.pos += len(word)
                return result
        raise HclError(f"unexpected {self.text[self.pos:self.pos + 30]!r} at {self.pos}")

    def key(self) -> str:
        if self.peek() == '"':
            return self.string()
        m = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*").match(self.text, self.pos)
        if not m or m[0] in ("for", "if", "true", "false", "null"):
            raise HclError(f"bad object key at {self.pos}")
        self.pos = m.end()
        return m[0]

    def object(self) -> dict[str, Any]:
        self.expect("{")
        result: dict[str, Any] = {}
        while self.peek() != "}":
            key = self.key()
            if key in result:
                raise HclError(f"duplicate key {key!r}")
            self.expect("=")
            result[key] = self.value()
            # Items end with a comma or a newline.
            end = self.pos
            if self.peek() == ",":
                self.pos += 1
            elif self.peek() != "}" and "\n" not in self.text[end:self.pos]:
                raise HclError(f"items not separated at {self.pos}")
        self.expect("}")
        return result

    def tuple(self) -> list[Any]:
        self.expect("[")
        result: list[Any] = []
        while self.peek() != "]":
            result.append(self.value())
            if self.peek() == ",":
                self.pos += 1
            elif self.peek() != "]":
                raise HclError(f"expected , or ] at {self.pos}")
        self.expect("]")
        return result

    def string(self) -> str:
        self.expect('"')
        out: list[str] = []
        text = self.text
        while True:
            if self.pos >= len(text):
                raise HclError("unterminated string")
            ch = text[self.pos]
            if ch == '"':
                self.pos += 1
                return "".join(out)
            if ch == "\n":
                raise HclError("newline in a quoted string")
            if ch == "\\":
                esc = text[self.pos + 1]
                if esc in _HCL_SIMPLE_ESCAPES:
                    out.append(_HCL_SIMPLE_ESCAPES[esc])
                    self.pos += 2
                elif esc in "uU":
                    width = 4 if esc == "u" else 8
                    out.append(chr(int(text[self.pos + 2:self.pos + 2 + width], 16)))
                    self.pos += 2 + width
                else:
                    raise HclError(f"bad escape \\{esc}")
            elif text.startswith(("$${", "%%{"), self.pos):
                out.append(ch + "{")
                self.pos += 3
            elif text.startswith(("${", "%{"), self.pos):
                raise HclError(f"template sequence {text[self.pos:self.pos + 2]} at {self.pos}")
            else:
                out.append(ch)
                self.pos += 1


def hcl_value(text: str) -> Any:
    reader = HclReader(text)
    result = reader.value()
    if reader.peek():
        raise HclError("trailing text")
    return result


def hcl_resources(text: str) -> dict[tuple[str, str], dict[str, Any]]:
    """The resource blocks of render's terraform: {(type, label): {attribute: value}}, with
    jsonencode(...) read as the JSON it produces and references kept as text."""
    resources: dict[tuple[str, str], dict[str, Any]] = {}
    for m in re.finditer(r'^resource "([a-z_]+)" "([a-z_]+)" \{\n', text, re.M):
        reader = HclReader(text, m.end())
        attributes: dict[str, Any] = {}
        while reader.peek() != "}":
            name = re.compile(r"[a-z_]+").match(text, reader.pos)
            assert name, text[reader.pos:reader.pos + 40]
            reader.pos = name.end()
            reader.expect("=")
            reader.skip()
            if text.startswith("jsonencode(", reader.pos):
                reader.pos += len("jsonencode(")
                attributes[name[0]] = reader.value()
                reader.expect(")")
            elif reader.peek() == '"':
                attributes[name[0]] = reader.string()
            else:
                ref = re.compile(r"[a-z_]+\.[a-z_]+\.[a-z_]+").match(text, reader.pos)
                assert ref, text[reader.pos:reader.pos + 40]
                reader.pos = ref.end()
                attributes[name[0]] = ("ref", ref[0])
        resources[(m[1], m[2])] = attributes
    return resources


def jsonencode_arguments(text: str) -> list[str]:
    """The source text of the argument of every jsonencode(...) in `text`."""
    found = []
    for m in re.finditer(r"= jsonencode\(", text):
        reader = HclReader(text, m.end())
        reader.value()
        found.append(text[m.end():reader.pos])
    return found


# -- every format, every fixture ---------------------------------------------------------------

def test_fixtures_present() -> None:
    assert len(APIS) >= 10


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("api", APIS)
def test_json(api: str, scope: str) -> None:
    plan = plan_of(api, scope)
    text = render(plan, "json")
    assert text == render(plan) == json.dumps(plan, indent=2) + "\n"
    back = json.loads(text)
    assert back == plan
    check_documents(plan, back["trust_policy"], back["role_policy"], back["caller_policy"])


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("api", APIS)
def test_cloudformation(api: str, scope: str) -> None:
    plan = plan_of(api, scope)
    template = json.loads(render(plan, "cloudformation"))
    path, name = role_parts(plan["role_arn"])
    assert template["AWSTemplateFormatVersion"] == "2010-09-09"
    assert api in template["Description"]
    assert set(template["Resources"]) == {"ExecutionRole", "CallerPolicy"}
    role = template["Resources"]["ExecutionRole"]
    assert role["Type"] == "AWS::IAM::Role"
    props = role["Properties"]
    assert props["RoleName"] == name and props["Path"] == path
    [inline] = props["Policies"]
    assert inline["PolicyName"] == f"execrole-{api}"
    caller = template["Resources"]["CallerPolicy"]
    assert caller["Type"] == "AWS::IAM::ManagedPolicy"
    assert caller["Properties"]["ManagedPolicyName"] == f"{name}-caller"
    assert caller["Properties"]["Description"]
    check_documents(plan, props["AssumeRolePolicyDocument"], inline["PolicyDocument"],
                    caller["Properties"]["PolicyDocument"])
    assert template["Outputs"]["RoleArn"]["Value"] == {"Fn::GetAtt": ["ExecutionRole", "Arn"]}
    assert template["Outputs"]["CallerPolicyArn"]["Value"] == {"Ref": "CallerPolicy"}
    meta = template["Metadata"]["execrole"]
    assert meta["explanations"] == plan["explanations"]
    assert (meta["api"], meta["account"], meta["region"], meta["scope"], meta["role_arn"]) == \
        (api, ACCOUNT, REGION, scope, plan["role_arn"])


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("api", APIS)
def test_cdk_json(api: str, scope: str) -> None:
    plan = plan_of(api, scope)
    spec = json.loads(render(plan, "cdk-json"))
    path, name = role_parts(plan["role_arn"])
    assert spec["roleName"] == name and spec["path"] == path
    [trust_statement] = plan["trust_policy"]["Statement"]
    assert spec["assumedBy"] == {"service": "sagemaker.amazonaws.com",
                                 "conditions": trust_statement.get("Condition", {})}
    assert list(spec["inlinePolicies"]) == [f"execrole-{api}"]
    assert spec["callerPolicyName"] == f"{name}-caller"
    check_documents(plan, spec["trustPolicy"], spec["inlinePolicies"][f"execrole-{api}"],
                    spec["callerPolicy"])
    assert spec["explanations"] == plan["explanations"]


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("api", APIS)
def test_terraform(api: str, scope: str) -> None:
    plan = plan_of(api, scope)
    text = render(plan, "terraform")
    path, name = role_parts(plan["role_arn"])
    # Structure.
    assert re.findall(r'^resource "([a-z_]+)" "([a-z_]+)" \{$', text, re.M) == [
        ("aws_iam_role", "execution_role"), ("aws_iam_role_policy", "execution_role"),
        ("aws_iam_policy", "caller")]
    assert re.search(rf'^  name += "{re.escape(name)}"$', text, re.M)
    assert re.search(rf'^  path += "{re.escape(path)}"$', text, re.M)
    assert re.search(r"^  assume_role_policy = jsonencode\(\{$", text, re.M)
    assert re.search(r"^  role = aws_iam_role\.execution_role\.id$", text, re.M)
    assert re.search(rf'^  name += "{re.escape(name)}-caller"$', text, re.M)
    assert re.search(r'^  description = ".+"$', text, re.M)
    assert re.search(r"^  value = aws_iam_role\.execution_role\.arn$", text, re.M)
    assert text.count("(") == text.count(")") and text.count("{") == text.count("}")
    # A comment before every statement, naming the statement's Sid, fields and sources.
    for doc in DOCS:
        for st, why in zip(plan[doc]["Statement"], plan["explanations"][doc], strict=True):
            assert st["Sid"] == why["Sid"]
            comment = (f"# {st['Sid']}: because {', '.join(why['because'])} "
                       f"({', '.join(why['sources'])})")
            pattern = rf'^ *{re.escape(comment)}\n *\{{\n *Sid += "{re.escape(st["Sid"])}"$'
            assert re.search(pattern, text, re.M), comment
    # The documents, read back.
    resources = hcl_resources(text)
    role = resources[("aws_iam_role", "execution_role")]
    assert (role["name"], role["path"]) == (name, path)
    inline = resources[("aws_iam_role_policy", "execution_role")]
    assert inline["role"] == ("ref", "aws_iam_role.execution_role.id")
    assert inline["name"] == f"execrole-{api}"
    caller = resources[("aws_iam_policy", "caller")]
    assert caller["name"] == f"{name}-caller" and caller["description"]
    check_documents(plan, role["assume_role_policy"], inline["policy"], caller["policy"])


# -- escaping ---------------------------------------------------------------------------------

TRICKY = ["${aws:username}", "$${x}", "%{if}", "%%{y}", 'a"b', "back\\slash", "tab\tnew\nline",
          "\x01", "$", "%", "${", "ü€😀", "#not a comment", "// nor this"]


@pytest.mark.parametrize("value", TRICKY)
def test_hcl_string_round_trips(value: str) -> None:
    literal = hcl_string(value)
    assert hcl_value(literal) == value
    assert "\n" not in literal
    # No interpolation or directive is left: every ${ or %{ is escaped as $${ or %%{.
    assert not re.search(r"(?<![$%])[$%]\{", literal.replace("$${", "").replace("%%{", ""))


def test_hcl_string_escapes_policy_variables() -> None:
    assert hcl_string("${aws:username}") == '"$${aws:username}"'
    assert hcl_string("%{x}") == '"%%{x}"'
    assert hcl_string('say "hi"\\') == '"say \\"hi\\"\\\\"'


def test_policy_variable_survives_every_format() -> None:
    plan = plan_of("CreateTrainingJob")
    home = "arn:aws:s3:::corp-home/${aws:username}/*"
    plan["role_policy"]["Statement"].append({
        "Sid": "HomeFolder", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
        "Resource": home,
        "Condition": {"StringLike": {"s3:prefix": ["${aws:username}/*", "home/%{notatemplate}"]},
                      "Bool": {"aws:SecureTransport": True}},
    })
    plan["explanations"]["role_policy"].append(
        {"Sid": "HomeFolder", "because": ['a "quoted" field'], "sources": ["test"]})
    parse_policy(plan["role_policy"], PolicyType.IDENTITY)

    text = render(plan, "terraform")
    assert '"arn:aws:s3:::corp-home/$${aws:username}/*"' in text
    assert '"$${aws:username}/*"' in text and '"home/%%{notatemplate}"' in text
    assert "# HomeFolder: because a \"quoted\" field (test)" in text
    assert re.search(r'"aws:SecureTransport" = true$', text, re.M)
    unescaped = re.sub(r"\$\$\{|%%\{", "", text)
    assert "${" not in unescaped and "%{" not in unescaped
    policy = hcl_resources(text)[("aws_iam_role_policy", "execution_role")]["policy"]
    assert policy == plan["role_policy"]

    template = json.loads(render(plan, "cloudformation"))
    props = template["Resources"]["ExecutionRole"]["Properties"]
    assert props["Policies"][0]["PolicyDocument"] == plan["role_policy"]
    spec = json.loads(render(plan, "cdk-json"))
    assert spec["inlinePolicies"]["execrole-CreateTrainingJob"] == plan["role_policy"]
    assert json.loads(render(plan, "json")) == plan


# -- options and edge cases ---------------------------------------------------------------------

def test_unknown_format_lists_the_formats() -> None:
    with pytest.raises(ValueError) as e:
        render(plan_of("CreateModel"), "yaml")
    for fmt in FORMATS:
        assert fmt in str(e.value)
    assert "'yaml'" in str(e.value)
    assert FORMATS == ("json", "terraform", "cloudformation", "cdk-json")


def test_role_name_renames_the_role_and_its_passrole() -> None:
    plan = plan_of("CreateTrainingJob")
    old = plan["role_arn"]
    new = "arn:aws:iam::111122223333:role/service-role/churn-training"
    assert any(st.get("Resource") == old for st in plan["caller_policy"]["Statement"])

    def renamed(doc: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(
            json.dumps(doc).replace(json.dumps(old), json.dumps(new)))
        return result

    spec = json.loads(render(plan, "cdk-json", role_name="churn-training"))
    assert spec["roleName"] == "churn-training" and spec["path"] == "/service-role/"
    assert spec["callerPolicyName"] == "churn-training-caller"
    assert spec["callerPolicy"] == renamed(plan["caller_policy"]) != plan["caller_policy"]
    assert spec["trustPolicy"] == plan["trust_policy"]

    props = json.loads(render(plan, "cloudformation", role_name="churn-training"))[
        "Resources"]["ExecutionRole"]["Properties"]
    assert props["RoleName"] == "churn-training"

    resources = hcl_resources(render(plan, "terraform", role_name="churn-training"))
    assert resources[("aws_iam_role", "execution_role")]["name"] == "churn-training"
    caller = resources[("aws_iam_policy", "caller")]
    assert caller["name"] == "churn-training-caller"
    assert caller["policy"] == renamed(plan["caller_policy"])
    # The same name as the ARN's changes nothing.
    same = json.loads(render(plan, "cdk-json", role_name=role_parts(old)[1]))
    assert same["callerPolicy"] == plan["caller_policy"]


@pytest.mark.parametrize("bad", ["", "a" * 65, "has space", "slash/name"])
def test_invalid_role_name(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid role name"):
        render(plan_of("CreateModel"), "terraform", role_name=bad)


def test_plan_without_role_arn() -> None:
    plan = plan_of("CreateModel")
    plan["role_arn"] = None
    spec = json.loads(render(plan, "cdk-json"))
    assert (spec["roleName"], spec["path"]) == ("SageMakerExecutionRole-CreateModel", "/")
    resources = hcl_resources(render(plan, "terraform"))
    assert resources[("aws_iam_role", "execution_role")]["path"] == "/"


def test_empty_policies_are_left_out() -> None:
    plan = plan_of("CreateModel")
    plan["role_policy"]["Statement"] = []
    plan["caller_policy"]["Statement"] = []
    text = render(plan, "terraform")
    assert set(hcl_resources(text)) == {("aws_iam_role", "execution_role")}
    template = json.loads(render(plan, "cloudformation"))
    assert set(template["Resources"]) == {"ExecutionRole"}
    assert "Policies" not in template["Resources"]["ExecutionRole"]["Properties"]
    assert set(template["Outputs"]) == {"RoleArn"}
    assert json.loads(render(plan, "cdk-json"))["inlinePolicies"] == {}


def test_cdk_json_rejects_a_trust_policy_it_cannot_express() -> None:
    plan = plan_of("CreateModel")
    extra = copy.deepcopy(plan["trust_policy"]["Statement"][0])
    extra["Sid"] = "Other"
    extra["Principal"] = {"AWS": "arn:aws:iam::111122223333:root"}
    plan["trust_policy"]["Statement"].append(extra)
    with pytest.raises(ValueError, match="cdk-json"):
        render(plan, "cdk-json")
    plan["trust_policy"]["Statement"] = [extra]
    with pytest.raises(ValueError, match="cdk-json"):
        render(plan, "cdk-json")
    # The other formats carry any trust policy.
    template = json.loads(render(plan, "cloudformation"))
    assert template["Resources"]["ExecutionRole"]["Properties"][
        "AssumeRolePolicyDocument"] == plan["trust_policy"]


def test_not_a_plan() -> None:
    with pytest.raises(ValueError, match="not a plan"):
        render({"api": "CreateModel"}, "terraform")


TERRAFORM = shutil.which("terraform")


@pytest.mark.skipif(TERRAFORM is None, reason="terraform is not installed")
def test_terraform_itself_agrees(tmp_path: Path) -> None:
    """Where terraform is installed: `terraform fmt` leaves every rendering unchanged, and
    terraform's own jsonencode of what we write gives the plan's documents (no provider
    needed: the expressions are evaluated as locals in `terraform console`)."""
    assert TERRAFORM is not None
    env = {**os.environ, "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1"}
    rendered = tmp_path / "rendered"
    rendered.mkdir()
    expected: list[Any] = []
    locals_ = ["locals {"]
    for api in APIS:
        for scope in SCOPES:
            plan = plan_of(api, scope)
            if api == "CreateTrainingJob" and scope == "least":
                plan["role_policy"]["Statement"].append({
                    "Sid": "Tricky", "Effect": "Allow", "Action": "s3:GetObject",
                    "Resource": 'arn:aws:s3:::b/${aws:username}/%{x}/"q\\/$${y}'})
            text = render(plan, "terraform")
            (rendered / f"{api}-{scope}.tf").write_text(text)
            arguments = jsonencode_arguments(text)
            assert len(arguments) == len(DOCS)
            for arg, doc in zip(arguments, DOCS, strict=True):
                locals_.append(f"  doc_{len(expected)} = jsonencode({arg})")
                expected.append(plan[doc])
    locals_.append("}")
    fmt = subprocess.run([TERRAFORM, "fmt", "-check", "-list=true", str(rendered)], env=env,
                         capture_output=True, text=True, timeout=60)
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
    console_dir = tmp_path / "console"
    console_dir.mkdir()
    (console_dir / "main.tf").write_text("\n".join(locals_) + "\n")
    query = "jsonencode([" + ", ".join(f"local.doc_{i}" for i in range(len(expected))) + "])\n"
    console = subprocess.run([TERRAFORM, "console"], cwd=console_dir, env=env, input=query,
                             capture_output=True, text=True, timeout=120)
    assert console.returncode == 0, console.stderr
    [line] = [line for line in console.stdout.splitlines() if line.startswith('"')]
    documents = [json.loads(doc) for doc in json.loads(json.loads(line))]
    assert documents == expected
    assert len(expected) == 3 * len(APIS) * len(SCOPES)
    assert any("${aws:username}" in json.dumps(doc) for doc in documents)
