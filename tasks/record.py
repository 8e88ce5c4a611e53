"""The last stage of a run: the document's records into its profile's record.

Its work is all in its save, under the document's row lock: it reads the records Pass 2
saved and replaces the document's mentions and the entries they touch
(`app.outputs.record.refresh_document`), in the transaction that completes the run.
A document archived or cancelled meanwhile adds nothing.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.models import ShellFile
from app.outputs import record
from tasks.base import Save, StageContext


def record_work(context: StageContext) -> Save:
    def save(session: Session) -> None:
        shell_file = session.get(ShellFile, context.shell_file_id, with_for_update=True)
        if shell_file is not None and shell_file.status == "processing":
            record.refresh_document(session, shell_file)

    return save
