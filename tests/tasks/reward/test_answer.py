"""The reward candidate is cut down to definitions: the shapes of answers a small local model really gives."""

from __future__ import annotations

import ast

import pytest

from agent.kernel.errors import ParseError
from tasks.reward.answer import reward_source

REWARD = """import numpy as np

W = 2.0


def compute_reward(obs, action, next_obs, done):
    r = W * next_obs[:, 0]
    return r, {"height": r}
"""


def test_a_clean_answer_is_kept_verbatim_with_its_comments() -> None:
    source = "# why: height pays\n" + REWARD
    assert reward_source(f"Here:\n```python\n{source}```\nDone.") == source


def test_a_demo_script_after_the_reward_is_dropped_and_said_so() -> None:
    demo = (
        "from qlearning import train\n"  # used only by the script: dropped with it
        "make_envs(16)\n"
        "trainer = Trainer(gamma=0.99)\n"
        "SCALE = np.array([1.0, 2.0]) * 0.5\n"
        "RANDOMISE = dict(force=(0.8, 1.2))\n"
        "for seed in range(3):\n    train(envs, compute_reward, seed)\n"
        "print('success')\n"
        "if __name__ == '__main__':\n    main()\n"
    )
    out = reward_source(f"```python\n{REWARD}\n{demo}```")
    tree = ast.parse(out)
    kinds = [type(n).__name__ for n in tree.body]
    assert kinds == ["Import", "Assign", "FunctionDef", "Assign", "Assign"]
    assert "dropped 5 top-level statement(s)" in out
    assert "# assay: dropped the import of `qlearning`: compute_reward never uses them;" in out
    assert "Trainer(" not in out and "SCALE = np.array([1.0, 2.0]) * 0.5" in out
    assert "RANDOMISE = dict(force=(0.8, 1.2))" in out  # reaches its validator, which says what is wrong
    assert "for seed" not in out and "print(" not in out and "__main__" not in out
    assert "def compute_reward" in out and "W = 2.0" in out


def test_an_assignment_into_a_module_level_name_is_script_not_a_constant() -> None:
    """The acrobot scaffold answers of stop 31 (seed 2) failed on import with their own "tuning" line."""
    head = 'W_HEIGHT = 1.0\nTUNABLE = {"W_HEIGHT": (0.0, 10.0)}\nA, [B, C] = 1.0, [2.0, 3.0]\n'
    script = 'TUNABLE["W_HEIGHT"], _ = np.random.uniform(*TUNABLE["W_HEIGHT"])\nnp.random.seed = 0\n'
    out = reward_source(f"```python\n{head}{REWARD}\n{script}```")
    assert "np.random.uniform" not in out and "np.random.seed" not in out
    assert "dropped 2 top-level statement(s)" in out and head in out


def test_an_answer_cut_off_by_the_token_limit_keeps_its_complete_statements() -> None:
    cut = f"```python\n{REWARD}\n\ndef helper(x):\n    return x +"  # no closing fence, mid-statement
    out = reward_source(cut)
    assert "def compute_reward" in out and "def helper" not in out
    assert "cut off" in out
    ast.parse(out)


def test_an_answer_cut_off_inside_compute_reward_is_rejected_with_advice() -> None:
    cut = (
        "```python\nimport numpy as np\n\ndef compute_reward(obs, action, next_obs, done):\n    r = obs[:, 0"
    )
    with pytest.raises(ParseError, match="compute_reward"):
        reward_source(cut)


def test_a_closed_block_that_does_not_parse_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="SyntaxError"):
        reward_source("```python\ndef compute_reward(obs, action, next_obs, done)\n    return 0\n```")


def test_no_block_and_no_compute_reward_are_parse_errors() -> None:
    with pytest.raises(ParseError, match="no code block"):
        reward_source("def compute_reward(o, a, n, d): return 0")
    with pytest.raises(ParseError, match="compute_reward"):
        reward_source("```python\ndef reward(o):\n    return 0\n```")


