"""What a run already spent on a model, read before each AI pass (`ai_lane.spent_before`)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.outputs import ai_lane
from app.pipeline.ai.types import Usage
from app.pipeline.budget import Spend
from tests.support.factories import make_account, make_profile, make_shell_file


def test_a_pass_counts_what_the_passes_before_it_spent(db_session: Session) -> None:
    account, _ = make_account(db_session)
    profile = make_profile(db_session, account)
    shell_file = make_shell_file(db_session, profile.id, account.id)
    for stage, tokens in (("pass1", 1000), ("pass2", 300), ("pass3", 50)):
        usage = Usage("openai", "m", 1, tokens, 10, tokens / 1000)
        ai_lane.save_usage(db_session, shell_file.id, stage, usage)
    db_session.flush()

    assert ai_lane.spent_before(db_session, shell_file.id, "pass1") == Spend()
    assert ai_lane.spent_before(db_session, shell_file.id, "pass2") == Spend(1010, 1.0)
    spent = ai_lane.spent_before(db_session, shell_file.id, "pass3")
    assert (spent.tokens, round(spent.cost_usd, 6)) == (1320, 1.3)
