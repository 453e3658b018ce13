"""The EC2 provider: the VPC part a SageMaker job needs — VPCs, subnets, security groups,
network interfaces (ENIs) and their permissions, tags, and the read-only views SageMaker and
the SDK consult (availability zones, DHCP options, route tables).

Behaviour follows the Amazon EC2 API reference (botocore's ec2 model documents it) and the
VPC user guide it cites:
- every account has, per region, a default VPC (172.31.0.0/16) with a default subnet per
  availability zone (a /20 each, DefaultForAz, MapPublicIpOnLaunch), created here lazily on
  the first EC2 call in that region; every VPC has a "default" security group (all traffic
  from itself in, all traffic out) and a main route table with the local route;
- VPC and subnet CIDR blocks are /16 to /28; a subnet lies inside its VPC and overlaps no
  other subnet; the first four and the last address of a subnet are reserved;
- ids are `<prefix>-<17 hex digits>`; Describe* take id lists (an unknown id fails the call),
  Filters (values OR, filters AND, `*` and `?` wildcards) and MaxResults/NextToken;
- DryRun answers DryRunOperation once the caller is authorized.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import random
import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..catalog.operations import resolve
from ..store import Database
from .authz import AccessControl
from .base import AWSError, Call

if TYPE_CHECKING:
    from .registry import ResourceSide

AZ_LETTERS = ("a", "b", "c")
DEFAULT_VPC_CIDR = "172.31.0.0/16"
DEFAULT_SUBNET_PREFIX = 20
MIN_PREFIX, MAX_PREFIX = 16, 28
RESERVED_HEAD, RESERVED_TAIL = 4, 1  # the first four and the last address of a subnet
MAX_TAGS = 50
UNAUTHORIZED = "UnauthorizedOperation"
_DIRECTIONS = {"north": "n", "south": "s", "east": "e", "west": "w", "central": "c",
               "northeast": "ne", "southeast": "se", "northwest": "nw", "southwest": "sw"}
_PROTOCOL_NAMES = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6", "all": "-1"}


# --- errors -----------------------------------------------------------------------------


def _error(code: str, message: str) -> AWSError:
    return AWSError(code, message, 400)


def _invalid_value(message: str) -> AWSError:
    return _error("InvalidParameterValue", message)


def _bad_cidr(cidr: str) -> AWSError:
    return _invalid_value(f"Value ({cidr}) for parameter cidrBlock is invalid. This is not a "
                          "valid CIDR block.")


@dataclass(frozen=True)
class Kind:
    """One EC2 resource type: its table, id prefix, tag resource type, not-found error."""

    name: str  # the resource type (TagSpecifications, DescribeTags, the ARN's noun)
    table: str
    prefix: str
    not_found_code: str
    not_found_message: str  # "{}" is the id

    def not_found(self, resource_id: str) -> AWSError:
        return _error(self.not_found_code, self.not_found_message.format(resource_id))

    def arn(self, call: Call, resource_id: str) -> str:
        return f"arn:aws:ec2:{call.region}:{call.caller.account}:{self.name}/{resource_id}"


VPC = Kind("vpc", "ec2_vpcs", "vpc-", "InvalidVpcID.NotFound", "The vpc ID '{}' does not exist")
SUBNET = Kind("subnet", "ec2_subnets", "subnet-", "InvalidSubnetID.NotFound",
              "The subnet ID '{}' does not exist")
GROUP = Kind("security-group", "ec2_security_groups", "sg-", "InvalidGroup.NotFound",
             "The security group '{}' does not exist")
ENI = Kind("network-interface", "ec2_network_interfaces", "eni-",
           "InvalidNetworkInterfaceID.NotFound", "The networkInterface ID '{}' does not exist")
DHCP = Kind("dhcp-options", "ec2_dhcp_options", "dopt-", "InvalidDhcpOptionID.NotFound",
            "The dhcpOption ID '{}' does not exist")
ROUTE_TABLE = Kind("route-table", "ec2_route_tables", "rtb-", "InvalidRouteTableID.NotFound",
                   "The routeTable ID '{}' does not exist")
ENI_PERMISSION = Kind("network-interface-permission", "ec2_eni_permissions", "eni-perm-",
                      "InvalidNetworkInterfacePermissionID.NotFound",
                      "The network interface permission ID '{}' does not exist")
TAGGABLE = (VPC, SUBNET, GROUP, ENI, DHCP, ROUTE_TABLE)


def _kind_of_id(resource_id: str) -> Kind | None:
    if resource_id.startswith(("eni-attach-", "eni-perm-")):
        return None
    return next((k for k in TAGGABLE if resource_id.startswith(k.prefix)), None)


# --- filters (names -> paths into the answer's item, as data) ---------------------------

_TAG_FILTERS = ("tag-key", "tag-value")
VPC_FILTERS = {
    "cidr": "CidrBlock", "cidr-block": "CidrBlock", "cidrBlock": "CidrBlock",
    "cidr-block-association.cidr-block": "CidrBlockAssociationSet.CidrBlock",
    "cidr-block-association.association-id": "CidrBlockAssociationSet.AssociationId",
    "cidr-block-association.state": "CidrBlockAssociationSet.CidrBlockState.State",
    "dhcp-options-id": "DhcpOptionsId", "is-default": "IsDefault", "isDefault": "IsDefault",
    "owner-id": "OwnerId", "state": "State", "vpc-id": "VpcId",
}
SUBNET_FILTERS = {
    "availability-zone": "AvailabilityZone", "availabilityZone": "AvailabilityZone",
    "availability-zone-id": "AvailabilityZoneId", "availabilityZoneId": "AvailabilityZoneId",
    "available-ip-address-count": "AvailableIpAddressCount",
    "cidr-block": "CidrBlock", "cidrBlock": "CidrBlock", "cidr": "CidrBlock",
    "default-for-az": "DefaultForAz", "defaultForAz": "DefaultForAz",
    "enable-dns64": "EnableDns64", "ipv6-native": "Ipv6Native",
    "map-customer-owned-ip-on-launch": "MapCustomerOwnedIpOnLaunch",
    "map-public-ip-on-launch": "MapPublicIpOnLaunch", "owner-id": "OwnerId",
    "state": "State", "subnet-arn": "SubnetArn", "subnet-id": "SubnetId", "vpc-id": "VpcId",
}
_RULE_FILTERS = {
    "cidr": "IpRanges.CidrIp", "from-port": "FromPort", "to-port": "ToPort",
    "group-id": "UserIdGroupPairs.GroupId", "group-name": "UserIdGroupPairs.GroupName",
    "ipv6-cidr": "Ipv6Ranges.CidrIpv6", "prefix-list-id": "PrefixListIds.PrefixListId",
    "protocol": "IpProtocol", "user-id": "UserIdGroupPairs.UserId",
}
GROUP_FILTERS = {
    "description": "Description", "group-id": "GroupId", "group-name": "GroupName",
    "owner-id": "OwnerId", "vpc-id": "VpcId",
    **{f"ip-permission.{k}": f"IpPermissions.{v}" for k, v in _RULE_FILTERS.items()},
    **{f"egress.ip-permission.{k}": f"IpPermissionsEgress.{v}"
       for k, v in _RULE_FILTERS.items()},
}
ENI_FILTERS = {
    "addresses.primary": "PrivateIpAddresses.Primary",
    "addresses.private-ip-address": "PrivateIpAddresses.PrivateIpAddress",
    "attachment.attachment-id": "Attachment.AttachmentId",
    "attachment.instance-id": "Attachment.InstanceId",
    "attachment.instance-owner-id": "Attachment.InstanceOwnerId",
    "attachment.status": "Attachment.Status",
    "availability-zone": "AvailabilityZone", "availability-zone-id": "AvailabilityZoneId",
    "description": "Description", "group-id": "Groups.GroupId",
    "group-name": "Groups.GroupName", "interface-type": "InterfaceType",
    "mac-address": "MacAddress", "network-interface-id": "NetworkInterfaceId",
    "owner-id": "OwnerId", "private-dns-name": "PrivateDnsName",
    "private-ip-address": "PrivateIpAddress", "requester-id": "RequesterId",
    "requester-managed": "RequesterManaged", "source-dest-check": "SourceDestCheck",
    "status": "Status", "subnet-id": "SubnetId", "vpc-id": "VpcId",
}
PERMISSION_FILTERS = {
    "network-interface-permission.network-interface-permission-id":
        "NetworkInterfacePermissionId",
    "network-interface-permission.network-interface-id": "NetworkInterfaceId",
    "network-interface-permission.aws-account-id": "AwsAccountId",
    "network-interface-permission.aws-service": "AwsService",
    "network-interface-permission.permission": "Permission",
}
AZ_FILTERS = {
    "group-name": "GroupName", "message": "Messages.Message", "opt-in-status": "OptInStatus",
    "region-name": "RegionName", "state": "State", "zone-id": "ZoneId",
    "zone-name": "ZoneName", "zone-type": "ZoneType",
    "network-border-group": "NetworkBorderGroup",
}
DHCP_FILTERS = {
    "dhcp-options-id": "DhcpOptionsId", "key": "DhcpConfigurations.Key",
    "value": "DhcpConfigurations.Values.Value", "owner-id": "OwnerId",
}
ROUTE_TABLE_FILTERS = {
    "association.route-table-association-id": "Associations.RouteTableAssociationId",
    "association.route-table-id": "Associations.RouteTableId",
    "association.subnet-id": "Associations.SubnetId", "association.main": "Associations.Main",
    "owner-id": "OwnerId", "route-table-id": "RouteTableId",
    "route.destination-cidr-block": "Routes.DestinationCidrBlock",
    "route.gateway-id": "Routes.GatewayId", "route.origin": "Routes.Origin",
    "route.state": "Routes.State", "vpc-id": "VpcId",
}
TAG_DESCRIPTION_FILTERS = {"key": "Key", "value": "Value", "resource-id": "ResourceId",
                           "resource-type": "ResourceType"}


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _values_at(item: Any, path: str) -> list[str]:
    """Every value at a dotted path; lists on the way are flattened."""
    current: list[Any] = [item]
    for part in path.split("."):
        following: list[Any] = []
        for node in current:
            value = node.get(part) if isinstance(node, dict) else None
            if isinstance(value, list):
                following.extend(value)
            elif value is not None:
                following.append(value)
        current = following
    return [_scalar(v) for v in current]


def _wildcard(pattern: str) -> re.Pattern[str]:
    """EC2 filter values: `*` any characters, `?` one, a backslash escapes the next."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "*" else "." if ch == "?" else re.escape(ch))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def _filter_items(items: list[dict[str, Any]], filters: Iterable[Mapping[str, Any]] | None,
                  names: Mapping[str, str], tags_field: str | None) -> list[dict[str, Any]]:
    checks: list[Callable[[dict[str, Any]], bool]] = []
    for f in filters or []:
        name = str(f.get("Name") or "")
        patterns = [_wildcard(str(v)) for v in f.get("Values") or []]
        getter: Callable[[dict[str, Any]], list[str]]
        if tags_field and name.startswith("tag:"):
            key = name[4:]
            getter = _tag_values(tags_field, key)
        elif tags_field and name in _TAG_FILTERS:
            getter = _tag_part(tags_field, "Key" if name == "tag-key" else "Value")
        elif name in names:
            path = names[name]
            getter = _path_getter(path)
        else:
            raise _invalid_value(f"The filter '{name}' is invalid")
        checks.append(_check(getter, patterns))
    return [item for item in items if all(check(item) for check in checks)]


