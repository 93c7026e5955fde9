"""Code suites: HumanEval and circle packing (registered in `suites.py`)."""
