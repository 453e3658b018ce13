"""EC2, the VPC part a SageMaker job needs (issue 5), through a real server with boto3.

Sources: the Amazon EC2 API reference (botocore's ec2 model: CreateVpc, CreateSubnet,
CreateSecurityGroup, AuthorizeSecurityGroupIngress, CreateNetworkInterface,
CreateNetworkInterfacePermission, Describe* Filters, MaxResults/NextToken, DryRun), its error
codes page (InvalidVpcID.NotFound, InvalidSubnetID.NotFound, InvalidGroup.NotFound,
InvalidNetworkInterfaceID.NotFound, InvalidSubnet.Range/Conflict, InvalidVpc.Range,
InvalidGroup.Duplicate, DependencyViolation, UnauthorizedOperation), the VPC user guide's
default VPC (172.31.0.0/16, a /20 default subnet per zone) and subnet sizing (/16../28, five
reserved addresses), and sagemaker-guide/train-vpc.md (what a job's VpcConfig names).
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from conftest import Server

ACCOUNT_ID = "111122223333"


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    err = exc.value.response["Error"]
    return err["Code"], err["Message"]


@pytest.fixture(scope="module")
def ec2(server: Server) -> Any:
    return server.client("ec2")


@pytest.fixture(scope="module")
def network(ec2: Any) -> dict[str, str]:
    """A job's network: a VPC, two subnets in different zones and a security group."""
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16", TagSpecifications=[
        {"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "training"}]}])["Vpc"]
    vpc_id = vpc["VpcId"]
    a = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.20.1.0/24",
                          AvailabilityZone="us-east-1a")["Subnet"]
    b = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.20.2.0/28",
                          AvailabilityZoneId="use1-az2")["Subnet"]
    group = ec2.create_security_group(GroupName="training-jobs", Description="SageMaker jobs",
                                      VpcId=vpc_id)
    return {"vpc": vpc_id, "subnet_a": a["SubnetId"], "subnet_b": b["SubnetId"],
            "group": group["GroupId"]}


