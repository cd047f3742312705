"""Running heavy stages: work items (one artifact each) and their executors (local, Dask)."""
