"""The run viewer: `assay view` (a local web app) and `assay report` (one self-contained HTML file).

Both only read the store (`agent.store.queries.ReadOnlyStore`); their dependencies are the optional `view`
extra, imported only when one of the two commands runs, so the rest of assay does not need them.
"""
