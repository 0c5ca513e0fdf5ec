"""The data's error: plain Python, so code that only names datasets (run keys) can raise it."""


class DatasetError(ValueError):
    """A dataset that cannot be read: missing folder or file, bad annotation, corrupt image."""
