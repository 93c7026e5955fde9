"""The SymPy family: math answers parsed and checked by SymPy in a child process killed on timeout
(`sandboxes.child`)."""
