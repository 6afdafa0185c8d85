"""Data: the dataset registry (``registry``: one entry per dataset, where each is found and how
it is loaded) and the preprocessing of a user's own image (``upload``)."""
