"""Vectorised numpy simulators of gymnasium's classic-control environments.

Each module is self-contained (it imports only numpy) because the very same file is shipped into the
sandbox, where candidate rewards train policies on it, and imported here on the host, where the trained
policy is scored with a trusted copy. None of them contains a reward: rewards are the candidates.

Every module exposes the same small interface, used by the trainers and the host-side evaluation:
`OBS_DIM`, `N_ACTIONS` (0 for a continuous 1-D action), `MAX_STEPS`, `GOAL_HOLD_STEPS`, `PARAMS`,
`reset(rng, n)`, `observe(state)`, `step(state, action, params)`, `goal(state)`, and `OBS_HELPERS`:
the names of its functions that work on observations, which the reward module finds already defined.
"""
