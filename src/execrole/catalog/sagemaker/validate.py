"""Request validation against botocore's SageMaker service model, as boto3 does it before
sending (botocore.validate.ParamValidator), with every problem reported."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import botocore.session
from botocore.model import OperationNotFoundError, ServiceModel, Shape
from botocore.validate import ParamValidator

from .model import RequestError


@lru_cache(maxsize=1)
def service_model() -> ServiceModel:
    return botocore.session.get_session().get_service_model("sagemaker")


@lru_cache(maxsize=64)
def input_shape(api: str) -> Shape:
    try:
        shape = service_model().operation_model(api).input_shape
    except OperationNotFoundError:
        raise ValueError(f"{api!r} is not an operation of botocore's SageMaker model") from None
    if shape is None:
        raise ValueError(f"{api!r} takes no input")
    return shape


def validate_request(api: str, request: Mapping[str, Any] | Any) -> None:
    """Raise RequestError listing every problem botocore's ParamValidator finds in `request`
    for `api` (missing required members, unknown members, wrong types, values below a
    minimum), each in botocore's wording."""
    from .build import spec_of

    spec_of(api)
    report = ParamValidator().validate(request, input_shape(api))
    if report.has_errors():
        raise RequestError(_messages(report))


def _messages(report: Any) -> list[str]:
    errors = getattr(report, "_errors", None)
    formatter = getattr(report, "_format_error", None)
    if isinstance(errors, list) and callable(formatter):
        return [str(formatter(e)) for e in errors]
    return str(report.generate_report()).splitlines()  # pragma: no cover - other botocore


@lru_cache(maxsize=1024)
def shape_at(api: str, pattern: str) -> Shape | None:
    """The model's shape of the field at a path pattern (`A.B[].C`), or None."""
    shape: Shape | None = input_shape(api)
    for part in pattern.split("."):
        many = part.endswith("[]")
        name = part[:-2] if many else part
        if shape is None or shape.type_name != "structure":
            return None
        shape = shape.members.get(name)
        if many:
            if shape is None or shape.type_name != "list":
                return None
            shape = shape.member
    return shape


def server_path(path: str) -> str:
    """botocore's `InputDataConfig[0].DataSource` as SageMaker's server-side messages write it:
    `inputDataConfig.1.member.dataSource`."""
    parts = []
    for part in path.split("."):
        m = re.fullmatch(r"(\w+)((?:\[\d+\])*)", part)
        if m is None:
            parts.append(part)
            continue
        parts.append(m[1][:1].lower() + m[1][1:])
        for index in re.findall(r"\[(\d+)\]", m[2]):
            parts.append(f"{int(index) + 1}.member")
    return ".".join(parts)
