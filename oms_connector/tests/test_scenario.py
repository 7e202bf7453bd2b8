"""Runs each scenario_*.rst the way Tryton does (its checker, set-up and
tear-down dropping the database), as one pytest test per scenario."""
import io
import unittest
from pathlib import Path

import pytest

from trytond.tests.test_tryton import load_doc_tests

SCENARIOS = sorted(
    p.name for p in Path(__file__).parent.glob('scenario_*.rst'))


def load_tests(*args, **kwargs):
    return load_doc_tests(__name__, __file__, *args, **kwargs)


@pytest.mark.parametrize('scenario', SCENARIOS)
def test_scenario(scenario):
    loader = unittest.TestLoader()
    loader.testNamePatterns = [scenario]
    suite = load_doc_tests(
        __name__, __file__, loader, unittest.TestSuite(), None)
    stream = io.StringIO()
    result = unittest.TextTestRunner(stream=stream, verbosity=2).run(suite)
    assert result.testsRun == 1
    assert result.wasSuccessful(), stream.getvalue()
