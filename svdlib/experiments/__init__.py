"""The experiment layer: configuration, store, work items, executors and the stages of a run."""
