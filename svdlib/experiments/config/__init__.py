"""The configuration of a run: its sections, profiles and overrides, range checks, sizes."""
