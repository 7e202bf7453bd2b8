"""The labels the PostgreSQL cache puts on its databases: which source
built them, when, and what their setup answered (harness/databases.py).
A run keeps another checkout's databases while they are recent, so two
benchmarks of two checkouts on one server do not drop each other's
templates."""
from harness.databases import LABEL, _label


def test_a_label_says_its_source_time_and_answer():
    comment = f'{LABEL} abc123 1765000000 {{"agent_key": "k"}}'
    assert _label(comment) == ('abc123', 1765000000, {'agent_key': 'k'})


def test_an_older_label_without_time_reads_as_built_long_ago():
    assert _label(f'{LABEL} abc123 {{}}') == ('abc123', 0, {})


def test_other_comments_are_no_label():
    assert _label(None) is None
    assert _label('bench.reports abc lines=10') is None

