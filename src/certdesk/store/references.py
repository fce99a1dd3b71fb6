"""How a person names a stored object: by id, or by a friendly name used once."""

from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from certdesk.errors import Ambiguous, NotFound
from certdesk.store import schema

Named = TypeVar("Named", schema.Certificate, schema.Request)


def by_reference(session: Session, model: type[Named], kind: str, ref: str) -> Named:
    """The object whose id is `ref`, else the only one named `ref`.

    Raises NotFound when nothing answers, Ambiguous when the name is shared.
    """
    ref = ref.strip()
    if ref.isdigit():
        row = session.get(model, int(ref))
        if row is not None:
            return row
    named = session.scalars(select(model).where(model.name == ref)).all()
    if len(named) == 1:
        return named[0]
    if named:
        raise Ambiguous(kind, ref, [r.id for r in named])
    raise NotFound(kind, ref)
