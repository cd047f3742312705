"""The store of a run: artifact identity and paths, and the corpus splits it reads."""
