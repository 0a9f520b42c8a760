"""Significance tests for summaries, cross-tabs and wave comparisons, all from scipy.stats.

Which test runs:

* two proportions (a share now against an earlier wave's): the pooled two-proportion z-test,
  computed as Pearson's chi-square on the 2×2 table without continuity correction (z² = χ²,
  the same p-value), or Fisher's exact test when an expected count of that table is below 5;
* a contingency table (cross-tab): Pearson's chi-square test of independence (no continuity
  correction), with Cramér's V; a 2×2 table with an expected count below 5 gets Fisher's exact
  test instead. When more than 20 % of the expected counts are below 5 the result is flagged
  unreliable (the usual rule of thumb);
* numbers and scales across columns: the Kruskal–Wallis H test.

Adjusted standardized residuals (Haberman) mark cells whose count differs from independence
beyond ±1.96 (p < 0.05 for the cell), as tabulation tools mark significant column differences.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


ALPHA = 0.05
RESIDUAL_LIMIT = 1.96
LOW_EXPECTED = 5
UNRELIABLE_SHARE = 0.2


def _scipy_stats() -> ModuleType:
    # Imported on the first test, not with the bot: scipy.stats alone takes ~0.8 s to import, most of the
    # start-up budget (≤ 2 s), and most runs of the bot never compute a test.
    from scipy import stats

    return stats


@dataclass(frozen=True)
class TestResult:
    """The outcome of one test: which one, its statistic, degrees of freedom and p-value."""

    name: str  # "chi2" | "fisher" | "z" | "kruskal"
    p_value: float
    statistic: float | None = None
    df: int | None = None
    cramers_v: float | None = None
    low_expected_share: float = 0.0  # share of expected counts below 5
    unreliable: bool = False

    @property
    def significant(self) -> bool:
        """p < 0.05."""
        return self.p_value < ALPHA


def _clean_p(p: float) -> float:
    # Floating error can push an exact 1 a hair above or below it.
    return min(1.0, max(0.0, float(p)))


def two_proportions(count1: int, n1: int, count2: int, n2: int) -> TestResult | None:
    """Equal proportions count1/n1 = count2/n2, two-sided: pooled z-test, or Fisher when expected < 5."""
    import numpy as np  # loaded with the first test or table, not at the bot's start
    if n1 <= 0 or n2 <= 0 or not 0 <= count1 <= n1 or not 0 <= count2 <= n2:
        return None
    table = np.array([[count1, n1 - count1], [count2, n2 - count2]])
    if table.sum(axis=0).min() == 0:  # nobody (or everybody) chose it in both waves: nothing to test
        return TestResult("z", 1.0, statistic=0.0)
    stats = _scipy_stats()
    expected = stats.contingency.expected_freq(table)
    if (expected < LOW_EXPECTED).any():
        _, p = stats.fisher_exact(table, alternative="two-sided")
        return TestResult("fisher", _clean_p(p))
    chi2, p, _, _ = stats.chi2_contingency(table, correction=False)
    # The pooled z statistic is the signed square root of this chi-square.
    z = math.copysign(math.sqrt(max(chi2, 0.0)), count1 / n1 - count2 / n2)
    return TestResult("z", _clean_p(p), statistic=z)


def _trim(table: np.ndarray) -> np.ndarray:
    """Drop all-zero rows and columns (they carry no information and break expected counts)."""
    table = table[table.sum(axis=1) > 0]
    return table[:, table.sum(axis=0) > 0] if table.size else table


def independence(table: np.ndarray) -> TestResult | None:
    """Chi-square test of independence of a contingency table (Fisher for a sparse 2×2); None if untestable."""
    import numpy as np  # loaded with the first test or table, not at the bot's start
    table = _trim(np.asarray(table, dtype=float))
    if table.ndim != 2 or table.shape[0] < 2 or table.shape[1] < 2:
        return None
    stats = _scipy_stats()
    expected = stats.contingency.expected_freq(table)
    low = float((expected < LOW_EXPECTED).mean())
    if table.shape == (2, 2) and low > 0:
        _, p = stats.fisher_exact(table.astype(int), alternative="two-sided")
        return TestResult("fisher", _clean_p(p), low_expected_share=low)
    chi2, p, dof, _ = stats.chi2_contingency(table, correction=False)
    v = float(stats.contingency.association(table.astype(int), method="cramer", correction=False))
    return TestResult(
        "chi2", _clean_p(p), statistic=float(chi2), df=int(dof), cramers_v=v,
        low_expected_share=low, unreliable=low > UNRELIABLE_SHARE,
    )


def adjusted_residuals(table: np.ndarray) -> np.ndarray:
    """Adjusted standardized residuals (O − E) / √(E (1 − row/N)(1 − col/N)); 0 where undefined."""
    import numpy as np  # loaded with the first test or table, not at the bot's start
    observed = np.asarray(table, dtype=float)
    total = observed.sum()
    out = np.zeros_like(observed)
    if total <= 0:
        return out
    rows = observed.sum(axis=1, keepdims=True)
    cols = observed.sum(axis=0, keepdims=True)
    expected = rows @ cols / total
    variance = expected * (1 - rows / total) * (1 - cols / total)
    np.divide(observed - expected, np.sqrt(variance), out=out, where=variance > 0)
    return out


def mark(residual: float) -> str:
    """"▲" / "▼" for a residual beyond ±1.96, else ""."""
    if residual > RESIDUAL_LIMIT:
        return "▲"
    if residual < -RESIDUAL_LIMIT:
        return "▼"
    return ""


def kruskal(groups: list[np.ndarray]) -> TestResult | None:
    """Kruskal–Wallis H test across groups of values (groups with no values are left out)."""
    import numpy as np  # loaded with the first test or table, not at the bot's start
    groups = [np.asarray(g, dtype=float) for g in groups if len(g)]
    if len(groups) < 2:
        return None
    if len({float(v) for g in groups for v in np.unique(g)}) < 2:
        return TestResult("kruskal", 1.0, statistic=0.0, df=len(groups) - 1)  # all values equal
    h, p = _scipy_stats().kruskal(*groups)
    return TestResult("kruskal", _clean_p(p), statistic=float(h), df=len(groups) - 1)
