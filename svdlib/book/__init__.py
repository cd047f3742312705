"""The book: notebooks executed with papermill, and the Jupyter Book build."""