def test_default_vpc_subnets_and_group(ec2: Any) -> None:
    """Every account has a default VPC per region: 172.31.0.0/16, a default /20 subnet per
    availability zone (DefaultForAz, MapPublicIpOnLaunch), a "default" security group that
    admits its own members and lets everything out, and default DHCP options."""
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    assert len(vpcs) == 1
    vpc = vpcs[0]
    assert vpc["CidrBlock"] == "172.31.0.0/16" and vpc["IsDefault"] is True
    assert vpc["VpcId"].startswith("vpc-") and len(vpc["VpcId"]) == 21
    assert vpc["OwnerId"] == ACCOUNT_ID and vpc["State"] == "available"
    subnets = ec2.describe_subnets(Filters=[
        {"Name": "vpc-id", "Values": [vpc["VpcId"]]},
        {"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    assert sorted((s["AvailabilityZone"], s["CidrBlock"]) for s in subnets) == [
        ("us-east-1a", "172.31.0.0/20"), ("us-east-1b", "172.31.16.0/20"),
        ("us-east-1c", "172.31.32.0/20")]
    assert all(s["MapPublicIpOnLaunch"] and s["AvailableIpAddressCount"] == 4091
               and s["SubnetId"].startswith("subnet-") and len(s["SubnetId"]) == 24
               for s in subnets)
    groups = ec2.describe_security_groups(Filters=[
        {"Name": "vpc-id", "Values": [vpc["VpcId"]]},
        {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"]
    assert len(groups) == 1
    group = groups[0]
    assert group["GroupId"].startswith("sg-") and group["OwnerId"] == ACCOUNT_ID
    assert group["IpPermissions"][0]["UserIdGroupPairs"][0]["GroupId"] == group["GroupId"]
    assert group["IpPermissionsEgress"][0]["IpRanges"] == [{"CidrIp": "0.0.0.0/0"}]
    zones = ec2.describe_availability_zones()["AvailabilityZones"]
    assert [(z["ZoneName"], z["ZoneId"], z["State"]) for z in zones] == [
        ("us-east-1a", "use1-az1", "available"), ("us-east-1b", "use1-az2", "available"),
        ("us-east-1c", "use1-az3", "available")]
    dhcp = ec2.describe_dhcp_options(DhcpOptionsIds=[vpc["DhcpOptionsId"]])["DhcpOptions"]
    assert {c["Key"]: [v["Value"] for v in c["Values"]] for c in dhcp[0]["DhcpConfigurations"]} \
        == {"domain-name": ["ec2.internal"], "domain-name-servers": ["AmazonProvidedDNS"]}
    tables = ec2.describe_route_tables(Filters=[
        {"Name": "vpc-id", "Values": [vpc["VpcId"]]},
        {"Name": "association.main", "Values": ["true"]}])["RouteTables"]
    assert tables[0]["Routes"][0] == {"DestinationCidrBlock": "172.31.0.0/16",
                                      "GatewayId": "local", "Origin": "CreateRouteTable",
                                      "State": "active"}


def test_other_region_has_its_own_default_vpc(server: Server) -> None:
    """Default VPCs are per region; zone ids follow the region's short name (euw2-az2)."""
    london: Any = server.client("ec2", region="eu-west-2")
    vpc = london.describe_vpcs()["Vpcs"]
    assert [v["CidrBlock"] for v in vpc] == ["172.31.0.0/16"]
    zones = london.describe_availability_zones(ZoneNames=["eu-west-2b"])["AvailabilityZones"]
    assert zones[0]["ZoneId"] == "euw2-az2"


def test_create_vpc_subnet_and_security_group(ec2: Any, network: dict[str, str]) -> None:
    """CreateVpc/CreateSubnet/CreateSecurityGroup; tags on create; Describe by id and by
    filter (tag:<key>, cidr-block, availability-zone, wildcards)."""
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["train*"]}])["Vpcs"]
    assert [(v["VpcId"], v["CidrBlock"], v["IsDefault"]) for v in vpcs] == [
        (network["vpc"], "10.20.0.0/16", False)]
    assert vpcs[0]["Tags"] == [{"Key": "Name", "Value": "training"}]
    subnets = ec2.describe_subnets(SubnetIds=[network["subnet_b"], network["subnet_a"]])
    assert sorted((s["CidrBlock"], s["AvailabilityZone"], s["DefaultForAz"],
                   s["AvailableIpAddressCount"]) for s in subnets["Subnets"]) == [
        ("10.20.1.0/24", "us-east-1a", False, 251), ("10.20.2.0/28", "us-east-1b", False, 11)]
    found = ec2.describe_subnets(Filters=[{"Name": "cidr-block", "Values": ["10.20.?.0/24"]},
                                          {"Name": "availability-zone",
                                           "Values": ["us-east-1a", "us-east-1c"]}])["Subnets"]
    assert [s["SubnetId"] for s in found] == [network["subnet_a"]]
    group = ec2.describe_security_groups(GroupIds=[network["group"]])["SecurityGroups"][0]
    assert (group["GroupName"], group["Description"], group["VpcId"]) == (
        "training-jobs", "SageMaker jobs", network["vpc"])
    assert group["IpPermissions"] == []
    assert group["IpPermissionsEgress"][0]["IpProtocol"] == "-1"
    # train-vpc.md: distributed training needs members of the group to talk to each other.
    rules = ec2.authorize_security_group_ingress(GroupId=network["group"], IpPermissions=[
        {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": network["group"]}]},
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
         "IpRanges": [{"CidrIp": "10.20.0.0/16", "Description": "https"}]}])
    assert rules["Return"] is True
    assert [r["SecurityGroupRuleId"][:4] for r in rules["SecurityGroupRules"]] == ["sgr-"] * 2
    with pytest.raises(ClientError) as e:
        ec2.authorize_security_group_ingress(GroupId=network["group"], IpProtocol="tcp",
                                             FromPort=443, ToPort=443, CidrIp="10.20.0.0/16")
    assert error_of(e) == ("InvalidPermission.Duplicate", 'the specified rule "peer: '
                           '10.20.0.0/16, TCP, from port: 443, to port: 443, ALLOW" already '
                           "exists")
    ec2.authorize_security_group_egress(GroupId=network["group"], IpPermissions=[
        {"IpProtocol": "udp", "FromPort": 53, "ToPort": 53,
         "IpRanges": [{"CidrIp": "10.20.0.2/32"}]}])
    group = ec2.describe_security_groups(Filters=[
        {"Name": "ip-permission.from-port", "Values": ["443"]}])["SecurityGroups"]
    assert [g["GroupId"] for g in group] == [network["group"]]
    assert {p["IpProtocol"] for p in group[0]["IpPermissionsEgress"]} == {"-1", "udp"}
    with pytest.raises(ClientError) as e:
        ec2.create_security_group(GroupName="training-jobs", Description="again",
                                  VpcId=network["vpc"])
    assert error_of(e) == ("InvalidGroup.Duplicate", "The security group 'training-jobs' "
                           f"already exists for VPC '{network['vpc']}'")
    # Without VpcId the group goes to the default VPC.
    other = ec2.create_security_group(GroupName="training-jobs", Description="default vpc")
    described = ec2.describe_security_groups(GroupNames=["training-jobs"])["SecurityGroups"]
    assert [g["GroupId"] for g in described] == [other["GroupId"]]
    assert ec2.delete_security_group(GroupId=other["GroupId"])["Return"] is True


def test_cidr_errors(ec2: Any, network: dict[str, str]) -> None:
    """CreateVpc and CreateSubnet: blocks from /16 to /28, subnets inside their VPC and not
    overlapping, zones of the region only (EC2 API reference, CreateSubnet)."""
    for cidr in ("10.0.0.0/8", "10.0.0.0/29"):
        with pytest.raises(ClientError) as e:
            ec2.create_vpc(CidrBlock=cidr)
        assert error_of(e) == ("InvalidVpc.Range", f"The CIDR '{cidr}' is invalid.")
    with pytest.raises(ClientError) as e:
        ec2.create_vpc(CidrBlock="10.0.0.0/33")
    assert error_of(e) == ("InvalidParameterValue", "Value (10.0.0.0/33) for parameter "
                           "cidrBlock is invalid. This is not a valid CIDR block.")
    for cidr in ("10.21.0.0/24", "10.20.0.0/29", "10.20.0.0/15"):
        with pytest.raises(ClientError) as e:
            ec2.create_subnet(VpcId=network["vpc"], CidrBlock=cidr)
        assert error_of(e) == ("InvalidSubnet.Range", f"The CIDR '{cidr}' is invalid.")
    with pytest.raises(ClientError) as e:
        ec2.create_subnet(VpcId=network["vpc"], CidrBlock="10.20.1.128/25")
    assert error_of(e) == ("InvalidSubnet.Conflict",
                           "The CIDR '10.20.1.128/25' conflicts with another subnet")
    with pytest.raises(ClientError) as e:
        ec2.create_subnet(VpcId=network["vpc"], CidrBlock="10.20.9.0/24",
                          AvailabilityZone="us-east-1z")
    assert error_of(e) == ("InvalidParameterValue", "Value (us-east-1z) for parameter "
                           "availabilityZone is invalid. Subnets can currently only be created "
                           "in the following availability zones: us-east-1a, us-east-1b, "
                           "us-east-1c.")


def test_network_interface_lifecycle(ec2: Any, network: dict[str, str]) -> None:
    """What SageMaker does for a job with VpcConfig (train-vpc.md): an ENI in the subnet with
    the job's security groups, a private address from the subnet (never one of its five
    reserved addresses), INSTANCE-ATTACH permission, then clean-up."""
    created = ec2.create_network_interface(
        SubnetId=network["subnet_a"], Groups=[network["group"]],
        Description="[SageMaker] training job algo-1", SecondaryPrivateIpAddressCount=1,
        TagSpecifications=[{"ResourceType": "network-interface",
                            "Tags": [{"Key": "job", "Value": "train-1"}]}])["NetworkInterface"]
    eni = created["NetworkInterfaceId"]
    assert eni.startswith("eni-") and len(eni) == 21
    assert created["Status"] == "pending" and created["VpcId"] == network["vpc"]
    assert created["Groups"] == [{"GroupId": network["group"], "GroupName": "training-jobs"}]
    assert created["TagSet"] == [{"Key": "job", "Value": "train-1"}]
    subnet = ipaddress.IPv4Network("10.20.1.0/24")
    usable = set(list(subnet)[4:-1])
    addresses = [a["PrivateIpAddress"] for a in created["PrivateIpAddresses"]]
    assert len(addresses) == 2 and addresses[0] == created["PrivateIpAddress"]
    assert all(ipaddress.IPv4Address(a) in usable for a in addresses)
    assert created["PrivateIpAddresses"][0]["Primary"] is True
    # An address of one's choosing: inside the subnet, not reserved, not taken.
    fixed = ec2.create_network_interface(SubnetId=network["subnet_b"],
                                         PrivateIpAddress="10.20.2.10")["NetworkInterface"]
    assert fixed["PrivateIpAddress"] == "10.20.2.10"
    assert fixed["Groups"][0]["GroupName"] == "default"
    for address, code in (("10.20.2.10", "InvalidIPAddress.InUse"),
                          ("10.20.2.2", "InvalidParameterValue"),
                          ("10.20.3.10", "InvalidParameterValue")):
        with pytest.raises(ClientError) as e:
            ec2.create_network_interface(SubnetId=network["subnet_b"], PrivateIpAddress=address)
        assert error_of(e)[0] == code
    counts = {s["SubnetId"]: s["AvailableIpAddressCount"] for s in ec2.describe_subnets(
        SubnetIds=[network["subnet_a"], network["subnet_b"]])["Subnets"]}
    assert counts == {network["subnet_a"]: 249, network["subnet_b"]: 10}

    found = ec2.describe_network_interfaces(Filters=[
        {"Name": "subnet-id", "Values": [network["subnet_a"]]},
        {"Name": "group-id", "Values": [network["group"]]},
        {"Name": "description", "Values": ["*training job*"]},
        {"Name": "tag:job", "Values": ["train-1"]},
        {"Name": "status", "Values": ["available"]}])["NetworkInterfaces"]
    assert [(n["NetworkInterfaceId"], n["Status"]) for n in found] == [(eni, "available")]
    by_address = ec2.describe_network_interfaces(Filters=[
        {"Name": "addresses.private-ip-address", "Values": [addresses[1]]}])
    assert [n["NetworkInterfaceId"] for n in by_address["NetworkInterfaces"]] == [eni]
    assert ec2.describe_network_interfaces(Filters=[
        {"Name": "vpc-id", "Values": [network["vpc"]]},
        {"Name": "tag-key", "Values": ["nope"]}])["NetworkInterfaces"] == []

    # SageMaker lets its service account attach the interface to the job's instance.
    permission = ec2.create_network_interface_permission(
        NetworkInterfaceId=eni, AwsAccountId="444455556666",
        Permission="INSTANCE-ATTACH")["InterfacePermission"]
    assert permission["NetworkInterfacePermissionId"].startswith("eni-perm-")
    assert permission["PermissionState"] == {"State": "granted"}
    listed = ec2.describe_network_interface_permissions(Filters=[
        {"Name": "network-interface-permission.network-interface-id", "Values": [eni]},
        {"Name": "network-interface-permission.permission", "Values": ["INSTANCE-ATTACH"]}])
    assert [(p["NetworkInterfacePermissionId"], p["AwsAccountId"])
            for p in listed["NetworkInterfacePermissions"]] == [
        (permission["NetworkInterfacePermissionId"], "444455556666")]
    assert ec2.delete_network_interface_permission(
        NetworkInterfacePermissionId=permission["NetworkInterfacePermissionId"])["Return"]
    with pytest.raises(ClientError) as e:
        ec2.delete_network_interface_permission(
            NetworkInterfacePermissionId=permission["NetworkInterfacePermissionId"])
    assert error_of(e)[0] == "InvalidNetworkInterfacePermissionID.NotFound"

    # What an ENI keeps alive cannot be deleted.
    with pytest.raises(ClientError) as e:
        ec2.delete_subnet(SubnetId=network["subnet_b"])
    assert error_of(e) == ("DependencyViolation", f"The subnet '{network['subnet_b']}' has "
                           "dependencies and cannot be deleted.")
    with pytest.raises(ClientError) as e:
        ec2.delete_security_group(GroupId=network["group"])
    assert error_of(e) == ("DependencyViolation",
                           f"resource {network['group']} has a dependent object")
    with pytest.raises(ClientError) as e:
        ec2.delete_vpc(VpcId=network["vpc"])
    assert error_of(e) == ("DependencyViolation", f"The vpc '{network['vpc']}' has "
                           "dependencies and cannot be deleted.")
    ec2.delete_network_interface(NetworkInterfaceId=fixed["NetworkInterfaceId"])
    with pytest.raises(ClientError) as e:
        ec2.describe_network_interfaces(NetworkInterfaceIds=[fixed["NetworkInterfaceId"]])
    assert error_of(e) == ("InvalidNetworkInterfaceID.NotFound", "The networkInterface ID "
                           f"'{fixed['NetworkInterfaceId']}' does not exist")


def test_not_found_errors(ec2: Any, network: dict[str, str]) -> None:
    """Unknown ids answer EC2's <Resource>ID.NotFound codes and messages."""
    cases: list[tuple[Any, dict[str, Any], str, str]] = [
        (ec2.describe_vpcs, {"VpcIds": ["vpc-0123456789abcdef0"]}, "InvalidVpcID.NotFound",
         "The vpc ID 'vpc-0123456789abcdef0' does not exist"),
        (ec2.delete_vpc, {"VpcId": "vpc-x"}, "InvalidVpcID.NotFound",
         "The vpc ID 'vpc-x' does not exist"),
        (ec2.create_subnet, {"VpcId": "vpc-x", "CidrBlock": "10.0.0.0/24"},
         "InvalidVpcID.NotFound", "The vpc ID 'vpc-x' does not exist"),
        (ec2.describe_subnets, {"SubnetIds": [network["subnet_a"], "subnet-x"]},
         "InvalidSubnetID.NotFound", "The subnet ID 'subnet-x' does not exist"),
        (ec2.create_network_interface, {"SubnetId": "subnet-x"}, "InvalidSubnetID.NotFound",
         "The subnet ID 'subnet-x' does not exist"),
        (ec2.create_network_interface, {"SubnetId": network["subnet_a"], "Groups": ["sg-x"]},
         "InvalidSecurityGroupID.NotFound", "The securityGroup ID 'sg-x' does not exist"),
        (ec2.describe_security_groups, {"GroupIds": ["sg-x"]}, "InvalidGroup.NotFound",
         "The security group 'sg-x' does not exist"),
        (ec2.delete_network_interface, {"NetworkInterfaceId": "eni-x"},
         "InvalidNetworkInterfaceID.NotFound", "The networkInterface ID 'eni-x' does not exist"),
        (ec2.create_network_interface_permission,
         {"NetworkInterfaceId": "eni-x", "AwsAccountId": "444455556666",
          "Permission": "INSTANCE-ATTACH"},
         "InvalidNetworkInterfaceID.NotFound", "The networkInterface ID 'eni-x' does not exist"),
        (ec2.create_tags, {"Resources": ["bucket-1"], "Tags": [{"Key": "a", "Value": "b"}]},
         "InvalidID", "The ID 'bucket-1' is not valid"),
        (ec2.describe_vpcs, {"Filters": [{"Name": "colour", "Values": ["blue"]}]},
         "InvalidParameterValue", "The filter 'colour' is invalid"),
    ]
    for method, kwargs, code, message in cases:
        with pytest.raises(ClientError) as e:
            method(**kwargs)
        assert error_of(e) == (code, message), kwargs
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_tags_and_pages(ec2: Any, network: dict[str, str]) -> None:
    """CreateTags/DeleteTags/DescribeTags, and MaxResults/NextToken paging."""
    ec2.create_tags(Resources=[network["subnet_a"], network["group"]],
                    Tags=[{"Key": "team", "Value": "ml"}, {"Key": "tier", "Value": "private"}])
    tags = ec2.describe_tags(Filters=[{"Name": "key", "Values": ["t*"]},
                                      {"Name": "resource-type", "Values": ["subnet"]}])["Tags"]
    assert [(t["ResourceId"], t["Key"], t["Value"]) for t in tags] == [
        (network["subnet_a"], "team", "ml"), (network["subnet_a"], "tier", "private")]
    ec2.delete_tags(Resources=[network["subnet_a"]], Tags=[{"Key": "tier"}])
    ec2.delete_tags(Resources=[network["group"]], Tags=[{"Key": "team", "Value": "other"}])
    remaining = ec2.describe_tags(Filters=[{"Name": "key", "Values": ["team", "tier"]}])["Tags"]
    assert sorted((t["ResourceType"], t["Key"]) for t in remaining) == [
        ("security-group", "team"), ("security-group", "tier"), ("subnet", "team")]
    with pytest.raises(ClientError) as e:
        ec2.create_tags(Resources=[network["vpc"]], Tags=[{"Key": "aws:x", "Value": "y"}])
    assert error_of(e)[0] == "InvalidParameterValue"

    seen: list[str] = []
    token: dict[str, str] = {}
    pages = 0
    while True:
        page = ec2.describe_subnets(MaxResults=5, **token)
        seen += [s["SubnetId"] for s in page["Subnets"]]
        pages += 1
        if "NextToken" not in page:
            break
        token = {"NextToken": page["NextToken"]}
    everything = [s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]]
    assert seen == everything and len(everything) >= 5 and pages == 1 + (len(everything) - 1) // 5
    paginated = ec2.get_paginator("describe_subnets").paginate(PaginationConfig={"PageSize": 5})
    assert [s["SubnetId"] for p in paginated for s in p["Subnets"]] == everything


def test_unauthorized_operation(server: Server, ec2: Any, network: dict[str, str]) -> None:
    """A user without EC2 permissions gets UnauthorizedOperation (HTTP 403) with the engine's
    message; CreateNetworkInterface is authorized on the new interface, the subnet and every
    security group (Service Authorization Reference, Amazon EC2); DryRun answers
    DryRunOperation once authorized."""
    iam: Any = server.client("iam")
    iam.create_user(UserName="no-ec2")
    key = iam.create_access_key(UserName="no-ec2")["AccessKey"]
    stranger: Any = server.client("ec2", key["AccessKeyId"], key["SecretAccessKey"])
    with pytest.raises(ClientError) as e:
        stranger.describe_vpcs()
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert error_of(e) == ("UnauthorizedOperation", (
        f"User: arn:aws:iam::{ACCOUNT_ID}:user/no-ec2 is not authorized to perform: "
        "ec2:DescribeVpcs because no identity-based policy allows the ec2:DescribeVpcs "
        "action"))
    with pytest.raises(ClientError) as e:
        stranger.delete_subnet(SubnetId=network["subnet_a"])
    assert error_of(e) == ("UnauthorizedOperation", (
        f"User: arn:aws:iam::{ACCOUNT_ID}:user/no-ec2 is not authorized to perform: "
        f"ec2:DeleteSubnet on resource: arn:aws:ec2:us-east-1:{ACCOUNT_ID}:subnet/"
        f"{network['subnet_a']} because no identity-based policy allows the ec2:DeleteSubnet "
        "action"))

    iam.create_user(UserName="eni-maker")
    iam.put_user_policy(UserName="eni-maker", PolicyName="Enis", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "ec2:CreateNetworkInterface",
            "Resource": [f"arn:aws:ec2:us-east-1:{ACCOUNT_ID}:network-interface/*",
                         f"arn:aws:ec2:us-east-1:{ACCOUNT_ID}:subnet/{network['subnet_a']}"]}]}))
    key = iam.create_access_key(UserName="eni-maker")["AccessKey"]
    maker: Any = server.client("ec2", key["AccessKeyId"], key["SecretAccessKey"])
    with pytest.raises(ClientError) as e:
        maker.create_network_interface(SubnetId=network["subnet_a"], DryRun=True)
    assert error_of(e) == ("DryRunOperation",
                           "Request would have succeeded, but DryRun flag is set.")
    with pytest.raises(ClientError) as e:
        maker.create_network_interface(SubnetId=network["subnet_a"], Groups=[network["group"]])
    code, message = error_of(e)
    assert code == "UnauthorizedOperation"
    assert f"on resource: arn:aws:ec2:us-east-1:{ACCOUNT_ID}:security-group/" \
           f"{network['group']}" in message
    with pytest.raises(ClientError) as e:
        maker.create_network_interface(SubnetId=network["subnet_b"])
    assert error_of(e)[0] == "UnauthorizedOperation"
    assert f"subnet/{network['subnet_b']}" in error_of(e)[1]
    assert ec2.describe_network_interfaces(Filters=[
        {"Name": "subnet-id", "Values": [network["subnet_b"]]}])["NetworkInterfaces"] == []


