"""The texts AWS KMS sends with its errors, where AWS's wording is known: one place for them.

Layer: messages (imports nothing; every layer may use it, as ``_version``). Sources: responses
recorded against AWS (LocalStack's snapshot tests ``tests/aws/services/kms/test_kms.snapshot.json``,
moto's tests for the reserved alias prefix) and the KMS API reference. A message here is a fact
about AWS, so tests compare against these functions rather than retyping the text; messages of
our own (where AWS's text is unknown) stay next to the code that raises them.
"""

from __future__ import annotations

ALIAS_GUIDE = "https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html"

#: ValidationException: an alias name without the ``alias/`` prefix (recorded, with the link).
ALIAS_PREFIX = f'Alias must start with the prefix "alias/". Please see {ALIAS_GUIDE}'

#: KMSInvalidSignatureException / KMSInvalidMacException: AWS sends an empty message (recorded),
#: so a failed verification says nothing about why.
INVALID_SIGNATURE = ""
INVALID_MAC = ""

#: InvalidCiphertextException: AWS sends an empty message (recorded: Decrypt without the
#: encryption context the ciphertext was made with), so a ciphertext that does not open says
#: nothing of which part (header, key, version, context, tag) was wrong.
INVALID_CIPHERTEXT = ""

#: NotAuthorizedException on CreateAlias/UpdateAlias/DeleteAlias of a name under ``alias/aws/``:
#: an empty message, HTTP 400 (the answer moto recorded; the KMS model does not list the error).
RESERVED_ALIAS = ""

#: ValidationException: CreateKey of a spec other than SYMMETRIC_DEFAULT without KeyUsage.
KEY_USAGE_REQUIRED = (
    "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys."
)


def digest_length(algorithm: str) -> str:
    """ValidationException: Sign/Verify with MessageType DIGEST of the wrong length."""
    return f"Digest is invalid length for algorithm {algorithm}."


def algorithm_incompatible(algorithm: str, key_spec: str) -> str:
    """InvalidKeyUsageException: an algorithm the key's spec does not offer."""
    return f"Algorithm {algorithm} is incompatible with key spec {key_spec}."


def plaintext_too_large(algorithm: str, key_spec: str, limit: int) -> str:
    """ValidationException: RSA encryption of more than the key size and padding allow."""
    return (
        f"Algorithm {algorithm} and key spec {key_spec} cannot encrypt data larger than "
        f"{limit} bytes."
    )


def arn_of_other_region(region: str) -> str:
    """NotFoundException: a key ARN naming another Region than the endpoint's (names the
    ARN's Region only)."""
    return f"Invalid arn {region}"


def usage_not_valid(key_arn: str, key_usage: str, operation: str) -> str:
    """InvalidKeyUsageException: an operation the key's usage does not allow."""
    return f"{key_arn} key usage is {key_usage} which is not valid for {operation}."