def _tag_values(field: str, key: str) -> Callable[[dict[str, Any]], list[str]]:
    return lambda item: [t["Value"] for t in item.get(field) or [] if t["Key"] == key]


def _tag_part(field: str, part: str) -> Callable[[dict[str, Any]], list[str]]:
    return lambda item: [t[part] for t in item.get(field) or []]


def _path_getter(path: str) -> Callable[[dict[str, Any]], list[str]]:
    return lambda item: _values_at(item, path)


def _check(getter: Callable[[dict[str, Any]], list[str]],
           patterns: list[re.Pattern[str]]) -> Callable[[dict[str, Any]], bool]:
    return lambda item: any(p.fullmatch(v) for v in getter(item) for p in patterns)


def _page(items: list[dict[str, Any]], p: Mapping[str, Any], key: str) -> dict[str, Any]:
    token = p.get("NextToken")
    offset = 0
    if token:
        try:
            offset = int(json.loads(base64.urlsafe_b64decode(str(token).encode()))["o"])
        except (ValueError, KeyError, TypeError):
            raise _error("InvalidNextToken", f"The token '{token}' is invalid") from None
    limit = p.get("MaxResults")
    end = len(items) if not limit else offset + int(limit)
    out: dict[str, Any] = {key: items[offset:end]}
    if end < len(items):
        out["NextToken"] = base64.urlsafe_b64encode(json.dumps({"o": end}).encode()).decode()
    return out


# --- small helpers ----------------------------------------------------------------------


def _new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(9)[:17]


def _mac() -> str:
    return "02:" + ":".join(f"{b:02x}" for b in secrets.token_bytes(5))


def az_id(region: str, zone: str) -> str:
    """AZ ids as AWS spells them (use1-az1, euw2-az3, apse1-az2): the region's short name.
    Which zone name maps to which id differs per account in AWS; here a→az1, b→az2, ..."""
    parts = region.split("-")
    short = parts[0] + "".join(_DIRECTIONS.get(p, p[:1]) for p in parts[1:-1]) + parts[-1]
    return f"{short}-az{ord(zone[-1]) - ord('a') + 1}"


def _zones(region: str) -> list[str]:
    return [region + letter for letter in AZ_LETTERS]


def _domain(region: str) -> str:
    return "ec2.internal" if region == "us-east-1" else f"{region}.compute.internal"


def _network(cidr: str) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(cidr, strict=False)
    except (ValueError, TypeError):
        raise _bad_cidr(cidr) from None


def _tags_of(specs: Iterable[Mapping[str, Any]] | None, resource_type: str) -> list[dict[str, str]]:
    """Tags from TagSpecifications, which must name the type the operation creates."""
    tags: list[dict[str, str]] = []
    for spec in specs or []:
        if spec.get("ResourceType") != resource_type:
            raise _invalid_value(f"'{spec.get('ResourceType')}' is not a valid taggable "
                                 "resource type for this operation.")
        for tag in spec.get("Tags") or []:
            tags.append({"Key": str(tag["Key"]), "Value": str(tag.get("Value") or "")})
    _check_tag_keys(tags)
    return tags


def _check_tag_keys(tags: Iterable[Mapping[str, Any]]) -> None:
    for tag in tags:
        key = str(tag.get("Key") or "")
        if key.lower().startswith("aws:"):
            raise _invalid_value(f"Value ( {key} ) for parameter key is invalid. Tag keys "
                                 "starting with 'aws:' are reserved for internal use")


def _dry_run(p: Mapping[str, Any]) -> None:
    if p.get("DryRun"):
        raise AWSError("DryRunOperation", "Request would have succeeded, but DryRun flag is "
                       "set.", 412)


def _ids(values: Iterable[Any] | None) -> list[str]:
    return [str(v) for v in values or []]


