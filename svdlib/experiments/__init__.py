"""The experiment layer: the paper's pipeline on one configuration and one store.

By job, each subpackage importing only from those before it (``tests/test_layers.py``):
``config`` (the configuration, profiles, overrides, range checks, sizes), ``storage`` (the
store: artifact identity and paths; the corpus splits), ``execution`` (work items, local and
Dask executors), ``artifacts`` (what each stage computes and how it is read back), then
``stages`` (the one orchestrator) and ``explorer`` (the interactive explorer).
"""
