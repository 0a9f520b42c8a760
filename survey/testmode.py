"""The test copy of a questionnaire: the same questions under a survey id of its own.

Test answers are stored under ``<id>__test``, so everything that reads the survey's responses by its
id (summaries, charts, funnel, exports, the quota) leaves them out without a filter of its own, and
``/stats test`` reads them by the test id. The copy has no dates and no quota: admins can try the
questionnaire before it opens and after it closes. Nor a consent step: admins trying their own questionnaire are not asked for it.
"""

from __future__ import annotations

from survey.model import Survey

TEST_SUFFIX = "__test"


def copy_for_tests(survey: Survey) -> Survey:
    """The questionnaire as test runs store it."""
    meta = survey.survey.model_copy(update={"id": survey.id + TEST_SUFFIX, "opens_at": None, "closes_at": None,
                                            "quota": None, "consent": None})
    return survey.model_copy(update={"survey": meta})
