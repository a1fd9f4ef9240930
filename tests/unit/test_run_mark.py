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
    mark.advance("2026-12-05T10:40:41.211260Z", "a")
    mark.advance("2026-12-05T10:40:41.211260Z", "b")
    again = RunMark(tmp_path / "mark.json")  # after a restart
    assert again.since == datetime(2026, 12, 5, 10, 40, 41, 211260, tzinfo=UTC)
    assert again.reported("a") and again.reported("b") and not again.reported("c")
    again.advance("2026-12-05T10:40:42Z", "c")
    assert not again.reported("a") and again.reported("c")
    assert RunMark(tmp_path / "mark.json").seen == {"c"}


def test_an_unreadable_mark_starts_again_from_now(tmp_path):
    (tmp_path / "mark.json").write_text("{not json")
    assert RunMark(tmp_path / "mark.json").since > datetime.now(UTC) - CLOCK_MARGIN - timedelta(seconds=5)
