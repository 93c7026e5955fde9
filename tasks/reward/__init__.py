"""Reward-design tasks (Eureka/DrEureka style): simulators, fixed trainers, problems (registered in `suite.py`)."""