def test_restart_keeps_everything(server: Server, ec2: Any, network: dict[str, str]) -> None:
    before_vpcs = ec2.describe_vpcs()["Vpcs"]
    before_enis = ec2.describe_network_interfaces()["NetworkInterfaces"]
    before_groups = ec2.describe_security_groups()["SecurityGroups"]
    permission = ec2.create_network_interface_permission(
        NetworkInterfaceId=before_enis[0]["NetworkInterfaceId"],
        AwsService="sagemaker.amazonaws.com", Permission="INSTANCE-ATTACH")["InterfacePermission"]
    server.restart()
    again: Any = server.client("ec2")
    assert again.describe_vpcs()["Vpcs"] == before_vpcs
    assert again.describe_network_interfaces()["NetworkInterfaces"] == before_enis
    assert again.describe_security_groups()["SecurityGroups"] == before_groups
    kept = again.describe_network_interface_permissions(
        NetworkInterfacePermissionIds=[permission["NetworkInterfacePermissionId"]])
    assert kept["NetworkInterfacePermissions"][0]["AwsService"] == "sagemaker.amazonaws.com"
    # The defaults are not made twice, and deleting the job's network works in order.
    assert len(again.describe_vpcs(Filters=[{"Name": "isDefault",
                                             "Values": ["true"]}])["Vpcs"]) == 1
    for eni in before_enis:
        again.delete_network_interface(NetworkInterfaceId=eni["NetworkInterfaceId"])
    again.delete_security_group(GroupId=network["group"])
    for subnet in ("subnet_a", "subnet_b"):
        again.delete_subnet(SubnetId=network[subnet])
    again.delete_vpc(VpcId=network["vpc"])
    assert [v["VpcId"] for v in again.describe_vpcs()["Vpcs"]] == [
        v["VpcId"] for v in before_vpcs if v["VpcId"] != network["vpc"]]
