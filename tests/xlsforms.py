"""XLSForms written as a researcher writes them in a spreadsheet (openpyxl), for the XLSForm tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openpyxl

Rows = list[list[Any]]


def workbook(path: Path, survey: Rows, choices: Rows | None = None, settings: Rows | None = None,
             sheet_names: tuple[str, str, str] = ("survey", "choices", "settings")) -> Path:
    """Write the sheets (first row: the column headers) to an .xlsx file; ``None`` leaves a sheet out."""
    wb = openpyxl.Workbook()
    first = True
    for name, rows in zip(sheet_names, (survey, choices, settings), strict=True):
        if rows is None:
            continue
        sheet = wb.active if first else wb.create_sheet()
        assert sheet is not None
        sheet.title = name
        first = False
        for row in rows:
            sheet.append(row)
    wb.save(path)
    return path


# A text and an integer question, a yes/no select, or_other and a "specify other" text (pyxform's fixtures' kinds).
BASIC_SURVEY: Rows = [
    ["type", "name", "label", "hint", "required", "relevant", "constraint", "constraint_message"],
    ["start", "start"],
    ["end", "end"],
    ["today", "today"],
    ["deviceid", "deviceid"],
    ["note", "welcome", "Three short questions about your pets."],
    ["text", "name", "What is your name?", "Your first name is enough", "yes"],
    ["integer", "age", "How old are you?", None, None, None, ". >= 18 and . <= 99", "Between 18 and 99"],
    ["select_one yes_no", "has_pet", "Do you have a pet?", None, "yes"],
    ["select_one pets or_other", "pet", "Which pet?", None, None, "${has_pet} = 'yes'"],
    ["select_multiple food", "food", "What does it eat?", None, None, "${has_pet} = 'yes'"],
    ["text", "food_other", "What else does it eat?", None, None, "selected(${food}, 'other')"],
    ["note", "bye", "That is all, thank you!"],
]
BASIC_CHOICES: Rows = [
    ["list_name", "name", "label"],
    ["yes_no", "yes", "Yes"],
    ["yes_no", "no", "No"],
    ["pets", "cat", "Cat"],
    ["pets", "dog", "Dog"],
    ["food", "meat", "Meat"],
    ["food", "fish", "Fish"],
    ["food", "other", "Something else"],
]
BASIC_SETTINGS: Rows = [["form_title", "form_id", "version"], ["Pets", "pets_form", "2"]]

# The same kind of form in two languages, as pyxform reads `label::Language (code)` columns.
TWO_LANGUAGE_SURVEY: Rows = [
    ["type", "name", "label::English (en)", "label::Русский (ru)", "hint::English (en)", "hint::Русский (ru)",
     "parameters", "relevant"],
    ["select_one yes_no", "likes_tea", "Do you like tea?", "Вы любите чай?", "One answer", "Один ответ"],
    ["range", "cups", "Cups a day?", "Сколько чашек в день?", None, None, "start=0 end=5 step=1",
     "${likes_tea} = 'yes'"],
    ["integer", "year", "Year of birth?", "Год рождения?", None, None, None, "not(${cups} > 4) or ${likes_tea} = 'no'"],
]
TWO_LANGUAGE_CHOICES: Rows = [
    ["list_name", "name", "label::English (en)", "label::Русский (ru)"],
    ["yes_no", "yes", "Yes", "Да"],
    ["yes_no", "no", "No", "Нет"],
]
TWO_LANGUAGE_SETTINGS: Rows = [["form_title", "form_id", "default_language"], ["Tea", "tea", "Русский (ru)"]]
