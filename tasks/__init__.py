"""The built-in task suites (math, code, reward, loss) and the example plugin.

Each sub-package implements its verifier family's problem protocol; each registers its tasks through the
`assay.tasks` entry-point group, exactly as a third-party plugin would. `task`, `Task` and `Suite` are
re-exported here for plugins that want one import.
"""

from agent.kernel.plugins import task
from agent.kernel.task import Suite, Task

__all__ = ["Suite", "Task", "task"]
