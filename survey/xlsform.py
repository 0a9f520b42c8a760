"""An XLSForm (.xlsx, .xls, .csv) as a questionnaire: read with pyxform, mapped onto the survey model.

pyxform reads the workbook (``get_xlsform``) and parses it into its JSON form (``workbook_to_json``); this module
walks that JSON and builds the same mapping a YAML file holds, with the sheet and row of every part as its
position, so ``survey.loader.parse_survey`` validates both alike. What a chat survey cannot do is refused, every
such row at once (``survey:12: type geopoint is not supported in a chat survey``); ``Notes`` are what is read
differently from a form app (a decimal asked as a whole number); ``parameters`` ``randomize=true``
is the questionnaire's ``randomize: true``. ``write_xlsform`` writes a questionnaire back.
"""

from __future__ import annotations

import json as json_module
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from survey import xpath
from survey.diagnostics import Finding, Positions, SheetRow
from survey.model import ID_PATTERN, OTHER, Condition, QuestionType

if TYPE_CHECKING:
    from pyxform.xls2json_backends import DefinitionData

XLSFORM_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".csv")
# surveybot's own sheet: what XLSForm has no column for (scale labels, research metadata), one JSON per row.
EXTENSION_SHEET = "surveybot"
# The names `surveybot convert` writes in language columns (``label::English (en)``); other codes as themselves.
LANGUAGE_NAMES = {"ru": "Русский", "en": "English", "de": "Deutsch", "fr": "Français", "es": "Español",
                  "uk": "Українська", "kk": "Қазақша"}
_ID = re.compile(ID_PATTERN)
_CODE = re.compile(r"^[a-z]{2,3}(?:-[a-z0-9]{2,8})*$")
_NAMED_CODE = re.compile(r"\(\s*([A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*)\s*\)\s*$")
_OLE2 = bytes.fromhex("d0cf11e0a1b11ae1")
_ROW = re.compile(r"^\s*\[row\s*:\s*(\d+)\]\s*")
_TRANSLATED = ("label", "hint", "constraint_message", "constraint message", "required_message", "image", "audio",
               "video", "media::image", "media::audio", "media::video", "guidance_hint")
# Metadata every form app records; the bot records when a response started and ended on its own.
METADATA = {"start", "end", "today", "deviceid", "username", "simserial", "subscriberid", "phonenumber", "audit",
            "start-geopoint", "background-audio"}
_SUPPORTED = {"select one", "select all that apply", "integer", "decimal", "text", "range", "note", "group"}
# Columns whose value asks for something a chat survey does not do.
_REFUSED_COLUMNS = {
    "calculation": "calculation", "choice_filter": "choice_filter", "repeat_count": "repeat_count",
    "default": "default", "trigger": "trigger", "read_only": "read_only", "readonly": "read_only",
    "jr:count": "repeat_count", "body::accuracyThreshold": "accuracyThreshold",
}


@dataclass
class Notes:
    """What was read differently from a form app: shown by check-survey, never a problem."""

    items: list[Finding] = field(default_factory=list)

    def add(self, where: SheetRow | None, text: str) -> None:
        self.items.append(Finding(where, text))


@dataclass
class _Form:
    """The workbook's rows as pyxform read them, for row numbers (pyxform's JSON does not keep them)."""

    survey_rows: dict[str, int]  # name (lowercase) -> row
    types: dict[str, str]  # name (lowercase) -> the type as written
    choice_rows: dict[tuple[str, str], int]  # (list name, choice name) -> row
    problems: list[Finding]
    has_settings: bool = False


def is_xlsform(path: Path) -> bool:
    """Whether a questionnaire file is a spreadsheet (read as an XLSForm) rather than YAML."""
    return path.suffix.lower() in XLSFORM_SUFFIXES


def language_code(name: str) -> str | None:
    """The code of an XLSForm language name: ``English (en)`` → ``en``, ``ru`` → ``ru``; None without one."""
    name = name.strip()
    if _CODE.match(name.lower()) and len(name) <= 12:
        return name.lower()
    m = _NAMED_CODE.search(name)
    return m.group(1).lower().replace("_", "-") if m else None


