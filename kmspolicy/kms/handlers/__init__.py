"""Handlers of the KMS operations, one module per API family; each binds its handlers to the
operation table (``kms.operations.bind``).

Layer: kms. Handlers run inside the pipeline after authorization and the key-state check; they
reach key material only through ``kms.kernel`` with the ``AuthorizedKey`` handles they are given.
"""
