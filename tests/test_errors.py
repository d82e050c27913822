"""The error tree: one class per AWS exception name, each named exactly as botocore names it."""

from __future__ import annotations

import botocore.loaders
import pytest

from kmspolicy import errors


def _model_exceptions() -> set[str]:
    model = botocore.loaders.Loader().load_service_model("kms", "service-2")
    return {name for name, shape in model["shapes"].items() if shape.get("exception")}


def test_every_class_is_named_by_its_code() -> None:
    classes = errors.service_error_classes()
    assert classes, "no ServiceError subclasses found"
    assert [code for code, cls in classes.items() if cls.__name__ != code] == []


def test_every_kms_model_exception_we_can_raise_has_a_class() -> None:
    offered = _model_exceptions()
    assert sorted(offered - errors.service_error_classes().keys()) == []


@pytest.mark.parametrize("code", sorted(errors.service_error_classes()))
def test_class_is_a_kms_or_common_aws_error(code: str) -> None:
    common = {
        "AccessDeniedException",
        "ValidationException",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "IncompleteSignatureException",
        "MissingAuthenticationTokenException",
        "ExpiredTokenException",
        "UnknownOperationException",
        "SerializationException",
        "RequestEntityTooLargeException",
        "ThrottlingException",
        # recorded from KMS (reserved alias names), absent from the model
        "NotAuthorizedException",
    }
    assert code in _model_exceptions() | common
