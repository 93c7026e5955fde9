"""The reward family (Eureka/DrEureka): train with a candidate reward in the sandbox, score on the host.

`problem.py` is the protocol a reward task implements and the seeds that keep search and held-out apart."""