def _cell(row: dict[str, Any], column: str) -> str:
    for key, value in row.items():
        if key.strip().lower() == column:
            return str(value).strip()
    return ""


def _read_rows(data: DefinitionData) -> _Form:
    """Row numbers of names and choices, and the problems visible in the rows themselves (duplicate names,
    language columns without a code); a refused row is blanked so pyxform still parses the rest."""
    problems: list[Finding] = []
    survey_rows: dict[str, int] = {}
    types: dict[str, str] = {}
    rows = list(data.survey or [])
    for index, row in enumerate(rows):
        number = index + 2
        name = _cell(row, "name").lower()
        if not name:
            continue
        if name in survey_rows:
            problems.append(Finding(SheetRow("survey", number), f"name '{_cell(row, 'name')}' is used twice (also row "
                                                                f"{survey_rows[name]}): each question needs its own name"))
            rows[index] = {}
            continue
        survey_rows[name] = number
        types[name] = _cell(row, "type")
    data.survey = rows
    choice_rows: dict[tuple[str, str], int] = {}
    for index, row in enumerate(data.choices or []):
        key = (_cell(row, "list_name") or _cell(row, "list name"), _cell(row, "name"))
        choice_rows.setdefault(key, index + 2)
    for sheet, header in (("survey", data.survey_header), ("choices", data.choices_header)):
        for column in (header[0] if header else {}):
            base, sep, lang = str(column).partition("::")
            if not sep or base.strip().lower() not in _TRANSLATED:
                continue
            if language_code(lang) is None:
                problems.append(Finding(SheetRow(sheet, 1), f"column '{column}': the language '{lang.strip()}' has no "
                                                            f"code; write it like '{base.strip()}::English (en)'"))
    return _Form(survey_rows, types, choice_rows, problems, has_settings=bool(data.settings))


def _parse_json(data: DefinitionData, form: _Form, stem: str) -> dict[str, Any] | None:
    """pyxform's JSON of the form; each error pyxform stops at is recorded and its row blanked, then again."""
    from pyxform.errors import PyXFormError
    from pyxform.xls2json import workbook_to_json

    for _ in range(100):
        try:
            return workbook_to_json(data, form_name=_safe_name(stem), fallback_form_name=_safe_name(stem),
                                    warnings=[])
        except PyXFormError as exc:
            text = " ".join(str(exc).split())
            m = _ROW.match(text)
            rows = list(data.survey or [])
            if m is None or not 2 <= int(m.group(1)) < len(rows) + 2 or not rows[int(m.group(1)) - 2]:
                form.problems.append(Finding(None, text))
                return None
            row = int(m.group(1))
            form.problems.append(Finding(SheetRow("survey", row), text[m.end():]))
            rows[row - 2] = {}
            data.survey = rows
    return None


def _safe_name(stem: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_]", "_", stem) or "form"
    return name if name[0].isalpha() else f"form_{name}"


def read_xlsform(path: Path) -> tuple[dict[str, Any], Positions, list[Finding], list[Finding]]:
    """An XLSForm as a questionnaire mapping, the sheet and row of its parts, the problems that refuse it, and
    the notes on what is read differently. Nothing here raises for the file's content."""
    # pyxform (and the spreadsheet readers under it) takes a while to import: only when a form is read.
    from pyxform.errors import PyXFormError
    from pyxform.xls2json_backends import get_xlsform

    try:
        head = path.open("rb").read(8)
    except OSError as exc:
        return {}, {}, [Finding(None, f"cannot read the file: {exc.strerror or exc}")], []
    if head == _OLE2 and path.suffix.lower() in (".xlsx", ".xlsm"):
        # Excel keeps a workbook with a password to open it as an encrypted OLE2 file instead of a zip.
        return {}, {}, [Finding(None, "the workbook is password-protected: save a copy without the password")], []
    try:
        data = get_xlsform(str(path))
    except PyXFormError:
        return {}, {}, [Finding(None, "cannot read the workbook: it is damaged, password-protected, or not an "
                                      f"{path.suffix.lstrip('.').upper() or 'XLSForm'} file")], []
    except (OSError, ValueError) as exc:
        return {}, {}, [Finding(None, f"cannot read the file: {exc}")], []
    if data.survey is None:
        names = ", ".join(data.sheet_names or []) or "none"
        return {}, {}, [Finding(None, f"the workbook has no sheet named 'survey' (its sheets: {names})")], []
    form = _read_rows(data)
    json = _parse_json(data, form, path.stem)
    if json is None:
        return {}, {}, form.problems, []
    builder = _Builder(json, form)
    raw = builder.build()
    problems = form.problems + builder.problems
    if EXTENSION_SHEET in (data.sheet_names or []):
        problems += _merge_extension(path, raw)
    return raw, builder.positions, problems, builder.notes.items


