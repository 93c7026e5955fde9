"""Reward-design tasks (Eureka/DrEureka style): simulators, fixed trainers, problems.

Registered by `suite.py` through the `assay.tasks` entry point."""
