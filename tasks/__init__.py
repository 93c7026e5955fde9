"""Built-in task suites (math, code, reward, loss) and the `@task` decorator."""

from tasks.base import Suite, Task, list_tasks, load_suite, task

__all__ = ["Suite", "Task", "list_tasks", "load_suite", "task"]