def test_a_trailing_script_that_does_not_parse_is_dropped_with_what_failed() -> None:
    # what the 1.5B model wrote after the scaffold prompt mentioned the tuning trainings (bench, seed 2)
    script = "# 6 short trainings\nfor _ in range(6):\n    # Your training code here...\n\n"
    script += "W = np.clip(W, 0, 5)\n"
    out = reward_source(f"```python\n{REWARD}\n{script}```")
    tree = ast.parse(out)
    assert [n.name for n in tree.body if isinstance(n, ast.FunctionDef)] == ["compute_reward"]
    assert "for _ in range" not in out and "np.clip" not in out
    assert "a module-level script that does not parse (expected an indented block" in out
    assert out.startswith("# assay: dropped lines")


def test_a_syntax_error_inside_a_definition_is_still_the_candidates_error() -> None:
    broken = REWARD + "\n\ndef helper(x):\n    return (x +\n"
    with pytest.raises(ParseError, match="SyntaxError in the code block"):
        reward_source(f"```python\n{broken}```")
    script_first = "W = 1.0\nfor _ in range(6):\n    # training here\n\n" + REWARD
    with pytest.raises(ParseError, match="SyntaxError in the code block"):  # not "must define compute_reward"
        reward_source(f"```python\n{script_first}```")
    inside = REWARD.replace("return r,", "return r +,")
    with pytest.raises(ParseError, match=r"SyntaxError in the code block: .* \(line 8: `return r \+, "):
        reward_source(f"```python\n{inside}```")


def test_a_cut_off_answer_that_copied_the_environment_is_told_what_to_leave_out() -> None:
    copied = "import numpy as np\n\nMAX_STEPS = 200\nGOAL_POSITION = 0.5\n\n"
    copied += "".join(f"def {name}(state):\n    return state\n\n\n" for name in ("reset", "observe", "step"))
    cut = copied + "def compute_reward(obs, action, next_obs, done):\n    reward = 0.0\n    if reward >"
    with pytest.raises(ParseError) as raised:
        reward_source(f"```python\n{cut}")  # no closing fence: the completion limit cut it
    message = str(raised.value)
    assert "must define `def compute_reward" in message
    assert "spent its length on `reset`, `observe`, `step` and 2 constants" in message
    assert "do not copy the environment's code" in message
    with pytest.raises(ParseError) as short:  # a short answer without compute_reward: nothing to blame
        reward_source("```python\nimport numpy as np\n\nW = 1.0\n")
    assert "spent its length" not in str(short.value)
    # a closed copy of the environment, then a second block the limit cut off: the cut-off block is read
    with pytest.raises(ParseError) as twice:
        reward_source(f"```python\n{copied}```\n\n```python\n{cut}")
    assert "spent its length on `reset`, `observe`, `step` and 2 constants" in str(twice.value)
    # and a reward complete in it before the cut is kept
    salvaged = reward_source(f"```python\n{copied}```\n\n```python\n{REWARD}\n# now a demo\nfor")
    assert "def compute_reward(obs, action, next_obs, done):" in salvaged
    # a closed block with the reward wins over a cut-off example after it
    assert reward_source(f"```python\n{REWARD}```\nUsage:\n```python\nr, c = compute_reward(") == REWARD


def test_dead_functions_and_their_imports_are_dropped_what_is_reached_is_kept() -> None:
    # the pendulum scaffold answers of the issue-12 bench (seed 2): a training script written as a function
    answer = (
        "import numpy as np\nimport math\nfrom gym import spaces\nimport torch\n\n"
        "W = 2.0\n\n"
        "def bonus(x):\n    return x * 0\n\nBONUSES = (bonus,)\n\n"
        "def shaped(x):\n    return torch.as_tensor(x).numpy() * W\n\n"
        "def compute_reward(obs, action, next_obs, done):\n"
        "    r = shaped(next_obs[:, 0])\n    return r, {'r': r}\n\n"
        "@staticmethod\ndef train_trainer():\n    obs = env.reset(seed=0)\n    return spaces.Box(obs)\n"
    )
    out = reward_source(f"```python\n{answer}```")
    assert out.splitlines()[0] == (
        "# assay: dropped the import of `gym`, `train_trainer`: compute_reward never uses them;"
    )
    tree = ast.parse(out)
    functions = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert functions == ["bonus", "shaped", "compute_reward"]  # `bonus` is reached through a constant
    assert "env.reset" not in out and "@staticmethod" not in out
    assert "import torch" in out  # reached through `shaped`: kept, so that a missing one fails visibly
    assert "import math" in out  # unused, but the standard library cannot fail to import