class EC2Service:
    name = "ec2"

    def __init__(self, db: Database, access: AccessControl | None = None) -> None:
        self.db = db
        self.access = access
        self._ready: set[tuple[str, str]] = set()

    # --- the account's region: default VPC, subnets, security group, DHCP options ---------

    def _scope(self, call: Call) -> tuple[str, str]:
        """(account, region), creating the region's defaults on first use."""
        key = (call.caller.account, call.region)
        if key in self._ready:
            return key
        with self.db.transaction() as conn:
            if conn.execute("SELECT 1 FROM ec2_regions WHERE account=? AND region=?",
                            key).fetchone() is None:
                self._create_defaults(conn, *key)
        self._ready.add(key)
        return key

    def _create_defaults(self, conn: Any, account: str, region: str) -> None:
        now = time.time()
        dhcp_id = _new_id(DHCP.prefix)
        config = [{"Key": "domain-name", "Values": [{"Value": _domain(region)}]},
                  {"Key": "domain-name-servers", "Values": [{"Value": "AmazonProvidedDNS"}]}]
        conn.execute("INSERT INTO ec2_dhcp_options(id, account, region, config, created) "
                     "VALUES (?, ?, ?, ?, ?)", (dhcp_id, account, region, json.dumps(config),
                                                now))
        vpc_id = self._insert_vpc(conn, account, region, DEFAULT_VPC_CIDR, True, "default",
                                  dhcp_id)
        network = ipaddress.IPv4Network(DEFAULT_VPC_CIDR)
        for zone, cidr in zip(_zones(region), network.subnets(new_prefix=DEFAULT_SUBNET_PREFIX),
                              strict=False):
            conn.execute("INSERT INTO ec2_subnets(id, account, region, vpc_id, cidr, az, "
                         "default_for_az, map_public_ip, created) VALUES (?,?,?,?,?,?,1,1,?)",
                         (_new_id(SUBNET.prefix), account, region, vpc_id, str(cidr), zone,
                          now))
        conn.execute("INSERT INTO ec2_regions(account, region, created) VALUES (?, ?, ?)",
                     (account, region, now))

    def _insert_vpc(self, conn: Any, account: str, region: str, cidr: str, is_default: bool,
                    tenancy: str, dhcp_id: str) -> str:
        """A VPC with its default security group and main route table (VPC user guide)."""
        now = time.time()
        vpc_id = _new_id(VPC.prefix)
        conn.execute("INSERT INTO ec2_vpcs(id, account, region, cidr, cidr_association, "
                     "is_default, tenancy, dhcp_options_id, created) VALUES (?,?,?,?,?,?,?,?,?)",
                     (vpc_id, account, region, cidr, _new_id("vpc-cidr-assoc-"),
                      int(is_default), tenancy, dhcp_id, now))
        group_id = _new_id(GROUP.prefix)
        conn.execute("INSERT INTO ec2_security_groups(id, account, region, vpc_id, name, "
                     "description, created) VALUES (?,?,?,?,?,?,?)",
                     (group_id, account, region, vpc_id, "default",
                      "default VPC security group", now))
        self._insert_rule(conn, group_id, False, "-1", None, None, ref_group=group_id,
                          ref_user=account)
        self._insert_rule(conn, group_id, True, "-1", None, None, cidr_ipv4="0.0.0.0/0")
        conn.execute("INSERT INTO ec2_route_tables(id, account, region, vpc_id, "
                     "main_association, created) VALUES (?,?,?,?,?,?)",
                     (_new_id(ROUTE_TABLE.prefix), account, region, vpc_id,
                      _new_id("rtbassoc-"), now))
        return vpc_id

    def _insert_rule(self, conn: Any, group_id: str, egress: bool, protocol: str,
                     from_port: int | None, to_port: int | None, *, cidr_ipv4: str | None = None,
                     cidr_ipv6: str | None = None, prefix_list: str | None = None,
                     ref_group: str | None = None, ref_user: str | None = None,
                     description: str | None = None) -> str:
        rule_id = _new_id("sgr-")
        position = conn.execute("SELECT COALESCE(MAX(position), 0) + 1 FROM "
                                "ec2_security_group_rules WHERE group_id=?",
                                (group_id,)).fetchone()[0]
        conn.execute("INSERT INTO ec2_security_group_rules(id, group_id, egress, protocol, "
                     "from_port, to_port, cidr_ipv4, cidr_ipv6, prefix_list_id, ref_group_id, "
                     "ref_user_id, description, position) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                     (rule_id, group_id, int(egress), protocol, from_port, to_port, cidr_ipv4,
                      cidr_ipv6, prefix_list, ref_group, ref_user, description, position))
        return rule_id

    # --- lookups --------------------------------------------------------------------------

    def _row(self, call: Call, kind: Kind, resource_id: str) -> Any:
        account, region = self._scope(call)
        row = self.db.one(f"SELECT * FROM {kind.table} WHERE id=? AND account=? AND region=?",
                          (resource_id, account, region))
        if row is None:
            raise kind.not_found(resource_id)
        return row

    def _rows(self, call: Call, kind: Kind, ids: list[str]) -> list[Any]:
        """The region's rows of a kind, in creation order; every id given must exist."""
        account, region = self._scope(call)
        rows = self.db.query(f"SELECT * FROM {kind.table} WHERE account=? AND region=? "
                             "ORDER BY created, rowid", (account, region))
        if not ids:
            return list(rows)
        by_id = {r["id"]: r for r in rows}
        for resource_id in ids:
            if resource_id not in by_id:
                raise kind.not_found(resource_id)
        wanted = set(ids)
        return [r for r in rows if r["id"] in wanted]

    def _tags(self, call: Call,
              ids: Iterable[str] | None = None) -> dict[str, list[dict[str, str]]]:
        account, region = self._scope(call)
        out: dict[str, list[dict[str, str]]] = {}
        wanted = None if ids is None else set(ids)
        for r in self.db.query("SELECT resource_id, key, value FROM ec2_tags WHERE account=? "
                               "AND region=? ORDER BY key", (account, region)):
            if wanted is None or r["resource_id"] in wanted:
                out.setdefault(r["resource_id"], []).append({"Key": r["key"],
                                                             "Value": r["value"]})
        return out

    def _default_vpc(self, call: Call) -> Any:
        account, region = self._scope(call)
        return self.db.one("SELECT * FROM ec2_vpcs WHERE account=? AND region=? AND "
                           "is_default=1", (account, region))

    def _write_tags(self, conn: Any, call: Call, resource_id: str, kind: Kind,
                    tags: Iterable[Mapping[str, Any]]) -> None:
        for tag in tags:
            conn.execute("INSERT OR REPLACE INTO ec2_tags(resource_id, key, value, account, "
                         "region, resource_type) VALUES (?,?,?,?,?,?)",
                         (resource_id, str(tag["Key"]), str(tag.get("Value") or ""),
                          call.caller.account, call.region, kind.name))
        count = conn.execute("SELECT COUNT(*) FROM ec2_tags WHERE resource_id=?",
                             (resource_id,)).fetchone()[0]
        if count > MAX_TAGS:
            raise _error("TagLimitExceeded", "The maximum number of Tags for a resource has "
                         "been reached.")

    # --- authorization: what the endpoint's single check does not cover -----------------

    def authorization(self, call: Call, operation: str, params: Mapping[str, Any], action: str,
                      resource: str) -> ResourceSide:
        """Condition keys for the endpoint's check (registry.ResourceSide): ec2:Region, the
        request's tags, and keys read from the resource the ARN names (its tags, ec2:Vpc,
        ec2:SubnetID, ec2:AvailabilityZone, ...)."""
        from .registry import ResourceSide  # registry imports this module

        return ResourceSide(context=self._context(call, operation, params, resource))

    def _context(self, call: Call, operation: str, params: Mapping[str, Any],
                 resource: str) -> dict[str, Any]:
        context: dict[str, Any] = {"ec2:Region": call.region}
        tags = [t for s in params.get("TagSpecifications") or [] for t in s.get("Tags") or []]
        for tag in tags:
            context[f"aws:RequestTag/{tag['Key']}"] = str(tag.get("Value") or "")
        if tags:
            context["aws:TagKeys"] = [str(t["Key"]) for t in tags]
        if operation == "CreateNetworkInterfacePermission":
            if params.get("Permission"):
                context["ec2:Permission"] = params["Permission"]
            if params.get("AwsAccountId"):
                context["ec2:AuthorizedUser"] = params["AwsAccountId"]
            if params.get("AwsService"):
                context["ec2:AuthorizedService"] = params["AwsService"]
        context.update(self._resource_keys(call, resource))
        return context

    def _resource_keys(self, call: Call, arn: str) -> dict[str, Any]:
        """aws:ResourceTag/*, ec2:ResourceTag/* and the attribute keys of a stored resource."""
        noun, _, resource_id = arn.rpartition(":")[2].partition("/")
        kind = next((k for k in TAGGABLE if k.name == noun), None)
        if kind is None or not resource_id or "*" in resource_id:
            return {}
        account, region = call.caller.account, call.region
        row = self.db.one(f"SELECT * FROM {kind.table} WHERE id=? AND account=? AND region=?",
                          (resource_id, account, region))
        if row is None:
            return {}
        keys: dict[str, Any] = {}
        for t in self.db.query("SELECT key, value FROM ec2_tags WHERE resource_id=?",
                               (resource_id,)):
            keys[f"aws:ResourceTag/{t['key']}"] = t["value"]
            keys[f"ec2:ResourceTag/{t['key']}"] = t["value"]
        if kind is VPC:
            keys.update({"ec2:VpcID": resource_id, "ec2:Tenancy": row["tenancy"]})
        elif kind is SUBNET:
            keys.update({"ec2:SubnetID": resource_id, "ec2:Vpc": VPC.arn(call, row["vpc_id"]),
                         "ec2:AvailabilityZone": row["az"],
                         "ec2:AvailabilityZoneId": az_id(region, row["az"])})
        elif kind is GROUP:
            keys.update({"ec2:SecurityGroupID": resource_id,
                         "ec2:Vpc": VPC.arn(call, row["vpc_id"])})
        elif kind is ENI:
            keys.update({"ec2:NetworkInterfaceID": resource_id,
                         "ec2:Subnet": SUBNET.arn(call, row["subnet_id"]),
                         "ec2:Vpc": VPC.arn(call, row["vpc_id"]),
                         "ec2:AvailabilityZone": row["az"]})
        return keys

    def _authorize_also(self, call: Call, operation: str, params: Mapping[str, Any],
                        resources: list[str], *, tagged: str | None = None) -> None:
        """AWS authorizes some EC2 actions on several resources (CreateNetworkInterface: the
        new interface, the subnet and each security group; Service Authorization Reference,
        Amazon EC2). The endpoint checks the one ARN catalog/operations resolves; this checks
        the others, and ec2:CreateTags for tags given on create (ec2:CreateAction)."""
        if self.access is None:
            return
        resolved = resolve("ec2", operation, params, account=call.caller.account,
                           region=call.region, path_of=lambda kind, name: None)
        done = {resolved.resource} if resolved is not None else set()
        for arn in resources:
            if arn in done:
                continue
            done.add(arn)
            self.access.require(call, f"ec2:{operation}", arn,
                                self._context(call, operation, params, arn),
                                error_code=UNAUTHORIZED)
        if tagged and params.get("TagSpecifications"):
            context = self._context(call, operation, params, tagged)
            context["ec2:CreateAction"] = operation
            self.access.require(call, "ec2:CreateTags", tagged, context,
                                error_code=UNAUTHORIZED)

    def _new_arn(self, call: Call, kind: Kind) -> str:
        return kind.arn(call, "*")

    # --- VPCs -----------------------------------------------------------------------------

    def _vpc_out(self, call: Call, r: Any, tags: list[dict[str, str]] | None,
                 state: str = "available") -> dict[str, Any]:
        out: dict[str, Any] = {
            "CidrBlock": r["cidr"], "DhcpOptionsId": r["dhcp_options_id"], "State": state,
            "VpcId": r["id"], "OwnerId": r["account"], "InstanceTenancy": r["tenancy"],
            "CidrBlockAssociationSet": [{"AssociationId": r["cidr_association"],
                                         "CidrBlock": r["cidr"],
                                         "CidrBlockState": {"State": "associated"}}],
            "IsDefault": bool(r["is_default"]),
            "BlockPublicAccessStates": {"InternetGatewayBlockMode": "off"},
        }
        if tags:
            out["Tags"] = tags
        return out

    def CreateVpc(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        tags = _tags_of(p.get("TagSpecifications"), VPC.name)
        self._authorize_also(call, "CreateVpc", p, [self._new_arn(call, VPC)],
                             tagged=self._new_arn(call, VPC))
        _dry_run(p)
        cidr = p.get("CidrBlock")
        if not cidr:
            raise _error("MissingParameter", "The request must contain the parameter "
                         "cidrBlock")
        network = _network(str(cidr))
        if not MIN_PREFIX <= network.prefixlen <= MAX_PREFIX:
            raise _error("InvalidVpc.Range", f"The CIDR '{cidr}' is invalid.")
        account, region = self._scope(call)
        dhcp = self.db.one("SELECT id FROM ec2_dhcp_options WHERE account=? AND region=? "
                           "ORDER BY rowid LIMIT 1", (account, region))
        with self.db.transaction() as conn:
            vpc_id = self._insert_vpc(conn, account, region, str(network), False,
                                      str(p.get("InstanceTenancy") or "default"),
                                      dhcp["id"] if dhcp else "default")
            self._write_tags(conn, call, vpc_id, VPC, tags)
        return {"Vpc": self._vpc_out(call, self._row(call, VPC, vpc_id), tags, "pending")}

    def DescribeVpcs(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        _dry_run(p)
        rows = self._rows(call, VPC, _ids(p.get("VpcIds")))
        tags = self._tags(call)
        items = [self._vpc_out(call, r, tags.get(r["id"])) for r in rows]
        return _page(_filter_items(items, p.get("Filters"), VPC_FILTERS, "Tags"), p, "Vpcs")

    def DeleteVpc(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        _dry_run(p)
        vpc_id = str(p["VpcId"])
        self._row(call, VPC, vpc_id)
        with self.db.transaction() as conn:
            busy = conn.execute(
                "SELECT 1 FROM ec2_subnets WHERE vpc_id=? UNION ALL "
                "SELECT 1 FROM ec2_network_interfaces WHERE vpc_id=? UNION ALL "
                "SELECT 1 FROM ec2_security_groups WHERE vpc_id=? AND name != 'default'",
                (vpc_id, vpc_id, vpc_id)).fetchone()
            if busy:
                raise _error("DependencyViolation", f"The vpc '{vpc_id}' has dependencies "
                             "and cannot be deleted.")
            groups = [r[0] for r in conn.execute("SELECT id FROM ec2_security_groups WHERE "
                                                 "vpc_id=?", (vpc_id,))]
            tables = [r[0] for r in conn.execute("SELECT id FROM ec2_route_tables WHERE "
                                                 "vpc_id=?", (vpc_id,))]
            for group_id in groups:
                conn.execute("DELETE FROM ec2_security_group_rules WHERE group_id=?",
                             (group_id,))
            for resource_id in [vpc_id, *groups, *tables]:
                conn.execute("DELETE FROM ec2_tags WHERE resource_id=?", (resource_id,))
            conn.execute("DELETE FROM ec2_security_groups WHERE vpc_id=?", (vpc_id,))
            conn.execute("DELETE FROM ec2_route_tables WHERE vpc_id=?", (vpc_id,))
            conn.execute("DELETE FROM ec2_vpcs WHERE id=?", (vpc_id,))
        return {}

    # --- subnets --------------------------------------------------------------------------

    def _used_addresses(self, subnet_id: str) -> set[str]:
        return {r["address"] for r in self.db.query(
            "SELECT address FROM ec2_eni_addresses WHERE subnet_id=?", (subnet_id,))}

    def _subnet_out(self, call: Call, r: Any, tags: list[dict[str, str]] | None,
                    state: str = "available") -> dict[str, Any]:
        network = ipaddress.IPv4Network(r["cidr"])
        used = self.db.one("SELECT COUNT(*) AS n FROM ec2_eni_addresses WHERE subnet_id=?",
                           (r["id"],))
        free = network.num_addresses - RESERVED_HEAD - RESERVED_TAIL - (used["n"] if used else 0)
        out: dict[str, Any] = {
            "AvailabilityZone": r["az"], "AvailabilityZoneId": az_id(call.region, r["az"]),
            "AvailableIpAddressCount": free, "CidrBlock": r["cidr"],
            "DefaultForAz": bool(r["default_for_az"]),
            "MapPublicIpOnLaunch": bool(r["map_public_ip"]), "State": state,
            "SubnetId": r["id"], "VpcId": r["vpc_id"], "OwnerId": r["account"],
            "AssignIpv6AddressOnCreation": False, "Ipv6CidrBlockAssociationSet": [],
            "SubnetArn": SUBNET.arn(call, r["id"]), "EnableDns64": False, "Ipv6Native": False,
            "MapCustomerOwnedIpOnLaunch": False,
            "PrivateDnsNameOptionsOnLaunch": {"HostnameType": "ip-name",
                                              "EnableResourceNameDnsARecord": False,
                                              "EnableResourceNameDnsAAAARecord": False},
            "BlockPublicAccessStates": {"InternetGatewayBlockMode": "off"},
        }
        if tags:
            out["Tags"] = tags
        return out

    def _zone(self, call: Call, p: Mapping[str, Any], vpc_id: str) -> str:
        zones = _zones(call.region)
        if p.get("AvailabilityZone"):
            zone = str(p["AvailabilityZone"])
            if zone not in zones:
                raise _invalid_value(f"Value ({zone}) for parameter availabilityZone is "
                                     "invalid. Subnets can currently only be created in the "
                                     f"following availability zones: {', '.join(zones)}.")
            return zone
        if p.get("AvailabilityZoneId"):
            by_id = {az_id(call.region, z): z for z in zones}
            zone_id = str(p["AvailabilityZoneId"])
            if zone_id not in by_id:
                raise _invalid_value(f"Value ({zone_id}) for parameter availabilityZoneId is "
                                     "invalid. Subnets can currently only be created in the "
                                     f"following availability zones: {', '.join(by_id)}.")
            return by_id[zone_id]
        counts = {z: 0 for z in zones}
        for r in self.db.query("SELECT az FROM ec2_subnets WHERE vpc_id=?", (vpc_id,)):
            counts[r["az"]] = counts.get(r["az"], 0) + 1
        return min(zones, key=lambda z: counts[z])

    def CreateSubnet(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        tags = _tags_of(p.get("TagSpecifications"), SUBNET.name)
        vpc_id = str(p["VpcId"])
        self._authorize_also(call, "CreateSubnet", p,
                             [self._new_arn(call, SUBNET), VPC.arn(call, vpc_id)],
                             tagged=self._new_arn(call, SUBNET))
        _dry_run(p)
        vpc = self._row(call, VPC, vpc_id)
        cidr = p.get("CidrBlock")
        if not cidr:
            raise _error("MissingParameter", "The request must contain the parameter "
                         "cidrBlock")
        network = _network(str(cidr))
        if not MIN_PREFIX <= network.prefixlen <= MAX_PREFIX or \
                not network.subnet_of(ipaddress.IPv4Network(vpc["cidr"])):
            raise _error("InvalidSubnet.Range", f"The CIDR '{cidr}' is invalid.")
        zone = self._zone(call, p, vpc_id)
        account, region = self._scope(call)
        subnet_id = _new_id(SUBNET.prefix)
        with self.db.transaction() as conn:
            for other in conn.execute("SELECT cidr FROM ec2_subnets WHERE vpc_id=?", (vpc_id,)):
                if network.overlaps(ipaddress.IPv4Network(other["cidr"])):
                    raise _error("InvalidSubnet.Conflict", f"The CIDR '{cidr}' conflicts with "
                                 "another subnet")
            conn.execute("INSERT INTO ec2_subnets(id, account, region, vpc_id, cidr, az, "
                         "default_for_az, map_public_ip, created) VALUES (?,?,?,?,?,?,0,0,?)",
                         (subnet_id, account, region, vpc_id, str(network), zone, time.time()))
            self._write_tags(conn, call, subnet_id, SUBNET, tags)
        return {"Subnet": self._subnet_out(call, self._row(call, SUBNET, subnet_id), tags,
                                           "pending")}

    def DescribeSubnets(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        _dry_run(p)
        rows = self._rows(call, SUBNET, _ids(p.get("SubnetIds")))
        tags = self._tags(call)
        items = [self._subnet_out(call, r, tags.get(r["id"])) for r in rows]
        return _page(_filter_items(items, p.get("Filters"), SUBNET_FILTERS, "Tags"), p,
                     "Subnets")

    def DeleteSubnet(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        _dry_run(p)
        subnet_id = str(p["SubnetId"])
        self._row(call, SUBNET, subnet_id)
        with self.db.transaction() as conn:
            if conn.execute("SELECT 1 FROM ec2_network_interfaces WHERE subnet_id=?",
                            (subnet_id,)).fetchone():
                raise _error("DependencyViolation", f"The subnet '{subnet_id}' has "
                             "dependencies and cannot be deleted.")
            conn.execute("DELETE FROM ec2_tags WHERE resource_id=?", (subnet_id,))
            conn.execute("DELETE FROM ec2_subnets WHERE id=?", (subnet_id,))
        return {}

    # --- security groups ------------------------------------------------------------------

    def _group_out(self, call: Call, r: Any, tags: list[dict[str, str]] | None,
                   names: Mapping[str, str]) -> dict[str, Any]:
        rules = self.db.query("SELECT * FROM ec2_security_group_rules WHERE group_id=? ORDER "
                              "BY position", (r["id"],))
        out: dict[str, Any] = {
            "Description": r["description"], "GroupName": r["name"], "GroupId": r["id"],
            "OwnerId": r["account"], "VpcId": r["vpc_id"],
            "SecurityGroupArn": GROUP.arn(call, r["id"]),
            "IpPermissions": _permissions([x for x in rules if not x["egress"]], names),
            "IpPermissionsEgress": _permissions([x for x in rules if x["egress"]], names),
        }
        if tags:
            out["Tags"] = tags
        return out

    def _group_names(self, call: Call) -> dict[str, str]:
        account, region = self._scope(call)
        return {r["id"]: r["name"] for r in self.db.query(
            "SELECT id, name FROM ec2_security_groups WHERE account=? AND region=?",
            (account, region))}

    def CreateSecurityGroup(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        tags = _tags_of(p.get("TagSpecifications"), GROUP.name)
        name, description = str(p["GroupName"]), str(p["Description"])
        vpc_id = p.get("VpcId")
        if not vpc_id:
            default = self._default_vpc(call)
            if default is None:
                raise _error("VPCIdNotSpecified", "No default VPC for this user")
            vpc_id = default["id"]
        vpc_id = str(vpc_id)
        self._authorize_also(call, "CreateSecurityGroup", p,
                             [self._new_arn(call, GROUP), VPC.arn(call, vpc_id)],
                             tagged=self._new_arn(call, GROUP))
        _dry_run(p)
        if name.lower().startswith("sg-"):
            raise _invalid_value(f"Value ({name}) for parameter GroupName is invalid. Group "
                                 "names may not be in the format sg-*.")
        self._row(call, VPC, vpc_id)
        account, region = self._scope(call)
        group_id = _new_id(GROUP.prefix)
        with self.db.transaction() as conn:
            if conn.execute("SELECT 1 FROM ec2_security_groups WHERE vpc_id=? AND name=?",
                            (vpc_id, name)).fetchone():
                raise _error("InvalidGroup.Duplicate", f"The security group '{name}' already "
                             f"exists for VPC '{vpc_id}'")
            conn.execute("INSERT INTO ec2_security_groups(id, account, region, vpc_id, name, "
                         "description, created) VALUES (?,?,?,?,?,?,?)",
                         (group_id, account, region, vpc_id, name, description, time.time()))
            self._insert_rule(conn, group_id, True, "-1", None, None, cidr_ipv4="0.0.0.0/0")
            self._write_tags(conn, call, group_id, GROUP, tags)
        out: dict[str, Any] = {"GroupId": group_id,
                               "SecurityGroupArn": GROUP.arn(call, group_id)}
        if tags:
            out["Tags"] = tags
        return out

    def _group_by_name(self, call: Call, name: str) -> Any:
        default = self._default_vpc(call)
        row = None if default is None else self.db.one(
            "SELECT * FROM ec2_security_groups WHERE vpc_id=? AND name=?", (default["id"], name))
        if row is None:
            where = f" in default VPC '{default['id']}'" if default is not None else ""
            raise _error(GROUP.not_found_code, f"The security group '{name}' does not "
                         f"exist{where}")
        return row

    def _group_of(self, call: Call, p: Mapping[str, Any]) -> Any:
        if p.get("GroupId"):
            return self._row(call, GROUP, str(p["GroupId"]))
        if p.get("GroupName"):
            return self._group_by_name(call, str(p["GroupName"]))
        raise _error("MissingParameter", "The request must contain the parameter groupName or "
                     "groupId")

    def DescribeSecurityGroups(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        _dry_run(p)
        rows = self._rows(call, GROUP, _ids(p.get("GroupIds")))
        if p.get("GroupNames"):
            wanted = {self._group_by_name(call, str(n))["id"] for n in p["GroupNames"]}
            rows = [r for r in rows if r["id"] in wanted]
        tags = self._tags(call)
        names = self._group_names(call)
        items = [self._group_out(call, r, tags.get(r["id"]), names) for r in rows]
        return _page(_filter_items(items, p.get("Filters"), GROUP_FILTERS, "Tags"), p,
                     "SecurityGroups")

    def DeleteSecurityGroup(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        group = self._group_of(call, p)
        group_id = group["id"]
        self._authorize_also(call, "DeleteSecurityGroup", p, [GROUP.arn(call, group_id)])
        _dry_run(p)
        if group["name"] == "default":
            raise _error("CannotDelete", f'the specified group: "{group_id}" name: "default" '
                         "cannot be deleted by a user")
        with self.db.transaction() as conn:
            in_use = any(group_id in json.loads(r["groups"]) for r in conn.execute(
                "SELECT groups FROM ec2_network_interfaces WHERE vpc_id=?", (group["vpc_id"],)))
            referenced = conn.execute("SELECT 1 FROM ec2_security_group_rules WHERE "
                                      "ref_group_id=? AND group_id != ?",
                                      (group_id, group_id)).fetchone()
            if in_use or referenced:
                raise _error("DependencyViolation", f"resource {group_id} has a dependent "
                             "object")
            conn.execute("DELETE FROM ec2_security_group_rules WHERE group_id=?", (group_id,))
            conn.execute("DELETE FROM ec2_tags WHERE resource_id=?", (group_id,))
            conn.execute("DELETE FROM ec2_security_groups WHERE id=?", (group_id,))
        return {"Return": True, "GroupId": group_id}

    def AuthorizeSecurityGroupIngress(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        return self._authorize_rules(call, p, egress=False)

    def AuthorizeSecurityGroupEgress(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        return self._authorize_rules(call, p, egress=True)

    def _authorize_rules(self, call: Call, p: dict[str, Any], *, egress: bool) -> dict[str, Any]:
        group = self._group_of(call, p)
        operation = "AuthorizeSecurityGroupEgress" if egress else "AuthorizeSecurityGroupIngress"
        self._authorize_also(call, operation, p, [GROUP.arn(call, group["id"])])
        _dry_run(p)
        permissions = list(p.get("IpPermissions") or [])
        if p.get("IpProtocol") or p.get("CidrIp") or p.get("SourceSecurityGroupName"):
            legacy: dict[str, Any] = {"IpProtocol": p.get("IpProtocol") or "-1",
                                      "FromPort": p.get("FromPort"), "ToPort": p.get("ToPort")}
            if p.get("CidrIp"):
                legacy["IpRanges"] = [{"CidrIp": p["CidrIp"]}]
            if p.get("SourceSecurityGroupName"):
                source = self.db.one("SELECT id FROM ec2_security_groups WHERE vpc_id=? AND "
                                     "name=?", (group["vpc_id"], p["SourceSecurityGroupName"]))
                if source is None:
                    raise _error(GROUP.not_found_code, "The security group "
                                 f"'{p['SourceSecurityGroupName']}' does not exist")
                legacy["UserIdGroupPairs"] = [{"GroupId": source["id"]}]
            permissions.append(legacy)
        rules = [rule for perm in permissions for rule in self._rules_of(call, perm)]
        existing = self.db.query("SELECT * FROM ec2_security_group_rules WHERE group_id=? AND "
                                 "egress=?", (group["id"], int(egress)))
        seen = {_rule_key(dict(r)) for r in existing}
        for rule in rules:
            key = _rule_key(rule)
            if key in seen:
                raise _error("InvalidPermission.Duplicate",
                             f'the specified rule "{_rule_text(rule)}" already exists')
            seen.add(key)
        out: list[dict[str, Any]] = []
        with self.db.transaction() as conn:
            for rule in rules:
                rule_id = self._insert_rule(
                    conn, group["id"], egress, rule["protocol"], rule["from_port"],
                    rule["to_port"], cidr_ipv4=rule["cidr_ipv4"], cidr_ipv6=rule["cidr_ipv6"],
                    prefix_list=rule["prefix_list_id"], ref_group=rule["ref_group_id"],
                    ref_user=rule["ref_user_id"], description=rule["description"])
                out.append(_rule_out(call, group["id"], rule_id, egress, rule))
        return {"Return": True, "SecurityGroupRules": out}

    def _rules_of(self, call: Call, perm: Mapping[str, Any]) -> list[dict[str, Any]]:
        protocol = str(perm.get("IpProtocol") or "-1").lower()
        protocol = _PROTOCOL_NAMES.get(protocol, protocol)
        from_port, to_port = perm.get("FromPort"), perm.get("ToPort")
        if protocol == "-1":
            from_port = to_port = None
        elif protocol in ("tcp", "udp") and (from_port is None or to_port is None):
            raise _invalid_value("Invalid value 'Must specify both from and to ports with "
                                 "TCP/UDP.' for portRange")
        base = {"protocol": protocol, "from_port": from_port, "to_port": to_port,
                "cidr_ipv4": None, "cidr_ipv6": None, "prefix_list_id": None,
                "ref_group_id": None, "ref_user_id": None, "description": None}
        rules: list[dict[str, Any]] = []
        for r in perm.get("IpRanges") or []:
            cidr = str(_network(str(r["CidrIp"])))
            rules.append({**base, "cidr_ipv4": cidr, "description": r.get("Description")})
        for r in perm.get("Ipv6Ranges") or []:
            rules.append({**base, "cidr_ipv6": r["CidrIpv6"], "description": r.get("Description")})
        for r in perm.get("PrefixListIds") or []:
            rules.append({**base, "prefix_list_id": r["PrefixListId"],
                          "description": r.get("Description")})
        for r in perm.get("UserIdGroupPairs") or []:
            ref = r.get("GroupId")
            if ref:
                self._row(call, GROUP, str(ref))
            rules.append({**base, "ref_group_id": ref,
                          "ref_user_id": r.get("UserId") or call.caller.account,
                          "description": r.get("Description")})
        return rules

    # --- network interfaces ---------------------------------------------------------------

    def _eni_out(self, call: Call, r: Any, tags: list[dict[str, str]] | None,
                 names: Mapping[str, str], status: str | None = None) -> dict[str, Any]:
        addresses = json.loads(r["private_ips"])
        attachment = json.loads(r["attachment"]) if r["attachment"] else None

        def dns(address: str) -> str:
            return f"ip-{address.replace('.', '-')}.{_domain(call.region)}"

        out: dict[str, Any] = {
            "AvailabilityZone": r["az"], "AvailabilityZoneId": az_id(call.region, r["az"]),
            "Description": r["description"],
            "Groups": [{"GroupId": g, "GroupName": names.get(g, "")}
                       for g in json.loads(r["groups"])],
            "InterfaceType": r["interface_type"], "Ipv6Addresses": [],
            "MacAddress": r["mac"], "NetworkInterfaceId": r["id"], "OwnerId": r["account"],
            "PrivateDnsName": dns(addresses[0]), "PrivateIpAddress": addresses[0],
            "PrivateIpAddresses": [{"Primary": i == 0, "PrivateDnsName": dns(a),
                                    "PrivateIpAddress": a} for i, a in enumerate(addresses)],
            "RequesterManaged": bool(r["requester_managed"]),
            "SourceDestCheck": bool(r["source_dest_check"]),
            "Status": status or ("in-use" if attachment else "available"),
            "SubnetId": r["subnet_id"], "VpcId": r["vpc_id"], "TagSet": tags or [],
        }
        if r["requester_id"]:
            out["RequesterId"] = r["requester_id"]
        if attachment:
            out["Attachment"] = attachment
        return out

    def _allocate(self, subnet: Any, wanted: list[str], count: int) -> list[str]:
        """Addresses for a new interface: the ones asked for (inside the subnet, not reserved,
        free), then `count` more picked from the subnet's free addresses."""
        network = ipaddress.IPv4Network(subnet["cidr"])
        first = int(network.network_address) + RESERVED_HEAD
        last = int(network.broadcast_address) - RESERVED_TAIL
        used = self._used_addresses(subnet["id"])
        chosen: list[str] = []
        for text in wanted:
            try:
                address = ipaddress.IPv4Address(text)
            except ValueError:
                raise _invalid_value(f"Value ({text}) for parameter privateIpAddress is "
                                     "invalid. This is not a valid IP address.") from None
            if address not in network:
                raise _invalid_value(f"Address {text} does not fall within the subnet's "
                                     "address range")
            if not first <= int(address) <= last:
                raise _invalid_value(f"Address {text} is in subnet's reserved address range")
            if text in used or text in chosen:
                raise _error("InvalidIPAddress.InUse", "The specified address is already in "
                             "use.")
            chosen.append(text)
        free = last - first + 1 - len(used) - len(chosen)
        if count > free:
            raise _error("InsufficientFreeAddressesInSubnet", "The specified subnet does not "
                         "have enough free addresses to satisfy the request.")
        taken = used | set(chosen)
        rng = random.SystemRandom()
        while count:
            candidate = str(ipaddress.IPv4Address(rng.randint(first, last)))
            if candidate not in taken:
                taken.add(candidate)
                chosen.append(candidate)
                count -= 1
        return chosen

    def CreateNetworkInterface(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        tags = _tags_of(p.get("TagSpecifications"), ENI.name)
        subnet_id = str(p["SubnetId"])
        group_ids = _ids(p.get("Groups"))
        self._authorize_also(call, "CreateNetworkInterface", p,
                             [self._new_arn(call, ENI), SUBNET.arn(call, subnet_id),
                              *(GROUP.arn(call, g) for g in group_ids)],
                             tagged=self._new_arn(call, ENI))
        _dry_run(p)
        subnet = self._row(call, SUBNET, subnet_id)
        account, region = self._scope(call)
        if group_ids:
            for group_id in group_ids:
                group = self.db.one("SELECT vpc_id FROM ec2_security_groups WHERE id=? AND "
                                    "account=? AND region=?", (group_id, account, region))
                if group is None:
                    raise _error("InvalidSecurityGroupID.NotFound",
                                 f"The securityGroup ID '{group_id}' does not exist")
                if group["vpc_id"] != subnet["vpc_id"]:
                    raise _error("InvalidParameter", f"Security group {group_id} and subnet "
                                 f"{subnet_id} belong to different networks.")
        else:
            default = self.db.one("SELECT id FROM ec2_security_groups WHERE vpc_id=? AND "
                                  "name='default'", (subnet["vpc_id"],))
            group_ids = [default["id"]] if default else []
        wanted: list[str] = []
        if p.get("PrivateIpAddress"):
            wanted.append(str(p["PrivateIpAddress"]))
        specs = sorted(p.get("PrivateIpAddresses") or [], key=lambda s: not s.get("Primary"))
        wanted += [str(s["PrivateIpAddress"]) for s in specs
                   if s.get("PrivateIpAddress") and str(s["PrivateIpAddress"]) not in wanted]
        extra = int(p.get("SecondaryPrivateIpAddressCount") or 0)
        eni_id = _new_id(ENI.prefix)
        with self.db.transaction() as conn:
            addresses = self._allocate(subnet, wanted, extra + (0 if wanted else 1))
            conn.execute(
                "INSERT INTO ec2_network_interfaces(id, account, region, subnet_id, vpc_id, az, "
                "private_ips, mac, description, groups, interface_type, requester_id, created) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (eni_id, account, region, subnet_id, subnet["vpc_id"], subnet["az"],
                 json.dumps(addresses), _mac(), str(p.get("Description") or ""),
                 json.dumps(group_ids), str(p.get("InterfaceType") or "interface"),
                 call.caller.user_id, time.time()))
            for address in addresses:
                conn.execute("INSERT INTO ec2_eni_addresses(subnet_id, address, eni_id) VALUES "
                             "(?, ?, ?)", (subnet_id, address, eni_id))
            self._write_tags(conn, call, eni_id, ENI, tags)
        row = self._row(call, ENI, eni_id)
        out: dict[str, Any] = {"NetworkInterface": self._eni_out(
            call, row, tags, self._group_names(call), "pending")}
        if p.get("ClientToken"):
            out["ClientToken"] = p["ClientToken"]
        return out

    def DescribeNetworkInterfaces(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        _dry_run(p)
        rows = self._rows(call, ENI, _ids(p.get("NetworkInterfaceIds")))
        tags = self._tags(call)
        names = self._group_names(call)
        items = [self._eni_out(call, r, tags.get(r["id"]), names) for r in rows]
        return _page(_filter_items(items, p.get("Filters"), ENI_FILTERS, "TagSet"), p,
                     "NetworkInterfaces")

    def DeleteNetworkInterface(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        _dry_run(p)
        eni_id = str(p["NetworkInterfaceId"])
        row = self._row(call, ENI, eni_id)
        if row["attachment"]:
            raise _error("InvalidNetworkInterface.InUse", f"Network interface '{eni_id}' is "
                         "currently in use.")
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM ec2_eni_addresses WHERE eni_id=?", (eni_id,))
            conn.execute("DELETE FROM ec2_eni_permissions WHERE eni_id=?", (eni_id,))
            conn.execute("DELETE FROM ec2_tags WHERE resource_id=?", (eni_id,))
            conn.execute("DELETE FROM ec2_network_interfaces WHERE id=?", (eni_id,))
        return {}

    # --- network interface permissions ----------------------------------------------------

    @staticmethod
    def _permission_out(r: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"NetworkInterfacePermissionId": r["id"],
                               "NetworkInterfaceId": r["eni_id"], "Permission": r["permission"],
                               "PermissionState": {"State": r["state"]}}
        if r["aws_account_id"]:
            out["AwsAccountId"] = r["aws_account_id"]
        if r["aws_service"]:
            out["AwsService"] = r["aws_service"]
        return out

    def CreateNetworkInterfacePermission(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        _dry_run(p)
        eni_id = str(p["NetworkInterfaceId"])
        account_id, service = p.get("AwsAccountId"), p.get("AwsService")
        if bool(account_id) == bool(service):
            raise _error("InvalidParameterCombination", "Specify exactly one of AwsAccountId "
                         "and AwsService.")
        if account_id and not re.fullmatch(r"\d{12}", str(account_id)):
            raise _invalid_value(f"Value ({account_id}) for parameter awsAccountId is invalid.")
        self._row(call, ENI, eni_id)
        account, region = self._scope(call)
        permission_id = _new_id(ENI_PERMISSION.prefix)
        with self.db.transaction() as conn:
            conn.execute("INSERT INTO ec2_eni_permissions(id, account, region, eni_id, "
                         "aws_account_id, aws_service, permission, state, created) VALUES "
                         "(?,?,?,?,?,?,?,?,?)",
                         (permission_id, account, region, eni_id, account_id, service,
                          str(p["Permission"]), "granted", time.time()))
        return {"InterfacePermission": self._permission_out(
            self._row(call, ENI_PERMISSION, permission_id))}

    def DescribeNetworkInterfacePermissions(self, call: Call,
                                            p: dict[str, Any]) -> dict[str, Any]:
        rows = self._rows(call, ENI_PERMISSION, _ids(p.get("NetworkInterfacePermissionIds")))
        items = [self._permission_out(r) for r in rows]
        return _page(_filter_items(items, p.get("Filters"), PERMISSION_FILTERS, None), p,
                     "NetworkInterfacePermissions")

    def DeleteNetworkInterfacePermission(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        _dry_run(p)
        permission_id = str(p["NetworkInterfacePermissionId"])
        self._row(call, ENI_PERMISSION, permission_id)
        self.db.execute("DELETE FROM ec2_eni_permissions WHERE id=?", (permission_id,))
        return {"Return": True}

    # --- tags -----------------------------------------------------------------------------

    def _tag_targets(self, call: Call, resources: Iterable[Any]) -> list[tuple[str, Kind]]:
        targets: list[tuple[str, Kind]] = []
        for resource_id in _ids(resources):
            kind = _kind_of_id(resource_id)
            if kind is None:
                raise _error("InvalidID", f"The ID '{resource_id}' is not valid")
            self._row(call, kind, resource_id)
            targets.append((resource_id, kind))
        return targets

    def CreateTags(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        resources = _ids(p.get("Resources"))
        self._authorize_also(call, "CreateTags", p, [
            kind.arn(call, r) for r in resources if (kind := _kind_of_id(r)) is not None])
        _dry_run(p)
        tags = list(p.get("Tags") or [])
        _check_tag_keys(tags)
        targets = self._tag_targets(call, resources)
        with self.db.transaction() as conn:
            for resource_id, kind in targets:
                self._write_tags(conn, call, resource_id, kind, tags)
        return {}

    def DeleteTags(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        resources = _ids(p.get("Resources"))
        self._authorize_also(call, "DeleteTags", p, [
            kind.arn(call, r) for r in resources if (kind := _kind_of_id(r)) is not None])
        _dry_run(p)
        targets = self._tag_targets(call, resources)
        with self.db.transaction() as conn:
            for resource_id, _kind in targets:
                if p.get("Tags") is None:
                    conn.execute("DELETE FROM ec2_tags WHERE resource_id=?", (resource_id,))
                    continue
                for tag in p["Tags"]:
                    if tag.get("Value") is None:
                        conn.execute("DELETE FROM ec2_tags WHERE resource_id=? AND key=?",
                                     (resource_id, tag["Key"]))
                    else:
                        conn.execute("DELETE FROM ec2_tags WHERE resource_id=? AND key=? AND "
                                     "value=?", (resource_id, tag["Key"], tag["Value"]))
        return {}

    def DescribeTags(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        _dry_run(p)
        account, region = self._scope(call)
        rows = self.db.query("SELECT * FROM ec2_tags WHERE account=? AND region=? ORDER BY "
                             "resource_id, key", (account, region))
        items = [{"Key": r["key"], "ResourceId": r["resource_id"],
                  "ResourceType": r["resource_type"], "Value": r["value"]} for r in rows]
        filters = []
        for f in p.get("Filters") or []:
            name = str(f.get("Name") or "")
            if name.startswith("tag:"):  # tag:<key> is key=<key> and value in Values
                filters += [{"Name": "key", "Values": [name[4:]]},
                            {"Name": "value", "Values": f.get("Values") or []}]
            else:
                filters.append(f)
        return _page(_filter_items(items, filters, TAG_DESCRIPTION_FILTERS, None), p, "Tags")

    # --- read-only views: availability zones, DHCP options, route tables -------------------

    def DescribeAvailabilityZones(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        _dry_run(p)
        region = call.region
        items = [{"State": "available", "OptInStatus": "opt-in-not-required", "Messages": [],
                  "RegionName": region, "ZoneName": zone, "ZoneId": az_id(region, zone),
                  "GroupName": region, "NetworkBorderGroup": region,
                  "ZoneType": "availability-zone", "GroupLongName": region}
                 for zone in _zones(region)]
        for param, field in (("ZoneNames", "ZoneName"), ("ZoneIds", "ZoneId")):
            wanted = _ids(p.get(param))
            known = {item[field] for item in items}
            for value in wanted:
                if value not in known:
                    raise _invalid_value(f"Invalid availability zone: [{value}]")
            if wanted:
                items = [item for item in items if item[field] in wanted]
        return {"AvailabilityZones": _filter_items(items, p.get("Filters"), AZ_FILTERS, None)}

    def DescribeDhcpOptions(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        _dry_run(p)
        rows = self._rows(call, DHCP, _ids(p.get("DhcpOptionsIds")))
        tags = self._tags(call)
        items = []
        for r in rows:
            item: dict[str, Any] = {"DhcpConfigurations": json.loads(r["config"]),
                                    "DhcpOptionsId": r["id"], "OwnerId": r["account"]}
            if tags.get(r["id"]):
                item["Tags"] = tags[r["id"]]
            items.append(item)
        return _page(_filter_items(items, p.get("Filters"), DHCP_FILTERS, "Tags"), p,
                     "DhcpOptions")

    def DescribeRouteTables(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        _dry_run(p)
        rows = self._rows(call, ROUTE_TABLE, _ids(p.get("RouteTableIds")))
        tags = self._tags(call)
        cidrs = {r["id"]: r["cidr"] for r in self._rows(call, VPC, [])}
        items = []
        for r in rows:
            item: dict[str, Any] = {
                "Associations": [{"Main": True, "RouteTableAssociationId": r["main_association"],
                                  "RouteTableId": r["id"],
                                  "AssociationState": {"State": "associated"}}]
                if r["main_association"] else [],
                "PropagatingVgws": [], "RouteTableId": r["id"],
                "Routes": [{"DestinationCidrBlock": cidrs.get(r["vpc_id"], ""),
                            "GatewayId": "local", "Origin": "CreateRouteTable",
                            "State": "active"}],
                "Tags": tags.get(r["id"], []), "VpcId": r["vpc_id"], "OwnerId": r["account"]}
            items.append(item)
        return _page(_filter_items(items, p.get("Filters"), ROUTE_TABLE_FILTERS, "Tags"), p,
                     "RouteTables")


# --- security group rules ---------------------------------------------------------------


def _rule_key(rule: Mapping[str, Any]) -> tuple[Any, ...]:
    return (rule["protocol"], rule["from_port"], rule["to_port"], rule["cidr_ipv4"],
            rule["cidr_ipv6"], rule["prefix_list_id"], rule["ref_group_id"])


def _rule_text(rule: Mapping[str, Any]) -> str:
    """How InvalidPermission.Duplicate names a rule: peer, protocol, ports, ALLOW."""
    peer = rule["cidr_ipv4"] or rule["cidr_ipv6"] or rule["prefix_list_id"] or \
        rule["ref_group_id"]
    if rule["protocol"] == "-1":
        return f"peer: {peer}, ALL, ALLOW"
    return (f"peer: {peer}, {rule['protocol'].upper()}, from port: {rule['from_port']}, "
            f"to port: {rule['to_port']}, ALLOW")


def _rule_out(call: Call, group_id: str, rule_id: str, egress: bool,
              rule: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "SecurityGroupRuleId": rule_id, "GroupId": group_id,
        "GroupOwnerId": call.caller.account, "IsEgress": egress,
        "IpProtocol": rule["protocol"],
        "FromPort": -1 if rule["from_port"] is None else rule["from_port"],
        "ToPort": -1 if rule["to_port"] is None else rule["to_port"],
        "SecurityGroupRuleArn": f"arn:aws:ec2:{call.region}:{call.caller.account}:"
                                f"security-group-rule/{rule_id}",
    }
    if rule["cidr_ipv4"]:
        out["CidrIpv4"] = rule["cidr_ipv4"]
    if rule["cidr_ipv6"]:
        out["CidrIpv6"] = rule["cidr_ipv6"]
    if rule["prefix_list_id"]:
        out["PrefixListId"] = rule["prefix_list_id"]
    if rule["ref_group_id"]:
        out["ReferencedGroupInfo"] = {"GroupId": rule["ref_group_id"],
                                      "UserId": rule["ref_user_id"]}
    if rule["description"]:
        out["Description"] = rule["description"]
    return out


def _permissions(rules: list[Any], names: Mapping[str, str]) -> list[dict[str, Any]]:
    """Rules grouped into IpPermissions by (protocol, ports), in the order they were added."""
    grouped: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in rules:
        key = (r["protocol"], r["from_port"], r["to_port"])
        perm = grouped.get(key)
        if perm is None:
            perm = grouped[key] = {"IpProtocol": r["protocol"], "IpRanges": [],
                                   "Ipv6Ranges": [], "PrefixListIds": [], "UserIdGroupPairs": []}
            if r["from_port"] is not None:
                perm["FromPort"] = r["from_port"]
            if r["to_port"] is not None:
                perm["ToPort"] = r["to_port"]
        described = {"Description": r["description"]} if r["description"] else {}
        if r["cidr_ipv4"]:
            perm["IpRanges"].append({"CidrIp": r["cidr_ipv4"], **described})
        elif r["cidr_ipv6"]:
            perm["Ipv6Ranges"].append({"CidrIpv6": r["cidr_ipv6"], **described})
        elif r["prefix_list_id"]:
            perm["PrefixListIds"].append({"PrefixListId": r["prefix_list_id"], **described})
        elif r["ref_group_id"]:
            pair = {"GroupId": r["ref_group_id"], "UserId": r["ref_user_id"], **described}
            if r["ref_group_id"] in names:
                pair["GroupName"] = names[r["ref_group_id"]]
            perm["UserIdGroupPairs"].append(pair)
    return list(grouped.values())
