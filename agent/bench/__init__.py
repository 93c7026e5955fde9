"""`assay bench`: a grid of tasks x strategies x seeds at one budget, each cell an ordinary recorded run.

`cells` keeps the grid beside the runs in the same store, `grid` runs its cells (skipping finished ones),
`summary` turns the recorded runs into the comparison (mean, spread and 95% interval over seeds, calls and
seconds to a threshold, cost) that the command prints and `assay view` / `assay report` draw. `summary`
imports only the store, so the viewer can use it without reaching the run layer.
"""
