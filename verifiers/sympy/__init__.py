"""The SymPy family: math answers parsed and checked in a killed-on-timeout child process (`sandboxes.child`)."""
