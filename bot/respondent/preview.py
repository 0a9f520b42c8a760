"""``surveybot preview FILE``: a questionnaire in the terminal as a respondent sees it, to review before launch.

The screens come from the same renderer the bot uses (bot.respondent.screens), so texts, hints and buttons are exactly
what Telegram would show; the skip logic of each question is spelled out under it.
"""

from __future__ import annotations

import html
import re

from bot.respondent import screens
from survey.flow import Answer, Progress
from survey.model import OTHER, Condition, Survey
from survey.randomize import randomized


def _plain(text: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", text))


def _buttons(screen: screens.Screen) -> list[str]:
    if screen.keyboard is None:
        return []
    return ["  " + "  ".join(f"[ {b.text} ]" for b in row) for row in screen.keyboard.inline_keyboard]


def describe_condition(survey: Survey, cond: Condition) -> str:
    """One show_if condition in Russian, with option labels instead of ids."""
    if cond.any is not None:
        return "(" + " или ".join(describe_condition(survey, c) for c in cond.any) + ")"
    if cond.all is not None:
        return "(" + " и ".join(describe_condition(survey, c) for c in cond.all) + ")"
    if cond.not_ is not None:
        return f"неверно, что {describe_condition(survey, cond.not_)}"
    assert cond.question is not None  # the model's rule: a test of one question, or any / all / not
    ref = survey.get(cond.question)
    name = f"вопрос {survey.number(ref.id)} ({ref.id})"
    label = lambda oid: ref.option_label(oid, survey.other_label(ref)) if oid != OTHER else survey.other_label(ref)  # noqa: E731
    parts = []
    if cond.any_of is not None:
        parts.append(f"в ответе на {name} выбрано любое из: " + "; ".join(f"«{label(o)}»" for o in cond.any_of))
    if cond.none_of is not None:
        parts.append(f"в ответе на {name} не выбрано ни одно из: " + "; ".join(f"«{label(o)}»" for o in cond.none_of))
    if cond.min is not None:
        parts.append(f"ответ на {name} не меньше {cond.min}")
    if cond.max is not None:
        parts.append(f"ответ на {name} не больше {cond.max}")
    if cond.selected_min is not None:
        parts.append(f"в ответе на {name} выбрано не меньше {cond.selected_min}")
    if cond.selected_max is not None:
        parts.append(f"в ответе на {name} выбрано не больше {cond.selected_max}")
    if cond.answered is not None:
        parts.append(f"на {name} {'ответили' if cond.answered else 'не ответили'}")
    return " и ".join(parts)


def preview_lines(survey: Survey) -> list[str]:
    """The whole questionnaire as plain text lines: intro, every question with its buttons and skip logic, the end."""
    rule = "─" * 60
    intro = screens.start_screen(survey)
    lines = [rule, _plain(intro.text), *_buttons(intro)]
    for q in survey.questions:
        answers: dict[str, Answer] = {}
        if q.options_from is not None:  # every option on show: as if all were chosen (or none, for not_selected)
            every = tuple(q.option_ids) if q.options_from.take == "selected" else ()
            answers[q.options_from.question] = Answer(option_ids=every)
        screen = screens.question_screen(survey, Progress(current=q.id, answers=answers), version=0)
        lines += ["", rule, _plain(screen.text), *_buttons(screen)]
        if q.options_from is not None:
            source = survey.get(q.options_from.question)
            which = "выбранные" if q.options_from.take == "selected" else "не выбранные"
            lines.append(f"  ↳ варианты — {which} в вопросе {survey.number(source.id)} ({source.id}); "
                         "предложить нечего — вопрос не задаётся")
        if randomized(survey, q):
            lines.append("  ↳ варианты — в случайном порядке для каждого респондента"
                         + (" (закреплённые — на своих местах)" if any(o.fixed for o in q.options) else ""))
        if q.show_if:
            lines.append("  ↳ показывается, только если " + " и ".join(describe_condition(survey, c) for c in q.show_if))
        if q.required:
            lines.append("  ↳ обязательный: «Пропустить» нет")
    lines += ["", rule, _plain(screens.finished_screen(survey, Progress(current=None)).text), rule]
    return lines
