"""Reward-design tasks (Eureka/DrEureka style): simulators, fixed trainers, problems, registration."""

from tasks.reward import suite as _suite  # registers reward/mountaincar, reward/pendulum, reward/acrobot

__all__: list[str] = []
del _suite
