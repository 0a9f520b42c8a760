"""Where answers are kept: models, the repository and its unit of work, migrations, stored encodings.

- ``models``: the tables; ``migrations/``: Alembic, run on every start (``migrate``);
- ``db``: engines for SQLite and PostgreSQL and the batch writer; ``groupcommit``: many callers, one transaction;
- ``repository``: positions and respondents read and written inside a transaction the caller owns;
- ``records``: the single owner of how option ids and times are encoded in the database;
- ``field``, ``reminders``, ``testmode``, ``sendbudget``, ``definitions``: the SQL of one feature each;
- ``faults``, ``preflight``, ``backup``, ``transfer``: database faults named, URLs checked, copies made.

Imports survey only; never analytics or bot.
"""
