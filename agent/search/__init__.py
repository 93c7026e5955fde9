"""The search: the loop of one problem's search (`loop.py`) and what it is made of: strategies that choose
parents, the archive they choose from, the prompt built from them, and the budget that stops it."""
