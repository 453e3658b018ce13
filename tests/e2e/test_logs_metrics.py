"""CloudWatch Logs and metrics through the endpoint with boto3 and the AWS CLI (issue 5, the
Logs part). Rules from the CloudWatch Logs and CloudWatch API references (botocore models):
PutLogEvents ordering and span, GetLogEvents tokens and startFromHead, DescribeLogStreams
ordering, FilterLogEvents; AccessDeniedException for a principal without permission."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from conftest import Server

GROUP = "/aws/sagemaker/TrainingJobs"


def now_ms() -> int:
    return int(time.time() * 1000)


@pytest.fixture(scope="module")
def logs(server: Server) -> Any:
    client: Any = server.client("logs")
    client.create_log_group(logGroupName=GROUP)
    client.create_log_stream(logGroupName=GROUP, logStreamName="job-1/algo-1-1700000000")
    client.create_log_stream(logGroupName=GROUP, logStreamName="job-2/algo-1-1700000001")
    base = now_ms() - 60_000
    client.put_log_events(logGroupName=GROUP, logStreamName="job-1/algo-1-1700000000",
                          logEvents=[{"timestamp": base + i, "message": f"epoch {i} loss=0.{i}"}
                                     for i in range(25)])
    client.put_log_events(logGroupName=GROUP, logStreamName="job-2/algo-1-1700000001",
                          logEvents=[{"timestamp": base + 100, "message": "ERROR no data"}])
    return client


def test_get_log_events_pages_both_ways(logs: Any) -> None:
    stream = "job-1/algo-1-1700000000"
    head = logs.get_log_events(logGroupName=GROUP, logStreamName=stream, startFromHead=True,
                               limit=10)
    assert [e["message"] for e in head["events"]][:2] == ["epoch 0 loss=0.0", "epoch 1 loss=0.1"]
    following = logs.get_log_events(logGroupName=GROUP, logStreamName=stream, limit=10,
                                    nextToken=head["nextForwardToken"])
    assert following["events"][0]["message"] == "epoch 10 loss=0.10"
    tail = logs.get_log_events(logGroupName=GROUP, logStreamName=stream, limit=5)
    assert [e["message"] for e in tail["events"]][-1] == "epoch 24 loss=0.24"
    earlier = logs.get_log_events(logGroupName=GROUP, logStreamName=stream, limit=5,
                                  nextToken=tail["nextBackwardToken"])
    assert earlier["events"][-1]["message"] == "epoch 19 loss=0.19"
    # At the end, the forward token comes back unchanged (the SDK's polling relies on it).
    end = logs.get_log_events(logGroupName=GROUP, logStreamName=stream,
                              nextToken=tail["nextForwardToken"])
    assert end["events"] == [] and end["nextForwardToken"] == tail["nextForwardToken"]


def test_describe_log_streams_like_the_sdk(logs: Any) -> None:
    # The SageMaker SDK lists a job's streams by prefix, ordered by name (notes/sagemaker-sdk.md).
    streams = logs.describe_log_streams(logGroupName=GROUP, logStreamNamePrefix="job-1/",
                                        orderBy="LogStreamName")["logStreams"]
    assert [s["logStreamName"] for s in streams] == ["job-1/algo-1-1700000000"]
    assert streams[0]["lastEventTimestamp"] >= streams[0]["firstEventTimestamp"]
    with pytest.raises(ClientError) as e:
        logs.describe_log_streams(logGroupName=GROUP, logStreamNamePrefix="job",
                                  orderBy="LastEventTime")
    assert e.value.response["Error"]["Code"] == "InvalidParameterException"
    latest = logs.describe_log_streams(logGroupName=GROUP, orderBy="LastEventTime",
                                       descending=True)["logStreams"]
    assert latest[0]["logStreamName"] == "job-2/algo-1-1700000001"


def test_put_log_events_rules(logs: Any) -> None:
    stream = "job-2/algo-1-1700000001"
    t = now_ms()
    with pytest.raises(ClientError) as e:
        logs.put_log_events(logGroupName=GROUP, logStreamName=stream, logEvents=[
            {"timestamp": t, "message": "b"}, {"timestamp": t - 1, "message": "a"}])
    assert e.value.response["Error"]["Message"] == (
        "Log events in a single PutLogEvents request must be in chronological order.")
    with pytest.raises(ClientError) as e:
        logs.put_log_events(logGroupName=GROUP, logStreamName=stream, logEvents=[
            {"timestamp": t - 25 * 3600 * 1000, "message": "a"}, {"timestamp": t, "message": "b"}])
    assert "cannot span more than 24 hours" in e.value.response["Error"]["Message"]
    old = logs.put_log_events(logGroupName=GROUP, logStreamName=stream, logEvents=[
        {"timestamp": t - 15 * 24 * 3600 * 1000, "message": "ancient"}])
    assert old["rejectedLogEventsInfo"] == {"tooOldLogEventEndIndex": 1}
    with pytest.raises(ClientError) as e:
        logs.put_log_events(logGroupName=GROUP, logStreamName="nope",
                            logEvents=[{"timestamp": t, "message": "x"}])
    assert e.value.response["Error"] == {"Code": "ResourceNotFoundException",
                                         "Message": "The specified log stream does not exist."}
    with pytest.raises(ClientError) as e:
        logs.create_log_group(logGroupName=GROUP)
    assert e.value.response["Error"]["Code"] == "ResourceAlreadyExistsException"


def test_filter_log_events(logs: Any) -> None:
    found = logs.filter_log_events(logGroupName=GROUP, filterPattern="ERROR")["events"]
    assert [(e["logStreamName"], e["message"]) for e in found] == [
        ("job-2/algo-1-1700000001", "ERROR no data")]
    groups = logs.describe_log_groups(logGroupNamePrefix="/aws/sagemaker/")["logGroups"]
    assert [g["logGroupName"] for g in groups] == [GROUP]


def test_aws_cli_reads_logs(server: Server, logs: Any) -> None:
    # AWS CLI v1 (PyPI) has no `logs tail`; v2's `logs tail` reads with FilterLogEvents,
    # the call made here.
    exe = shutil.which("aws", path=str(Path(sys.executable).parent))
    assert exe
    result = subprocess.run([exe, "logs", "filter-log-events", "--log-group-name", GROUP,
                             "--start-time", str(now_ms() - 3600_000)], env=server.env(),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    messages = [e["message"] for e in json.loads(result.stdout)["events"]]
    assert "epoch 24 loss=0.24" in messages and "ERROR no data" in messages


def test_logs_are_authorized(server: Server, logs: Any) -> None:
    iam: Any = server.client("iam")
    iam.create_user(UserName="logreader")
    iam.put_user_policy(UserName="logreader", PolicyName="ReadTraining", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": ["logs:GetLogEvents", "logs:DescribeLogStreams"],
            "Resource": f"arn:aws:logs:us-east-1:*:log-group:{GROUP}*"}]}))
    key = iam.create_access_key(UserName="logreader")["AccessKey"]
    reader: Any = server.client("logs", key["AccessKeyId"], key["SecretAccessKey"])
    reader.get_log_events(logGroupName=GROUP, logStreamName="job-1/algo-1-1700000000")
    with pytest.raises(ClientError) as e:
        reader.put_log_events(logGroupName=GROUP, logStreamName="job-1/algo-1-1700000000",
                              logEvents=[{"timestamp": now_ms(), "message": "forged"}])
    err = e.value.response["Error"]
    assert err["Code"] == "AccessDeniedException"
    account = key_account(server)
    assert err["Message"] == (
        f"User: arn:aws:iam::{account}:user/logreader is not authorized to perform: "
        f"logs:PutLogEvents on resource: arn:aws:logs:us-east-1:{account}:log-group:{GROUP}:"
        "log-stream:job-1/algo-1-1700000000 because no identity-based policy allows the "
        "logs:PutLogEvents action")


def key_account(server: Server) -> str:
    sts: Any = server.client("sts")
    return str(sts.get_caller_identity()["Account"])


def test_metrics(server: Server) -> None:
    cw: Any = server.client("cloudwatch")
    start = datetime.now(UTC) - timedelta(minutes=10)
    dims = [{"Name": "Host", "Value": "algo-1"}]
    cw.put_metric_data(Namespace="/aws/sagemaker/TrainingJobs", MetricData=[
        {"MetricName": "train:loss", "Dimensions": dims, "Timestamp": start + timedelta(minutes=i),
         "Value": 1.0 / (i + 1)} for i in range(5)])
    listed = cw.list_metrics(Namespace="/aws/sagemaker/TrainingJobs")["Metrics"]
    assert listed == [{"Namespace": "/aws/sagemaker/TrainingJobs", "MetricName": "train:loss",
                       "Dimensions": dims}]
    data = cw.get_metric_data(
        MetricDataQueries=[{"Id": "loss", "MetricStat": {"Metric": {
            "Namespace": "/aws/sagemaker/TrainingJobs", "MetricName": "train:loss",
            "Dimensions": dims}, "Period": 3600, "Stat": "Minimum"}}],
        StartTime=start - timedelta(minutes=1), EndTime=datetime.now(UTC) + timedelta(minutes=1))
    assert data["MetricDataResults"][0]["Values"] == [0.2]
    with pytest.raises(ClientError) as e:
        cw.put_metric_data(Namespace="AWS/SageMaker", MetricData=[{"MetricName": "x",
                                                                   "Value": 1.0}])
    assert e.value.response["Error"]["Code"] == "InvalidParameterValue"


def test_restart_keeps_logs(server: Server, logs: Any) -> None:
    server.restart()
    client: Any = server.client("logs")
    events = client.get_log_events(logGroupName=GROUP, logStreamName="job-1/algo-1-1700000000",
                                   startFromHead=True)["events"]
    assert len(events) == 25
