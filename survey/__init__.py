"""The questionnaire as data, and the pure flow through it: no telegram, no SQL, no clock of its own.

- ``model``: the questionnaire's types (``Survey``, ``Question``, ``QuestionType`` and its traits) and validation;
- ``loader``: a YAML file into a ``Survey``, every problem listed at once (``diagnostics``); ``schema``: its JSON Schema;
- ``languages``: texts written in several languages (``Survey.in_language``, ``Survey.languages``);
- ``xlsform``: an XLSForm workbook read with pyxform into the same mapping a YAML file holds (``xpath``: its
  ``relevant`` subset as show_if conditions); ``convert``: a questionnaire written as YAML or as an XLSForm;
- ``flow``: ``apply(survey, progress, action)`` — one pure ``match`` over the respondent's actions;
- ``changes``: what an edited questionnaire would do to stored answers;
- ``field``, ``reminders``, ``testmode``: the pure rules of running the survey in the field (their SQL is the
  module of the same name in storage/, their Telegram side the same name in bot/).

Imports nothing from storage, analytics or bot.
"""
