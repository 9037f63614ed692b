"""Session credentials in PostgreSQL: versions, checksums, and damage told apart."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from services.session.credentials import CredentialsCorrupt, CredentialsInvalid, CredentialStore


def test_each_write_is_a_new_version(engine: Engine) -> None:
    store = CredentialStore(engine)
    assert store.load("s1") is None

    first, second = store.write("s1", "t"), store.write("s1", "t")

    assert (first.version, second.version) == (1, 2)
    loaded = store.load("s1")
    assert loaded is not None and loaded.version == 2 and loaded.written_at == second.written_at


def test_changed_bytes_fail_the_checksum(engine: Engine) -> None:
    store = CredentialStore(engine)
    store.write("s1", "t")
    store.damage("s1", keep_checksum=True)

    with pytest.raises(CredentialsInvalid):
        store.load("s1")


def test_garbage_with_a_matching_checksum_is_corruption(engine: Engine) -> None:
    store = CredentialStore(engine)
    store.write("s1", "t")
    store.damage("s1", keep_checksum=False)

    with pytest.raises(CredentialsCorrupt):
        store.load("s1")
    store.write("s1", "t")
    assert store.load("s1") is not None
