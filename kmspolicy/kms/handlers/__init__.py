"""Handlers of the KMS operations, one module per API family; each exports its handlers bound
to the operation table, ``OPERATIONS = (kms.operations.bind(...), ...)``, which
``kms.implemented.load_operations`` collects.

Layer: kms. Handlers run inside the pipeline after authorization and the key-state check; they
reach key material only through ``kms.kernel`` with the ``AuthorizedKey`` handles they are given.
"""
