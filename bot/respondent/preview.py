"""``surveybot preview FILE``: a questionnaire in the terminal as a respondent sees it, to review before launch.

The screens come from the same renderer the bot uses (bot.respondent.screens), so texts, hints and buttons are exactly
what Telegram would show; the skip logic of each question is spelled out under it.
"""

from __future__ import annotations

import html
import re

from bot.respondent import screens
from survey.flow import Answer, Progress
from survey.i18n import Translator, translator
from survey.model import OTHER, Condition, Survey
from survey.randomize import randomized


def _plain(text: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", text))


def _buttons(screen: screens.Screen) -> list[str]:
    if screen.keyboard is None:
        return []
    return ["  " + "  ".join(f"[ {b.text} ]" for b in row) for row in screen.keyboard.inline_keyboard]


def describe_condition(t: Translator, survey: Survey, cond: Condition) -> str:
    """One show_if condition in words, with option labels instead of ids."""
    if cond.any is not None:
        either = t.gettext(" or ")
        return "(" + either.join(describe_condition(t, survey, c) for c in cond.any) + ")"
    if cond.all is not None:
        both = t.gettext(" and ")
        return "(" + both.join(describe_condition(t, survey, c) for c in cond.all) + ")"
    if cond.not_ is not None:
        return t.gettext("it is not so that {condition}").format(condition=describe_condition(t, survey, cond.not_))
    assert cond.question is not None  # the model's rule: a test of one question, or any / all / not
    ref = survey.get(cond.question)
    name = t.gettext("question {number} ({id})").format(number=survey.number(ref.id), id=ref.id)
    label = lambda oid: ref.option_label(oid, survey.other_label(ref)) if oid != OTHER else survey.other_label(ref)  # noqa: E731
    parts = []
    if cond.any_of is not None:
        parts.append(t.gettext("the answer to {question} includes any of: {options}").format(
            question=name, options="; ".join(f"«{label(o)}»" for o in cond.any_of)))
    if cond.none_of is not None:
        parts.append(t.gettext("the answer to {question} includes none of: {options}").format(
            question=name, options="; ".join(f"«{label(o)}»" for o in cond.none_of)))
    if cond.min is not None:
        parts.append(t.gettext("the answer to {question} is at least {value}").format(question=name, value=cond.min))
    if cond.max is not None:
        parts.append(t.gettext("the answer to {question} is at most {value}").format(question=name, value=cond.max))
    if cond.selected_min is not None:
        parts.append(t.gettext("the answer to {question} has at least {count} chosen").format(
            question=name, count=cond.selected_min))
    if cond.selected_max is not None:
        parts.append(t.gettext("the answer to {question} has at most {count} chosen").format(
            question=name, count=cond.selected_max))
    if cond.answered is not None:
        parts.append((t.gettext("{question} was answered") if cond.answered else
                      t.gettext("{question} was not answered")).format(question=name))
    return t.gettext(" and ").join(parts)


def preview_lines(survey: Survey, language: str | None = None) -> list[str]:
    """The whole questionnaire as plain text lines, in ``language`` (default: the questionnaire's default language):
    intro, every question with its buttons and skip logic, the end."""
    code = survey.language_for(language)
    t, survey = translator(code), survey.in_language(code)
    rule = "─" * 60
    intro = screens.start_screen(t, survey)
    lines = [rule, _plain(intro.text), *_buttons(intro)]
    for q in survey.questions:
        answers: dict[str, Answer] = {}
        if q.options_from is not None:  # every option on show: as if all were chosen (or none, for not_selected)
            every = tuple(q.option_ids) if q.options_from.take == "selected" else ()
            answers[q.options_from.question] = Answer(option_ids=every)
        screen = screens.question_screen(t, survey, Progress(current=q.id, answers=answers), version=0)
        lines += ["", rule, _plain(screen.text), *_buttons(screen)]
        if q.options_from is not None:
            source = survey.get(q.options_from.question)
            which = t.gettext("the chosen ones") if q.options_from.take == "selected" else t.gettext("the ones not chosen")
            lines.append("  ↳ " + t.gettext("options — {which} in question {number} ({id}); nothing to offer — the "
                                           "question is not asked").format(which=which, number=survey.number(source.id),
                                                                          id=source.id))
        if randomized(survey, q):
            pinned = any(o.fixed for o in q.options)
            lines.append("  ↳ " + (t.gettext("options — in a random order for each respondent (pinned ones in their "
                                             "places)") if pinned else
                                   t.gettext("options — in a random order for each respondent")))
        if q.show_if:
            lines.append("  ↳ " + t.gettext("shown only if {conditions}").format(
                conditions=t.gettext(" and ").join(describe_condition(t, survey, c) for c in q.show_if)))
        if q.required:
            lines.append("  ↳ " + t.gettext("required: no «{skip}»").format(skip=t.gettext(screens.SKIP)))
    lines += ["", rule, _plain(screens.finished_screen(t, survey, Progress(current=None)).text), rule]
    return lines
