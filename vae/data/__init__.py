"""Data: the dataset registry (``registry``: one entry per dataset says everything about it),
where files live and how they are fetched (``download``), the file formats (``formats``), a
user's zip or folder of images (``folders``) and the test split its checkpoint keeps
(``kept_test_set``), the one safe image decoder (``images``), the preprocessing of a user's
uploaded image (``upload``) and arrays to pictures (``display``)."""
