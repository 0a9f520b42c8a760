"""`surveybot preview FILE`: the questionnaire in the terminal as a respondent sees it."""

from __future__ import annotations

from pathlib import Path

from bot.cli import main

TEAM = Path(__file__).with_name("data") / "team_survey.yaml"


def test_preview_shows_texts_buttons_and_skip_logic(capsys):
    assert main(["preview", str(TEAM)]) == 0
    out = capsys.readouterr().out
    assert "Привычки команды" in out and "[ Начать ]" in out
    assert "Вопрос 1 из 5" in out and "Кто вы в команде?" in out
    assert "  [ Разработчик ]\n  [ Дизайнер ]\n  [ Менеджер ]\n  ↳ обязательный: «Пропустить» нет" in out
    assert "[ 0 ]  [ 1 ]  [ 2 ]  [ 3 ]  [ 4 ]  [ 5 ]" in out and "0 — Никак, 5 — Очень" in out
    assert "↳ показывается, только если в ответе на вопрос 2 (t_tools) выбрано любое из: «Figma»" in out
    assert "Напишите целое число от 2 до 50" in out
    assert "Спасибо, записали!" in out
    assert "<b>" not in out and "&lt;" not in out


def test_preview_of_an_invalid_file_lists_its_problems(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("survey: {id: x, title: T}\nquestions:\n- {id: a, type: scale, text: Q}\n", encoding="utf-8")
    assert main(["preview", str(bad)]) == 2
    assert "scale" in capsys.readouterr().err
