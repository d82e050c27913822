"""The key page's imported key material (an ``EXTERNAL`` key): the files GetParametersForImport
hands out, and the ImportKeyMaterial request made of the upload form.

Layer: server (adapter). Both are requests of the signed-in principal (``Console.call``); this
module only turns the service's answer into a download and the form into the request's
parameters. The key material itself never passes here in plaintext: the user wraps it with the
downloaded public key outside the console, and the service unwraps it in its kernel.
"""

from __future__ import annotations

import base64
import io
import re
import zipfile
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from kmspolicy.crypto.wrapping import ACCEPTED_ALGORITHMS, ACCEPTED_WRAPPING_KEY_SPECS
from kmspolicy.kms.lifecycle.imports import ImportType
from kmspolicy.kms.model import ExpirationModelType
from kmspolicy.server.console.web import Request

# the form's choices: what the service accepts (the first expiration model is the form's default)
WRAPPING_ALGORITHMS = ACCEPTED_ALGORITHMS
WRAPPING_KEY_SPECS = ACCEPTED_WRAPPING_KEY_SPECS
EXPIRATION_MODELS = (
    ExpirationModelType.KEY_MATERIAL_DOES_NOT_EXPIRE,
    ExpirationModelType.KEY_MATERIAL_EXPIRES,
)
IMPORT_TYPES = (ImportType.EXISTING_KEY_MATERIAL, ImportType.NEW_KEY_MATERIAL)
_KEY_ID = re.compile(r"[A-Za-z0-9-]{1,64}")


def default_wrapping(key_spec: str) -> str:
    """RSAES_OAEP cannot carry an RSA private key: asymmetric material is wrapped twice."""
    if key_spec == "SYMMETRIC_DEFAULT" or key_spec.startswith("HMAC_"):
        return "RSAES_OAEP_SHA_256"
    return "RSA_AES_KEY_WRAP_SHA_256"


def import_params(request: Request, key_id: str) -> dict[str, Any]:
    """ImportKeyMaterial's parameters from the upload form (multipart: the two files, the
    expiration, and for a symmetric key the import type). Nothing is checked here: a missing
    file, an unknown model or a ValidTo that is no time reach the service, whose validation
    error is shown inline as the API gives it."""
    form, files = request.form, request.files
    params: dict[str, Any] = {
        "KeyId": key_id,
        "EncryptedKeyMaterial": base64.b64encode(files.get("EncryptedKeyMaterial", b"")).decode(),
        "ImportToken": base64.b64encode(files.get("ImportToken", b"")).decode(),
    }
    for name in ("ExpirationModel", "ImportType", "KeyMaterialDescription"):
        if form.get(name):
            params[name] = form[name]
    valid_to = form.get("ValidTo", "").strip()
    if valid_to:
        params["ValidTo"] = _epoch(valid_to)
    return params


def _epoch(text: str) -> int | str:
    """A ``datetime-local`` value (read as UTC) in Unix seconds, as the JSON API sends a
    timestamp; anything else is sent as written for the service to refuse."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return text
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp())


def import_parameters_zip(
    result: Mapping[str, Any], asked: Mapping[str, str], now: datetime
) -> tuple[bytes, str]:
    """(the ZIP file, its name) of a GetParametersForImport answer: the wrapping public key
    (DER), the import token, and a README saying what they are for and until when."""
    arn = str(result.get("KeyId", ""))
    key_id = arn.rpartition("/")[2]
    if not _KEY_ID.fullmatch(key_id):  # the name goes into a header: the service's id only
        key_id = "key"
    valid_to = result.get("ParametersValidTo")
    until = (
        datetime.fromtimestamp(valid_to, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        if isinstance(valid_to, int | float)
        else str(valid_to)
    )
    algorithm = asked.get("WrappingAlgorithm", "")
    readme = [
        f"Import parameters for {arn}",
        f"Wrapping algorithm: {algorithm}; wrapping key spec: {asked.get('WrappingKeySpec', '')}",
        f"Valid until: {until} (then ask for new ones)",
        "",
        "WrappingPublicKey.bin  the RSA public key (DER, SubjectPublicKeyInfo) to wrap the key",
        "                       material with, using the algorithm above",
        "ImportToken.bin        upload it with the wrapped material; it only fits this public key",
        "",
        "Wrap the material (32 bytes for SYMMETRIC_DEFAULT, the HMAC key's bytes, or the private",
        "key as DER PKCS#8) outside the console, then upload the result and ImportToken.bin on",
        "the key's page. The console never sees the plaintext material.",
    ]
    if algorithm.startswith("RSAES_OAEP_"):
        digest = "sha256" if algorithm.endswith("256") else "sha1"
        readme += [
            "",
            "With OpenSSL:",
            "  openssl pkeyutl -encrypt -pubin -inkey WrappingPublicKey.bin -keyform DER \\",
            f"    -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:{digest} \\",
            f"    -pkeyopt rsa_mgf1_md:{digest} -in material.bin -out EncryptedKeyMaterial.bin",
        ]
    stamp = now.astimezone(UTC).timetuple()[:6]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in (
            ("WrappingPublicKey.bin", base64.b64decode(str(result.get("PublicKey", "")))),
            ("ImportToken.bin", base64.b64decode(str(result.get("ImportToken", "")))),
            ("README.txt", ("\n".join(readme) + "\n").encode("utf-8")),
        ):
            archive.writestr(zipfile.ZipInfo(name, date_time=stamp), data)
    return out.getvalue(), f"ImportParameters-{key_id}.zip"
