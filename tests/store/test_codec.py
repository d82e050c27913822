"""Properties of the record codec: every record round-trips, and no secret reaches a document."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from kmspolicy.kms.model import (
    AliasRecord,
    GrantConstraints,
    GrantRecord,
    KeyMaterial,
    KeyMaterialState,
    KeyRecord,
    KeyState,
    PendingImportParameters,
    Tag,
)
from kmspolicy.kms.sealed import Sealed, reveal
from kmspolicy.store import codec

text = st.text(max_size=30)
moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
secrets = st.binary(min_size=16, max_size=64)
hex64 = st.text("0123456789abcdef", min_size=64, max_size=64)

materials = st.builds(
    KeyMaterial,
    material_id=hex64,
    sealed=st.none() | secrets.map(Sealed),
    state=st.sampled_from(KeyMaterialState),
    created=st.none() | moments,
    valid_to=st.none() | moments,
    description=st.none() | text,
    public_key=st.none() | st.binary(max_size=40),
)
imports = st.builds(
    PendingImportParameters,
    import_token_id=st.uuids().map(str),
    wrapping_key_spec=st.just("RSA_2048"),
    wrapping_algorithm=st.just("RSAES_OAEP_SHA_256"),
    sealed_wrapping_key=secrets.map(Sealed),
    valid_to=moments,
)
keys = st.builds(
    KeyRecord,
    key_id=st.uuids().map(str),
    arn=st.uuids().map(lambda u: f"arn:aws:kms:us-east-1:111122223333:key/{u}"),
    account=st.just("111122223333"),
    region=st.just("us-east-1"),
    creation_date=moments,
    key_spec=st.sampled_from(["SYMMETRIC_DEFAULT", "RSA_2048", "HMAC_256"]),
    key_usage=st.sampled_from(["ENCRYPT_DECRYPT", "SIGN_VERIFY"]),
    key_state=st.sampled_from(KeyState),
    policy=text,
    description=text,
    tags=st.lists(st.builds(Tag, key=text, value=text), max_size=3).map(tuple),
    materials=st.lists(materials, max_size=3, unique_by=lambda m: m.material_id).map(tuple),
    pending_imports=st.lists(imports, max_size=2, unique_by=lambda p: p.import_token_id).map(tuple),
    rotation_period_days=st.none() | st.integers(90, 2560),
    on_demand_rotations=st.integers(0, 25),
    deletion_date=st.none() | moments,
)
pairs = st.lists(st.tuples(text, text), max_size=3).map(lambda p: tuple(sorted(p)))


@settings(max_examples=60, deadline=None)
@given(keys)
def test_key_round_trips_and_its_document_holds_no_secret(record: KeyRecord) -> None:
    doc, found = codec.encode_key(record)
    assert codec.decode_key(doc, found) == record
    for m in record.materials:
        if m.sealed is not None:
            assert base64.b64encode(reveal(m.sealed)).decode() not in doc
            assert reveal(m.sealed).hex() not in doc
    for p in record.pending_imports:
        assert p.sealed_wrapping_key is not None
        assert base64.b64encode(reveal(p.sealed_wrapping_key)).decode() not in doc
    expected = sum(m.sealed is not None for m in record.materials) + len(record.pending_imports)
    assert len(found) == expected


@settings(max_examples=40, deadline=None)
@given(st.none() | pairs, st.none() | pairs, st.none() | text, moments)
def test_grant_and_alias_round_trip(equals, subset, retiring, when) -> None:
    constraints = (
        None
        if equals is None and subset is None
        else GrantConstraints(encryption_context_equals=equals, encryption_context_subset=subset)
    )
    grant = GrantRecord(
        grant_id="g" * 64,
        key_arn="arn:aws:kms:us-east-1:111122223333:key/k",
        grantee_principal="arn:aws:iam::111122223333:role/app",
        operations=("Decrypt", "GenerateDataKey"),
        issuing_account="arn:aws:iam::111122223333:root",
        creation_date=when,
        retiring_principal=retiring,
        constraints=constraints,
    )
    assert codec.decode_grant(codec.encode_grant(grant)) == grant
    alias = AliasRecord(
        name="alias/x",
        arn="arn:aws:kms:us-east-1:111122223333:alias/x",
        account="111122223333",
        region="us-east-1",
        target_key_id=retiring,
        creation_date=when,
        last_updated_date=when + timedelta(seconds=1),
    )
    assert codec.decode_alias(codec.encode_alias(alias)) == alias


def test_fields_unknown_to_this_version_are_ignored_and_missing_ones_default() -> None:
    grant = GrantRecord(
        grant_id="g1",
        key_arn="arn:aws:kms:us-east-1:111122223333:key/k",
        grantee_principal="arn:aws:iam::111122223333:role/app",
        operations=("Decrypt",),
        issuing_account="arn:aws:iam::111122223333:root",
        creation_date=datetime(2026, 1, 1, tzinfo=UTC),
    )
    doc = codec.encode_grant(grant)
    newer = doc[:-1] + ',"future_field":42}'
    assert codec.decode_grant(newer) == grant
    older = doc.replace(',"retiring_principal":null', "")
    assert older != doc
    assert codec.decode_grant(older) == grant
