"""The one description of a consent record's fields. The table, the record digest, the seal
verification, the export (columns, SQL and formatting) and the visitor's own history are all
derived from it: adding a field here is the whole change, and a test checks the table agrees.

- `digest`: the record digest commits to the field;
- `personal`: encrypted under the visitor's key (it enters the digest only through its
  `<name>_digest` HMAC, so erasing it keeps the digest verifiable) and exported decrypted;
- `history`: shown to the visitor in its own history (`GET …/visitors/me/consents`);
- `kind`: how the value is written out: `text`, `int`, `bool`, `json` (an object) or `time`;
- `digest_when_set`: added after records existed (migration 0006): it enters the digest only when it
  holds a value, so the digests of older records, which never had it, still verify;
- `stored_by_database`: assigned by the database as the row is stored (the writer binds it not).
  Such a field cannot enter the record digest, which is computed before the insert; the seal's
  Merkle leaf commits to the sequence instead (compliance/seals.py).

Every personal field's ciphertext is covered too: the seal's leaf commits to its SHA-256, and a
genuine erasure destroys the visitor's key but keeps the ciphertext, so verification tells an
erasure (nothing changed) from tampering (a ciphertext nulled, swapped or re-encrypted).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["text", "int", "bool", "json", "time"]
#: How a choice was made; `withdraw` narrows an earlier choice and needs the visitor's token; `gpc`
#: is a Global Privacy Control signal recorded as an opt-out of advertising (its source: the
#: browser's signal, with `gpc` true), in a regime where it is one (regimes.py).
METHODS = ("accept_all", "reject_all", "custom", "withdraw", "gpc")


@dataclass(frozen=True)
class RecordField:
    name: str
    meaning: str
    kind: Kind = "text"
    digest: bool = True
    personal: bool = False
    history: bool = True
    digest_when_set: bool = False
    stored_by_database: bool = False


FIELDS: tuple[RecordField, ...] = (
    RecordField("id", "record id: time-sortable, unique"),
    RecordField("site_id", "the site", history=False),
    RecordField("visitor_id", "pseudonymous visitor id", history=False),
    RecordField("policy_version", "the policy version the visitor was shown", "int"),
    RecordField("policy_hash", "SHA-256 of that version's notice"),
    RecordField("choices", "the choice for every category", "json"),
    RecordField("method", "accept_all, reject_all, custom, withdraw or gpc"),
    RecordField("created_at", "when it was recorded (UTC)", "time"),
    RecordField("expires_at", "when the choice lapses (UTC)", "time"),
    RecordField("language", "the language the notice was shown in"),
    RecordField("page_url", "the page, without query or fragment", digest=False, personal=True),
    RecordField("user_agent", "the browser's user agent", digest=False, personal=True),
    RecordField("page_url_digest", "HMAC of page_url under the visitor's key", history=False),
    RecordField("user_agent_digest", "HMAC of user_agent under the visitor's key", history=False),
    RecordField("ip_hash", "the truncated IP address, keyed-hashed (never the address)", history=False),
    RecordField("gpc", "whether a Global Privacy Control signal was present", "bool"),
    RecordField("regime", "the consent model of the visitor's jurisdiction (regimes.py)", digest_when_set=True),
    RecordField("region", "the visitor's country or subdivision (ISO 3166), never an address",
                digest_when_set=True),
    RecordField("regime_version", "the version of that regime's policy the visitor was shown", "int",
                digest_when_set=True),
    RecordField("banner_version", "the banner build that recorded it"),
    RecordField("client_record_id", "the banner's idempotency key", history=False),
    RecordField("digest", "the record digest over every field marked digest", digest=False),
    RecordField("seq", "the order records were stored in (commit order), which seals follow", "int",
                digest=False, history=False, stored_by_database=True),
    RecordField("stored_at", "when the database stored it, by the database's clock", "time",
                digest=False, history=False, stored_by_database=True),
)

FIELD_NAMES = tuple(field.name for field in FIELDS)
#: What the record digest commits to.
DIGEST_FIELDS = tuple(field.name for field in FIELDS if field.digest)
#: Digest fields that enter the digest only when set (see `digest_when_set`).
DIGEST_WHEN_SET = frozenset(field.name for field in FIELDS if field.digest_when_set)
#: What the writer binds when it inserts a record (the rest the database assigns).
WRITTEN_FIELDS = tuple(field.name for field in FIELDS if not field.stored_by_database)
#: Encrypted under the visitor's key; each has a `<name>_digest` field.
PERSONAL_FIELDS = tuple(field.name for field in FIELDS if field.personal)
#: Columns an export adds after the record's own: whether personal data is present, erased or
#: none, and the seal that covers the record.
EXPORT_EXTRAS = ("personal_data", "seal_id")
EXPORT_COLUMNS = FIELD_NAMES + EXPORT_EXTRAS
HISTORY_FIELDS = tuple(field.name for field in FIELDS if field.history)
