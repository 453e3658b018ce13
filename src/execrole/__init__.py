"""execrole: SageMaker execution roles, locally and exactly."""

__version__ = "0.1.0"

__all__ = ["__version__", "get_execution_role"]


def get_execution_role(*args: object, **kwargs: object) -> str:
    """The SageMaker SDK's `get_execution_role`, against whatever endpoint boto3 is
    configured for, with clear errors (see execrole.sdk)."""
    from .sdk import get_execution_role as resolve

    return resolve(*args, **kwargs)  # type: ignore[arg-type]
