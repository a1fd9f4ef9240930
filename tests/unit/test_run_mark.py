"""RunMark: every ended run reported once across restarts, including runs that ended at the same instant."""

from datetime import UTC, datetime, timedelta

from service.adapters.jobrunner.run_mark import CLOCK_MARGIN, RunMark


def test_a_new_mark_starts_a_clock_margin_back_and_is_kept(tmp_path):
    before = datetime.now(UTC)
    mark = RunMark(tmp_path / "mark.json")
    assert before - CLOCK_MARGIN - timedelta(seconds=1) <= mark.since <= datetime.now(UTC) - CLOCK_MARGIN
    assert RunMark(tmp_path / "mark.json").since == mark.since


def test_runs_ending_at_the_mark_are_remembered_until_a_later_one_moves_it(tmp_path):
    mark = RunMark(tmp_path / "mark.json")
    ended = (mark.since + timedelta(minutes=5)).replace(microsecond=211260)  # after the new mark, as Airflow says it
    written = ended.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    mark.advance(written, "a")
    mark.advance(written, "b")
    again = RunMark(tmp_path / "mark.json")  # after a restart
    assert again.since == ended
    assert again.reported("a") and again.reported("b") and not again.reported("c")
    again.advance((ended + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ"), "c")
    assert not again.reported("a") and again.reported("c")
    assert RunMark(tmp_path / "mark.json").seen == {"c"}


def test_an_unreadable_mark_starts_again_from_now(tmp_path):
    (tmp_path / "mark.json").write_text("{not json")
    assert RunMark(tmp_path / "mark.json").since > datetime.now(UTC) - CLOCK_MARGIN - timedelta(seconds=5)
