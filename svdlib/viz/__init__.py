"""Figures, text tables and widgets, drawn from plain tables and arrays."""
