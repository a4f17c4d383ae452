from __future__ import annotations

import pytest

from sendon_results.rates import success_rate


@pytest.mark.parametrize(
    ("success", "failure", "shown"),
    [(0, 0, None), (1, 0, 100.0), (2999, 1, 99.9), (2, 1, 66.6), (1, 2, 33.3), (0, 5, 0.0)],
)
def test_the_success_rate_is_rounded_down_so_100_means_nothing_failed(success, failure, shown):
    assert success_rate(success, failure) == shown
