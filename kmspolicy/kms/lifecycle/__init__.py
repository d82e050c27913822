"""The key lifecycle: rotation, scheduled deletion, imported key material, AWS managed keys,
and the due work (rotations, deletions, expiry) done on access and by the sweeper.

Layer: kms. The pure rules live in ``rotation``, ``deletion``, ``imports``, ``managed`` and
``due``; the API operations built on them register themselves into the operation table.
"""