def _merge_extension(path: Path, raw: dict[str, Any]) -> list[Finding]:
    """The ``surveybot`` sheet's values merged into the questionnaire (written by ``surveybot convert``)."""
    import openpyxl  # pyxform's own reader of .xlsx, here for the one sheet pyxform leaves alone

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception:  # pyxform read it a moment ago; a sheet it cannot open again is just absent
        return []
    problems: list[Finding] = []
    questions = {q.get("id"): q for q in raw.get("questions", [])}
    try:
        for number, cells in enumerate(book[EXTENSION_SHEET].iter_rows(min_row=2, values_only=True), start=2):
            key, value = (list(cells) + [None, None])[:2]
            if key is None:
                continue
            where = SheetRow(EXTENSION_SHEET, number)
            try:
                extra = json_module.loads(str(value))
            except ValueError:
                problems.append(Finding(where, f"{key}: the value is not JSON"))
                continue
            if not isinstance(extra, dict):
                problems.append(Finding(where, f"{key}: the value is not a JSON object"))
            elif key == "survey":
                raw["survey"].update(extra)
            elif str(key).startswith("question:") and str(key)[9:] in questions:
                q = questions[str(key)[9:]]
                if isinstance(extra.get("scale"), dict) and isinstance(q.get("scale"), dict):
                    q["scale"].update(extra.pop("scale"))
                for option in q.get("options", []):
                    provenance = (extra.get("option_provenance") or {}).get(option.get("id"))
                    if provenance:
                        option["provenance"] = provenance
                extra.pop("option_provenance", None)
                fixed = extra.pop("option_fixed", None)
                for option in q.get("options", []):
                    if isinstance(fixed, list) and option.get("id") in fixed:
                        option["fixed"] = True
                q.update(extra)
            else:
                problems.append(Finding(where, f"'{key}' is not 'survey' or 'question:' and the id of a question"))
    finally:
        book.close()
    return problems


