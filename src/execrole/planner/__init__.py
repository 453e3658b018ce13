"""The planner and the preflight checker for SageMaker execution roles."""
