"""A run from the user's side: its configuration (`config.py`), its execution over the selected problems
(`runner.py`) and its live progress display (`progress.py`)."""
