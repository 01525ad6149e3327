"""Report frames (pandas) and figures (matplotlib) for the CLI's ``report``/``plot`` and notebooks.

Numbers come from SQL aggregates (:mod:`warmup.ledger.reports_sql`: the ``day_stat`` rollup and
``GROUP BY`` queries), never from every send row. Quota, stage, health and status per past day come
from the policy engine's own day-by-day walk (:func:`warmup.policy.timeline`), so a report cannot
disagree with what ``warmup quota`` said that day.

This package imports pandas and matplotlib; nothing on the ``warmup quota``/``warmup send`` path
imports it (the CLI imports it inside the report commands).

The frames are built in :mod:`.days` (the daily frame) and :mod:`.tables` (the others), and
written out by :mod:`.output`; notebooks use them through this package.
"""

from warmup.plotcheck import PLOT_SUFFIXES as PLOT_SUFFIXES
from warmup.plotcheck import plot_folder as plot_folder
from warmup.plots import figure as figure

from .days import DAILY_COLUMNS as DAILY_COLUMNS
from .days import daily as daily
from .days import mailboxes as mailboxes
from .output import iter_text as iter_text
from .output import plot as plot
from .output import to_text as to_text
from .tables import ahead as ahead
from .tables import bounces_by_domain as bounces_by_domain
from .tables import bounces_by_kind as bounces_by_kind
from .tables import bounces_by_reason as bounces_by_reason
from .tables import reasons_summary as reasons_summary
from .tables import rollup_mismatches as rollup_mismatches
from .tables import standing as standing
from .tables import suppressions as suppressions
from .tables import weekly as weekly