class _Builder:
    """Walks pyxform's JSON of a form into the questionnaire mapping."""

    def __init__(self, json: dict[str, Any], form: _Form):
        self.json, self.form = json, form
        self.positions: Positions = {}
        self.problems: list[Finding] = []
        self.notes = Notes()
        self.questions: list[dict[str, Any]] = []
        self.types: dict[str, QuestionType] = {}  # question id -> type, the questions so far
        self.pending_notes: list[Any] = []  # note texts waiting for the next question
        self.meta: dict[str, Any] = {}
        self.default = self._default_language()

    # Languages -----------------------------------------------------------------------------------------

    def _language_names(self) -> list[str]:
        names: list[str] = []

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                for key in ("label", "hint"):
                    if isinstance(node.get(key), dict):
                        names.extend(node[key])
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)
        walk(self.json)
        return list(dict.fromkeys(names))

    def _default_language(self) -> str:
        named = self.json.get("default_language")
        if isinstance(named, str) and named != "default" and language_code(named):
            return language_code(named)  # type: ignore[return-value]
        names = self._language_names()
        codes = [c for c in (language_code(n) for n in names if n != "default") if c]
        if "default" not in names and codes:
            return codes[0]
        # Texts without a language: the language they are written in.
        sample = " ".join(str(v) for v in self._plain_texts())
        return "ru" if re.search("[А-Яа-яЁё]", sample) else "en"

    def _plain_texts(self) -> list[Any]:
        out: list[Any] = []

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                for key in ("label", "hint"):
                    value = node.get(key)
                    out.append(value.get("default", "") if isinstance(value, dict) else value or "")
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)
        walk(self.json.get("children", []))
        return out

    def text(self, value: Any) -> Any:
        """A label or hint as the questionnaire writes it: one text, or ``{code: text}``."""
        if value is None or isinstance(value, str):
            return value.strip() if isinstance(value, str) else None
        if not isinstance(value, dict):
            return str(value)
        out: dict[str, str] = {}
        for name, text in value.items():
            code = self.default if name == "default" else language_code(name)
            if code is None or not isinstance(text, str) or not text.strip():
                continue
            if name == "default" and code in out:
                continue  # the column named in the language wins over the one without
            out[code] = text.strip()
        if not out:
            return None
        return out[self.default] if list(out) == [self.default] else out

    # The walk ------------------------------------------------------------------------------------------

    def row(self, name: str | None) -> SheetRow | None:
        number = self.form.survey_rows.get((name or "").lower())
        return SheetRow("survey", number) if number else None

    def place(self, path: tuple[Any, ...], where: SheetRow | None) -> None:
        if where is not None:
            self.positions[path] = where

    def refuse(self, name: str | None, text: str) -> None:
        self.problems.append(Finding(self.row(name), text))

    def build(self) -> dict[str, Any]:
        settings = SheetRow("settings", 2)
        form_id = str(self.json.get("id_string") or self.json.get("name") or "form").lower()
        survey_id = re.sub(r"[^a-z0-9_]", "_", form_id)[:32]
        survey_id = survey_id if survey_id[:1].isalpha() else f"s_{survey_id}"[:32]
        self.meta = {"id": survey_id, "title": self.text(self.json.get("title")) or form_id,
                     "language": self.default}
        version = str(self.json.get("version") or "").strip()
        if version:
            if version.isdigit() and int(version) >= 1:
                self.meta["version"] = int(version)
            else:
                self.problems.append(Finding(settings, f"version '{version}' must be a whole number (1, 2, 2024061501)"))
        if self.form.has_settings:
            for key in ("id", "title", "version", "language"):
                self.positions[("survey", key)] = settings
            self.positions[("survey",)] = settings
        self.walk(self.json.get("children", []), part=None, conditions=[])
        if self.pending_notes:
            self.meta["thanks_text"] = self.join_texts(self.pending_notes + [None])
        languages = {self.default}
        for q in self.questions:
            for value in (q.get("text"), q.get("hint"), *(o.get("text") for o in q.get("options", []))):
                if isinstance(value, dict):
                    languages.update(value)
        self.meta["languages"] = [self.default, *sorted(languages - {self.default})]
        if len(languages) > 1 and isinstance(self.meta["title"], str):
            # form_title has no language columns: the same title in every language.
            self.meta["title"] = dict.fromkeys(self.meta["languages"], self.meta["title"])
        self.positions[("questions",)] = SheetRow("survey", 1)
        return {"survey": self.meta, "questions": self.questions}

    def walk(self, children: list[dict[str, Any]], part: str | None, conditions: list[Condition]) -> None:
        for child in children:
            kind = str(child.get("type", ""))
            name = child.get("name")
            if kind in METADATA or (kind == "group" and name == "meta" and child.get("control", {}).get("bodyless")):
                continue
            if kind == "calculate" and name == "instanceID":
                continue
            if kind not in _SUPPORTED:
                written = (self.form.types.get(str(name).lower()) or kind).split()
                shown = kind if kind in ("repeat", "loop") or not written else written[0]
                self.refuse(name, f"type {shown} is not supported in a chat survey")
                continue
            refused = [label for column, label in _REFUSED_COLUMNS.items() if self._has(child, column)]
            for label in refused:
                self.refuse(name, f"{label} is not supported in a chat survey")
            if refused:
                continue
            relevant = self.condition(child)
            if relevant is False:
                continue
            # A relevant of several tests joined by `and` is a show_if list, as YAML writes it.
            own = (relevant.all or [relevant]) if isinstance(relevant, Condition) else []
            here = conditions + own
            if kind == "group":
                if child.get("label") is not None:
                    self.pending_notes.append(self.text(child.get("label")))
                self.walk(child.get("children", []), part=str(name), conditions=here)
                continue
            if kind == "note":
                if relevant is not None:
                    self.refuse(name, "a note shown only sometimes (relevant) is not supported: the note's text is "
                                      "shown with the question after it")
                    continue
                self.pending_notes.append(self.text(child.get("label")))
                continue
            self.question(child, kind, part, here)

    def _has(self, child: dict[str, Any], column: str) -> bool:
        bind = child.get("bind") or {}
        control = child.get("control") or {}
        if column == "choice_filter":
            return bool(child.get("choice_filter"))
        if column == "default":
            return child.get("default") not in (None, "")
        if column in ("calculation", "read_only", "readonly"):
            return bool(bind.get("calculate")) if column == "calculation" else bind.get("readonly") in ("true()", "yes", "true")
        if column == "trigger":
            return bool(child.get("trigger"))
        if column == "jr:count" or column == "repeat_count":
            return bool(control.get("jr:count"))
        return False

    def condition(self, child: dict[str, Any]) -> Condition | bool | None:
        """The child's relevant as a condition; None without one; False when refused (already recorded)."""
        text = (child.get("bind") or {}).get("relevant")
        if not text:
            return None
        name = child.get("name")
        try:
            expr = xpath.parse(str(text))
        except xpath.XPathError as exc:
            self.refuse(name, f"relevant '{text}': {exc}")
            return False
        for ref in xpath.references(expr):
            if ref.lower() not in self.types:
                later = ref.lower() in self.form.survey_rows
                self.refuse(name, f"relevant '{text}' refers to ${{{ref}}}, which "
                                  + ("comes later in the form" if later else "is not a question of the form"))
                return False
        try:
            return xpath.to_condition(_lowered(expr), self.types.get)
        except xpath.XPathError as exc:
            self.refuse(name, f"relevant '{text}': {exc}")
            return False

    def join_texts(self, parts: list[Any]) -> Any:
        """Texts (plain or per language) joined by blank lines, in each language."""
        parts = [p for p in parts if p]
        codes = list(dict.fromkeys([self.default, *(c for p in parts if isinstance(p, dict) for c in p)]))
        if all(isinstance(p, str) for p in parts):
            return "\n\n".join(parts)
        out = {}
        for code in codes:
            out[code] = "\n\n".join(p if isinstance(p, str) else p.get(code) or p.get(self.default) or next(iter(p.values()))
                                    for p in parts)
        return out

    def question(self, child: dict[str, Any], kind: str, part: str | None, conditions: list[Condition]) -> None:
        name = str(child.get("name"))
        qid = name.lower()
        where = self.row(name)
        if not _ID.match(qid):
            self.refuse(name, f"name '{name}' cannot be a question id: use latin letters, digits and _, starting with "
                              "a letter (at most 32 characters)")
            return
        if self.absorbed_other(child, kind, conditions):
            return
        label = self.text(child.get("label"))
        if self.pending_notes:
            if not self.questions:  # notes before the first question belong to the introduction
                self.meta["intro_text"] = self.join_texts(self.pending_notes)
            elif label is not None:  # a note between questions is shown above the next one
                label = self.join_texts([*self.pending_notes, label])
            self.pending_notes = []
        q: dict[str, Any] = {"id": qid, "text": label}
        index = len(self.questions)
        for path in (("questions", index), *(("questions", index, key) for key in ("id", "text", "type"))):
            self.place(path, where)
        if label is None:
            self.refuse(name, "the question has no label (its text)")
            return
        hint = self.text(child.get("hint"))
        bind = child.get("bind") or {}
        if str(bind.get("required", "")).strip().lower() in ("yes", "true", "true()"):
            q["required"] = True
        if part is not None:
            q["part"] = part
        params = child.get("parameters") or {}
        match kind:
            case "select one" | "select all that apply":
                q["type"] = (QuestionType.SINGLE if kind == "select one" else QuestionType.MULTIPLE).value
                self.choices(child, q, index)
                if str(params.get("randomize", "")).strip().lower() in ("true", "yes", "true()"):
                    q["randomize"] = True  # a new order per respondent (survey.randomize)
            case "integer" | "decimal":
                q["type"] = QuestionType.NUMBER.value
                if kind == "decimal":
                    self.notes.add(where, "decimal: the bot asks for a whole number")
                constraint = bind.get("constraint")
                if constraint:
                    try:
                        low, high = xpath.bounds(xpath.parse(str(constraint)))
                    except xpath.XPathError as exc:
                        self.refuse(name, f"constraint '{constraint}': {exc}")
                        return
                    if low is not None:
                        q["min"] = low
                    if high is not None:
                        q["max"] = high
                    message = self.text(bind.get("jr:constraintMsg"))
                    if message:
                        hint = self.join_texts([hint, message]) if hint else message
            case "text":
                q["type"] = QuestionType.TEXT.value
            case "range":
                q["type"] = QuestionType.SCALE.value
                try:
                    start, end, step = (float(params.get(k, d)) for k, d in (("start", 1), ("end", 10), ("step", 1)))
                except ValueError:
                    self.refuse(name, "range: start, end and step must be numbers")
                    return
                if step != 1 or start != int(start) or end != int(end):
                    self.refuse(name, "range: only whole-number ranges with step=1 are supported")
                    return
                q["scale"] = {"min": int(start), "max": int(end)}
            case _:
                self.refuse(name, f"type {kind} is not supported in a chat survey")
                return
        if kind != "integer" and kind != "decimal" and bind.get("constraint"):
            self.refuse(name, "constraint is supported on integer and decimal questions only")
            return
        if hint:
            q["hint"] = hint
        if conditions:
            q["show_if"] = [c.model_dump(by_alias=True, exclude_none=True) for c in conditions]
        self.questions.append(q)
        self.types[qid] = QuestionType(q["type"])

    def choices(self, child: dict[str, Any], q: dict[str, Any], index: int) -> None:
        list_name = str(child.get("itemset") or child.get("list_name") or "")
        choices = (self.json.get("choices") or {}).get(list_name) or child.get("choices") or []
        written = self.form.types.get(str(child.get("name")).lower(), "")
        or_other = bool(re.search(r"\bor[_ ]other\b", written.lower()))
        options: list[dict[str, Any]] = []
        for choice in choices:
            cname = str(choice.get("name", ""))
            row = self.form.choice_rows.get((list_name, cname))
            where = SheetRow("choices", row) if row else self.row(child.get("name"))
            if cname.lower() == OTHER:
                q["other_allowed"] = True
                if not or_other:
                    label = self.text(choice.get("label"))
                    if label:
                        q["other_label"] = label
                continue
            oid = cname.lower()
            if not _ID.match(oid):
                self.problems.append(Finding(where, f"choice '{cname}' of list {list_name}: the name cannot be an option "
                                                    "id: use latin letters, digits and _, starting with a letter"))
                continue
            self.place(("questions", index, "options", len(options)), where)
            self.place(("questions", index, "options", len(options), "text"), where)
            options.append({"id": oid, "text": self.text(choice.get("label")) or cname})
        q["options"] = options

    def absorbed_other(self, child: dict[str, Any], kind: str, conditions: list[Condition]) -> bool:
        """A text question asked only when 'other' is chosen in the question before it: that question's
        "other (specify)", whose text the bot asks for itself."""
        if kind != "text" or not conditions or not self.questions:
            return False
        last = self.questions[-1]
        wanted = Condition(question=last["id"], any_of=[OTHER])
        return bool(last.get("other_allowed")) and conditions[-1] == wanted


def _lowered(expr: xpath.Expr) -> xpath.Expr:
    """The expression with question names as ids (lowercase)."""
    match expr:
        case xpath.Ref(name):
            return xpath.Ref(name if name == "." else name.lower())
        case xpath.Literal():
            return expr
        case xpath.Selected(ref, value):
            return xpath.Selected(xpath.Ref(ref.name.lower()), value)
        case xpath.CountSelected(ref):
            return xpath.CountSelected(xpath.Ref(ref.name.lower()))
        case xpath.Compare(op, left, right):
            return xpath.Compare(op, _lowered(left), _lowered(right))  # type: ignore[arg-type]
        case xpath.Not(inner):
            return xpath.Not(_lowered(inner))
        case xpath.Paren(inner):
            return xpath.Paren(_lowered(inner))
        case xpath.Junction(op, parts):
            return xpath.Junction(op, tuple(_lowered(p) for p in parts))
        case _ as unreachable:
            raise AssertionError(unreachable)
