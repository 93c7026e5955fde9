"""Command-line options for search settings that were config keys only: `--selection`, `--repair/--no-repair`,
`--halving-top`, `--model-split`; and the model's request settings `--n-per-request/--no-n-per-request` and
`--retry-window SECONDS` (issue 16).

Declared here, not in `agent/cli.py`, so the command stays small and `assay bench` can take the same
options. Each is the config key of the same name (`--halving-top` <-> `halving_top`) and is validated by
`RunConfig` like the key is (a bad value is one `invalid config:` line, exit 2); being part of the config,
each is stored with the run and `assay resume` repeats it. None means "not given": the config file's value,
else the default, applies.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

SelectionOption = Annotated[
    str | None,
    typer.Option(
        help="evolve: choose parents by score, or from the Pareto front over the task's objectives "
        "(score, pareto)"
    ),
]
RepairOption = Annotated[
    bool | None,
    typer.Option(
        "--repair/--no-repair",
        help="refine/evolve: give each failed candidate one repair prompt (default: on)",
        show_default=False,
    ),
]
HalvingTopOption = Annotated[
    int | None,
    typer.Option(help="re-verify this many top candidates on more seeds (reward, loss tasks); 0: off"),
]
ModelSplitOption = Annotated[
    str | None,
    typer.Option(help="how an ensemble (--model a,b) splits requests: weights, thompson or thompson-cost"),
]


NPerRequestOption = Annotated[
    bool | None,
    typer.Option(
        "--n-per-request/--no-n-per-request",
        help="pipelined loop: ask for a prompt's samples in one request (`n`) where the provider takes it "
        "(openai/) (default: off)",
        show_default=False,
    ),
]
RetryWindowOption = Annotated[
    float | None,
    typer.Option(
        "--retry-window",
        metavar="SECONDS",
        help="keep retrying a request's 429s, 5xx and resets for this long after its first failure, past "
        "the retry count, so an outage that short is waited out (default: 0, off)",
    ),
]


def model_flags(n_per_request: bool | None, retry_window: float | None) -> dict[str, Any]:
    """The model's request options as config overrides (keys `n_per_request`, `retry_window_s`)."""
    return {"n_per_request": n_per_request, "retry_window_s": retry_window}


def search_flags(
    selection: str | None, repair: bool | None, halving_top: int | None, model_split: str | None
) -> dict[str, Any]:
    """The options as config overrides, for `build_config` (a None is not given)."""
    return {"selection": selection, "repair": repair, "halving_top": halving_top, "model_split": model_split}
