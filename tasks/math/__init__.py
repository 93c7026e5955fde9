"""Math suites: seeded, generated problems with SymPy-checkable answers (registered in `suites.py`)."""
