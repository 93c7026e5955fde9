"""Fixed, seeded, fast trainers; one per reward task, because a reward's value depends on its trainer.

Like the simulators, each module imports only numpy (and `stats`, its sibling) so the same files run inside
the sandbox and on the host. Every trainer exposes `train(sim, reward_fn, seed, config, randomise)` returning
`(policy, log)`, `policy_shape(sim, config)` and `evaluate(sim, policy, starts, config, params)`: the host
scores a returned policy with `evaluate` and its own copy of the simulator, never trusting the sandbox's
numbers.
"""
