"""The respondent service: how a tap or a typed answer becomes a durable answer, and what happens when the
database fails.

- ``respondents``: ``SurveyService`` — the write path (group commit, one transaction per batch, the update id
  claimed in it), and ``Reply``: what a request got (``Result``) and where the respondent stands (``Standing``);
- ``faults``: ``GuardedService`` and the fault notices — the Telegram side of storage/faults.py.

May import: storage, survey, bot.background.health; telegram only to tell a respondent about a fault.
"""
