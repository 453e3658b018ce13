"""execrole: SageMaker execution roles, locally and exactly."""

__version__ = "0.1.0"
