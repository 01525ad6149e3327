"""``warmup import``: a CSV log of sends (and their bounces, pause and resume events) written
into the ledger, every row checked before any is written (a file with a bad row writes
nothing), in batches that a gated send waits at most one of. The rows are checked by the rules
``record send`` and ``record bounce`` follow (:mod:`warmup.fields`), a recipient as a log's: a
send that happened is recorded even where a new message to it would be refused."""

from __future__ import annotations

import datetime as dt
import functools
import shlex
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path, PurePath
from typing import IO, TYPE_CHECKING, Any, NamedTuple

from warmup import addresses, policies
from warmup.errors import LEDGER_FAULTS, DataError, IOFailure, UsageError, restated
from warmup.fields import (
    ENHANCED_STATUS,
    REASON_LIMIT,
    STATUS_LIMIT,
    before_start,
    check_timezone,
    clip,
    contradicted,
    message_id_field,
    text_field,
    unreadable,
    zone_note,
)
from warmup.files import STANDARD_INPUT
from warmup.files import StandardInput as _StandardInput
from warmup.instants import EARLIEST, FUTURE_SLACK, check_event, now_utc, parse_instant, real_offset
from warmup.instants import machine_zone as _local_zone
from warmup.ledger import MailboxNotFound, MailboxRow, Recorded
from warmup.ledger.reads import BOUNCE_KINDS
from warmup.ledger.values import from_utc_text, utc_text
from warmup.policy.spec import preset_names
from warmup.providers import get_provider
from warmup.shards import collector_paused
from warmup.stopwindow import StopWindow

if TYPE_CHECKING:
    import tempfile

    from warmup.ledger import Ledger
    from warmup.ledger.imports import ImportRow


IMPORT_REQUIRED = ("mailbox", "recipient", "sent_at")
IMPORT_OPTIONAL = (
    "message_id",
    "bounce_kind",
    "bounce_status",
    "bounced_at",
    "provider",
    "timezone",
    "event",
    "reason",
    "policy",
)
IMPORT_EVENTS = ("pause", "resume")


class KeptSettings(NamedTuple):
    """A known mailbox whose import rows give other settings, which the import left as they are:
    ``line`` is the first such row; ``differ`` maps each column to (the file's, the ledger's)."""

    address: str
    line: int
    differ: dict[str, tuple[str, str]]


class Imported(NamedTuple):
    """What an import added: new sends, bounces, registered mailboxes, pause/resume events."""

    sends: int
    bounces: int
    mailboxes: int = 0
    events: int = 0
    ignored: tuple[str, ...] = ()  # header columns warmup does not read
    # Mailboxes the ledger knew whose first row naming a provider, timezone or policy named
    # another than the ledger's: those columns register new mailboxes only, so these were kept.
    kept: tuple[KeptSettings, ...] = ()
    # Rows' bounces not written: their sends have another already (one bounce per send is
    # imported; the same bounce again, a file imported twice, is not one of these).
    skipped: int = 0
    # (mailbox, note) for each mailbox registered in a zone whose name reads as its opposite
    # (Etc/GMT+8 is UTC-08:00: :func:`warmup.fields.zone_note`), as 'mailbox add' says it.
    zones: tuple[tuple[str, str], ...] = ()
    # Mailboxes a pause row of the file names: one paused by it is told (an old log's last
    # row a pause left the mailbox paused now, and the summary said "1 pause/resume event").
    paused: tuple[str, ...] = ()
    # Rows whose send (or pause/resume event) was in the ledger before the import: a file
    # imported again is all of these ("Imported 0 new sends" alone did not say why).
    already: int = 0


IMPORT_BATCH = 2000  # rows per write transaction: a gated send waits at most one batch
SPOOL_MEMORY = 4 * 1024 * 1024  # checked rows kept in memory before they spill to a file


def import_csv(
    ledger: Ledger,
    path: str | PurePath,
    progress: Callable[[str, int, int | None], None] | None = None,
) -> Imported:
    """Import an earlier sending log.

    The whole file is validated before anything is written: a bad line rejects the file with its
    line number, the ledger untouched. It is then written in batches of :data:`IMPORT_BATCH`
    rows, each a short transaction of its own, so that sends going on meanwhile never wait long;
    memory stays flat whatever the file's size (it is read twice, never held). Importing the same
    file again adds nothing, so an interrupted import is completed by running it again.
    Optional columns: ``provider`` (and ``timezone``, and ``policy``: a preset or stored policy,
    else the provider's preset) register a mailbox the ledger does not know yet at its first
    row (later rows may repeat them or leave them empty, not contradict them; ignored for known
    mailboxes); ``event`` = ``pause``/``resume`` makes the row a manual
    pause or resume of its mailbox at ``sent_at`` (recipient empty; ``reason`` optional).
    ``path`` ``"-"`` reads standard input (errors name it so). Rows of empty cells, which Excel
    saves below the data, are skipped as blank lines; so is Excel's ``sep=,`` first line.
    ``progress(phase, rows so far, rows in all)`` is called every :data:`IMPORT_BATCH` rows:
    phase ``"check"`` while the file is validated (the total not known yet: None), then
    ``"write"`` after each batch written (the total known).
    """
    import tempfile  # with marshal and csv, only for an import: not on the quota path

    path = STANDARD_INPUT if str(path) == "-" else Path(path)
    header: list[str] = []  # filled as the file is checked: it is read once (it may be a pipe)
    known = ledger.mailboxes()
    zones = {b.address: b.timezone for b in known}
    starts = {b.address: b.started for b in known if b.started is not None}
    register: dict[str, dict[str, Any]] = {}
    kept: dict[str, KeptSettings] = {}
    paused: dict[str, None] = {}  # mailboxes of pause rows, in the file's order
    total = Recorded()
    # The rows checked are spooled in typed batches (in memory up to SPOOL_MEMORY, then in a
    # temporary file): the write pass reads them back instead of parsing the CSV a second time
    # (a third of an import's time). The cycle collector is held off meanwhile: the rows' tuples
    # die by their reference counts, and each collection went through every one alive for no
    # cycle to free (~3% of a 200,000-row import's CPU; its peak memory the same at 400,000).
    with collector_paused(), tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY) as spool:
        try:
            rows = _check_into(
                spool,
                ledger,
                path,
                zones,
                starts,
                register,
                progress,
                header,
                known,
                kept,
                paused,
            )
        except OSError as exc:  # the temporary file: the ledger is not touched yet
            raise IOFailure(
                f"import: cannot write its temporary file in {tempfile.gettempdir()} "
                f"({exc.strerror or exc}); free disk space there or point TMPDIR at a disk "
                f"with room (nothing was imported)"
            ) from None
        if not rows:  # a header alone: an export cut short, or the wrong file
            raise DataError(
                f"{path}: no rows below its header; nothing to import (the rows follow the "
                f"header, one send a line)"
            )
        spool.seek(0)
        written = 0
        boxes: dict[str, MailboxRow] = {}  # looked up once per import, not per batch
        before: dict[int, int] = {}  # each mailbox's last send id before the import
        try:
            while (batch := _unspool(spool)) is not None:
                # A stop (Ctrl-C, SIGTERM, a hang-up) that comes once the batch goes to its
                # COMMIT waits until the batch is counted (warmup.stopwindow): acted on in
                # between, the import said "nothing was imported" of a first batch that was in
                # the ledger, and one batch fewer than it held of a later one.
                with StopWindow() as window:
                    total.add(ledger.import_batch(batch, register, boxes, before, window.open))
                    written += len(batch)
                    if progress:
                        progress("write", written, rows)
            ledger.import_done()
        except LEDGER_FAULTS as exc:
            if not written:
                raise
            # Each batch is committed: "disk I/O error ..." alone read as nothing imported.
            # "Are in the ledger", not "were written": the same import run again (the disk
            # still full) said "2000 ... were written" of the rows an earlier run had written.
            said = (
                f"every one of its {rows} rows is in the ledger"
                if written >= rows
                else f"the first {written} of its {rows} rows are in the ledger; the same "
                f"import again writes the rest (a row already in the ledger is not added twice)"
            )
            raise restated(exc, f"{exc}; import of {path}: {said}") from None
    ignored = tuple(h for h in header if h and h not in _COLUMNS)
    return Imported(
        total.sends,
        total.bounces,
        total.mailboxes,
        total.events,
        ignored,
        tuple(kept.values()),
        total.skipped,
        tuple((a, note) for a, r in register.items() if (note := zone_note(r["timezone"]))),
        tuple(paused),
        total.already,
    )


def _check_into(
    spool: IO[bytes] | tempfile.SpooledTemporaryFile[bytes],
    ledger: Ledger,
    path: PurePath,
    zones: dict[str, str],
    starts: dict[str, dt.date],
    register: dict[str, dict[str, Any]],
    progress: Callable[[str, int, int | None], None] | None,
    header: list[str],
    boxes: list[MailboxRow],
    kept: dict[str, KeptSettings],
    paused: dict[str, None],
) -> int:
    """Check every row of the file, spool them (:func:`_spool`) in batches of
    :data:`IMPORT_BATCH`, fill ``register`` with the mailboxes the file registers,
    ``header`` with its header, ``kept`` with the known mailboxes (``boxes``) whose first
    row giving settings gives others (:class:`KeptSettings`) and ``paused`` with the mailboxes
    of its pause rows; the number of rows. A bad row raises
    :class:`DataError` naming its line (nothing was written)."""
    known = {b.address: b for b in boxes}
    looked: set[str] = set()  # known mailboxes whose settings a row gave, compared once
    agreed: dict[str, _Registers] = {}  # what a later row of a new mailbox said, found agreeing
    rows = 0
    now = now_utc()
    checked: list[ImportRow] = []
    for line, item, said in _csv_rows(path, now, zones, header):
        rows += 1
        if item[1] is None and item[3] == "pause":
            paused[item[0]] = None
        if item[1] is None and item[4] is None:  # an event without a reason
            item = (*item[:4], f"imported from {path.name}")
        elif item[1] is not None and item[0] in starts:
            at = from_utc_text(item[2])
            refused = before_start(item[0], starts[item[0]], zones[item[0]], at, now)
            if refused is not None:
                raise DataError(f"{path}: line {line}: {refused}")
        checked.append(item)
        if len(checked) >= IMPORT_BATCH:
            _spool(spool, checked)
            checked = []
            if progress:
                progress("check", rows, None)
        address = item[0]
        if address in register:
            if agreed.get(address) != said:  # a log repeats them: checked once per way
                _same_registration(path, line, address, register[address], *said)
                agreed[address] = said
            continue
        if address in known:
            if address not in looked and said != _NO_SETTINGS:
                looked.add(address)
                differ = _other_settings(known[address], said)
                if differ:
                    kept[address] = KeptSettings(address, line, differ)
            continue
        provider, timezone, policy = said
        if not provider:
            raise DataError(
                f"{path}: line {line}: {MailboxNotFound(address)}, or give its "
                f"provider in a provider column"
            )
        prov = get_provider(provider)
        if policy and policy not in preset_names() and not ledger.policy_text(policy):
            stem = Path(policy).stem
            near = policies.near_name(ledger, policy)
            fix = (
                f"did you mean {near!r}? ('warmup policy list' lists them)"
                if near
                else f"store it first with 'warmup policy add {shlex.quote(policy)} FILE'"
                if (policies.NAME.match(policy) and not policy.lower().endswith(".toml"))
                or not policies.NAME.match(stem)
                else f"store the file first with 'warmup policy add {stem} "
                f"{shlex.quote(policy)}' and write {stem} in the policy column"
            )
            raise DataError(
                f"{path}: line {line}: policy {policy!r}: no such preset "
                f"({', '.join(preset_names())}) nor stored policy; {fix}"
            )
        register[address] = {
            "provider": prov.name,
            "policy": policy or prov.policy,
            "timezone": timezone or prov.timezone or _local_zone(),
        }
    if checked:
        _spool(spool, checked)
    if progress:
        progress("check", rows, rows)
    return rows


def _spool(spool: IO[bytes] | tempfile.SpooledTemporaryFile[bytes], rows: list[ImportRow]) -> None:
    """Write a batch of checked rows to the import's spool: marshal, not pickle (the rows are
    tuples of text and None, which marshal writes in a fraction of pickle's time: pickle's memo
    of every string was ~1.5 µs a row), each batch after its length."""
    import marshal

    data = marshal.dumps(rows)
    spool.write(len(data).to_bytes(8, "little"))
    spool.write(data)


def _unspool(spool: IO[bytes] | tempfile.SpooledTemporaryFile[bytes]) -> list[ImportRow] | None:
    """The next batch :func:`_spool` wrote, None after the last."""
    import marshal

    size = spool.read(8)
    if not size:
        return None
    rows: list[ImportRow] = marshal.loads(spool.read(int.from_bytes(size, "little")))
    return rows


# What a row registers its mailbox with, if the ledger does not know it: (provider, timezone,
# policy), each None when its column is empty.
_Registers = tuple[str | None, str | None, str | None]
_NO_SETTINGS: _Registers = (None, None, None)


def _other_settings(box: MailboxRow, said: _Registers) -> dict[str, tuple[str, str]]:
    """The columns of ``said`` that name another provider, timezone or policy than ``box``
    has: column -> (the file's, the ledger's)."""
    provider, timezone, policy = said
    differ: dict[str, tuple[str, str]] = {}
    if provider and provider != box.provider:
        differ["provider"] = (provider, box.provider)
    if timezone and timezone != box.timezone:
        differ["timezone"] = (timezone, box.timezone)
    if policy and policy != box.policy:
        differ["policy"] = (policy, box.policy)
    return differ


def _same_registration(
    path: PurePath,
    line: int,
    address: str,
    registered: dict[str, Any],
    provider: str | None,
    timezone: str | None,
    policy: str | None,
) -> None:
    """Refuse a later row that registers ``address`` otherwise than its first row did: only one
    can be kept, and a time without an offset is read in the first row's zone, not the one
    written beside it. A later row may leave the columns empty or repeat them."""
    said = {
        "provider": provider and get_provider(provider).name,
        "timezone": timezone,
        "policy": policy,
    }
    for column, value in said.items():
        if value and value != registered[column]:
            raise DataError(
                f"{path}: line {line}: {column} {value!r} for {address}, which an earlier row "
                f"registers with {column} {registered[column]!r}; make its rows agree (or leave "
                f"the {column} column empty after the first)"
            )


def _csv_rows(
    path: PurePath, now: dt.datetime, zones: dict[str, str], header: list[str]
) -> Iterator[tuple[int, ImportRow, _Registers]]:
    """``(line number, checked row, what it registers)`` for each line of the file, streamed;
    times are records of what happened, so not after ``now`` (+ a few minutes). ``zones``
    (mailbox -> zone, for times without an offset) gains each mailbox the file registers, at its
    first row; ``header`` gets the file's header. The file is opened and read once: it may be a
    pipe (``warmup import <(zcat log.csv.gz)``), which a second reading would find empty."""
    import csv
    from operator import itemgetter

    stdin = isinstance(path, _StandardInput)
    if stdin and sys.stdin is None:  # 'warmup import - <&-'
        # as a file that cannot be opened is (64): the input was not given, not bad
        raise UsageError(
            f"{path}: cannot read it (it is closed); pipe the log in, or give its path"
        )
    try:
        source = sys.stdin.fileno() if stdin else str(path)
        handle = open(source, encoding="utf-8-sig", newline="", closefd=not stdin)  # noqa: SIM115
    except OSError as exc:
        raise unreadable(path, exc) from None
    with handle:
        # csv.reader and the columns picked by position (blank lines skipped, missing fields
        # empty, as csv.DictReader does), not a dict per row: a third of the check pass.
        reader = csv.reader(_bounded_lines(handle, path))
        start = 1  # the line the row being read starts on (a quoted field may hold newlines)
        try:
            header[:] = _header(path, reader)
            _check_header(path, header)
            width = len(header)
            # A column the header lacks reads the empty field appended to every row.
            pick = itemgetter(*(header.index(c) if c in header else width for c in _COLUMNS))
            pad = [""] * (width + 1)
            start = reader.line_num + 1
            for fields in reader:
                line, start = start, reader.line_num + 1
                if not fields:
                    continue
                given = len(fields)
                try:
                    if given > width:
                        raise DataError("more fields than the header has")
                    fields += pad[given:]
                    yield line, *_import_row(pick(fields), now, zones)
                except DataError as exc:
                    if not "".join(fields).strip():  # Excel's row of empty cells: a blank line
                        continue
                    if _header_again(path, line, header, fields):  # two exports joined
                        continue
                    # A cell said to be empty that the line does not have: a comma left out.
                    short = (
                        f" (the line has {given} fields, the header {width})"
                        if given < width
                        else ""
                    )
                    raise DataError(f"{path}: line {line}: {exc}{short}") from None
        except OSError as exc:  # the file failed under the reader (EIO): not the spool's
            raise IOFailure(
                f"{path}: cannot read it to its end ({exc.strerror or exc}; line {start} was "
                f"being read); nothing was imported"
            ) from None
        except csv.Error as exc:  # a field over the csv module's limit: an unclosed quote, often
            raise DataError(
                f"{path}: line {start}: {exc}; close the quote that line opens, or shorten "
                f"the field"
            ) from None
        except UnicodeDecodeError as exc:
            # The lines read so far, and those of the chunk that failed before its bad byte
            # (the reader asks for a chunk only once it has returned every line before it).
            line = reader.line_num + exc.object[: exc.start].count(b"\n") + 1
            from warmup.words import not_utf8

            bad = exc.object[exc.object.rfind(b"\n", 0, exc.start) + 1 :]
            raise DataError(f"{path}: line {line}: {not_utf8(bad)}") from None


# The longest line an import reads (characters): far past any sending log's (a row's fields are
# each held to the csv module's 131,072), and a bound on what one line costs in memory.
MAX_LINE = 1 << 20


def _bounded_lines(handle: IO[str], path: PurePath) -> Iterator[str]:
    """The lines of ``handle``, none longer than :data:`MAX_LINE`: iterated as it is, a file
    read as text returns a line only once its end is read, so a file without line ends ('import
    /dev/zero', a binary file whose bytes decode) was read whole into memory until the kernel
    killed warmup (or its neighbours)."""
    read = handle.readline
    n = 0
    while line := read(MAX_LINE):
        n += 1
        if len(line) == MAX_LINE and line[-1] not in "\r\n":
            raise DataError(
                f"{path}: line {n}: longer than {MAX_LINE:,} characters; a sending log's lines "
                f"are short: is it the CSV export?"
            )
        yield line


def _header(path: PurePath, reader: Iterator[list[str]]) -> list[str]:
    """The header's column names, read from ``reader``: its first line, or the one after Excel's
    ``sep=,`` (the hint Excel writes and reads for the delimiter). Another ``sep=`` or an empty
    file is refused, saying so."""
    first = next(reader, None)
    if first is None:
        raise DataError(
            f"{path}: line 1: the file is empty; its first line must be the header "
            f"({','.join(IMPORT_REQUIRED)}[,...]) and the rows follow it"
        )
    if 0 < len(first) <= 2 and first[0][:4].lower() == "sep=" and not "".join(first[1:]):
        sep = first[0][4:] or ","  # 'sep=,' reads as the fields 'sep=' and ''
        if sep != ",":
            raise DataError(
                f"{path}: line 1: its columns are separated by {sep!r}, not commas (its "
                f"'sep=' line says); save it as 'CSV UTF-8 (comma delimited)'"
            )
        first = next(reader, [])
    return [h.strip() for h in first]


def _header_again(path: PurePath, line: int, header: list[str], fields: list[str]) -> bool:
    """Whether a refused row is the header again (``cat october.csv november.csv``, each with
    its BOM): True to skip it. A header naming other columns is refused, its rows would be read
    in the wrong ones; a row that is no header is False (its own error stands)."""
    cells = [f.strip().lstrip("\ufeff").strip() for f in fields]
    while cells and not cells[-1]:
        cells.pop()
    if cells == [h for h in header if h] or cells == header:
        return True
    if set(IMPORT_REQUIRED) <= set(cells):
        raise DataError(
            f"{path}: line {line}: a second header, with other columns than line 1's (two "
            f"files joined?); import each file on its own"
        )
    return False


def _check_header(path: PurePath, header: list[str]) -> None:
    import difflib

    for h in header:
        if not h or h in _COLUMNS:
            continue
        near = difflib.get_close_matches(h.lower(), _COLUMNS, n=1, cutoff=0.85)
        if near and near[0] not in header:
            # A misspelt optional column would be ignored, and every bounce or event in it lost.
            raise DataError(
                f"{path}: line 1: column {h!r} is not one warmup reads; did you mean "
                f"{near[0]!r}? Rename it (columns with other names are ignored)"
            )
    missing = [c for c in IMPORT_REQUIRED if c not in header]
    sep = next((c for c in (";", "\t") if len(header) == 1 and c in header[0]), None)
    if missing and sep:  # European Excel's CSV, or its 'Unicode Text'
        raise DataError(
            f"{path}: line 1: its columns are separated by {sep!r}, not commas; save it as "
            f"'CSV UTF-8 (comma delimited)'"
        )
    if missing:
        raise DataError(
            f"{path}: line 1: header lacks {', '.join(missing)} "
            f"(expected {','.join(IMPORT_REQUIRED)}[,{','.join(IMPORT_OPTIONAL)}])"
        )
    twice = sorted(h for h, n in Counter(header).items() if h and n > 1)
    if twice:
        # csv.DictReader would keep the last of them and silently drop the others.
        raise DataError(
            f"{path}: line 1: column {twice[0]!r} appears twice in the header; keep one"
        )


_COLUMNS = IMPORT_REQUIRED + IMPORT_OPTIONAL  # the order _import_row unpacks them in
_REGISTERS_NOTHING: _Registers = (None, None, None)


def _import_row(
    values: tuple[str, ...], now: dt.datetime, zones: dict[str, str]
) -> tuple[ImportRow, _Registers]:
    """One CSV row (its fields in :data:`_COLUMNS` order) checked, as the ledger's
    :meth:`~warmup.ledger.Ledger.import_batch` takes it, and what it registers its mailbox with;
    :class:`DataError` names the column at fault. An event's reason is None when its column is
    empty.

    Times are records of what happened: after 2000 and not after ``now`` (+ a few minutes).
    They are read as the CLI reads them: without an offset, in the mailbox's zone (the ledger's,
    or for a mailbox this file registers, that of its first row: its ``timezone`` column, else
    its provider's, else this machine's); a date alone is local midnight.
    """
    (mailbox, recipient, sent_at, message_id, kind, status, bounced_at, provider, timezone,
     event, reason, policy) = map(str.strip, values)  # fmt: skip
    if message_id:
        message_id = message_id_field(message_id)
    if status:
        text_field(status, "bounce_status", STATUS_LIMIT)
    if reason:
        text_field(reason, "reason", REASON_LIMIT)
    if event:
        event = event.lower()
        if event not in IMPORT_EVENTS:
            raise DataError(
                f"event {event!r}: expected one of {', '.join(IMPORT_EVENTS)} (or empty)"
            )
    address = _mailbox_address(mailbox)
    if event:
        rcpt = None
    elif "<" not in recipient and len(recipient) <= 254 and _BARE(recipient):
        # What addresses.normalize returns for a bare address (every row of most logs), without
        # its layers: the cell is stripped already.
        rcpt = recipient.lower()
    else:
        rcpt = _recipient(recipient)
    registers = (
        (provider.lower() or None, timezone or None, policy or None)
        if provider or timezone or policy
        else _REGISTERS_NOTHING
    )
    if provider:
        provider = provider.lower()
        try:
            prov = get_provider(provider)
        except UsageError as exc:
            raise DataError(str(exc)) from None
        if not (prov.smtp.host and prov.imap.host):
            raise DataError(
                f"provider {prov.name} has no SMTP/IMAP hosts to register "
                f"{address} with; add it first with 'warmup mailbox add "
                f"{shlex.quote(address)} --provider {prov.name} --smtp-host HOST "
                f"--smtp-port PORT --imap-host HOST --imap-port PORT' and leave its "
                f"provider column empty"
            )
    if timezone:
        try:
            check_timezone(timezone)
        except UsageError as exc:
            raise DataError(str(exc)) from None
    tz = zones.get(address)
    if tz is None:
        known = get_provider(provider) if provider else None
        # a mailbox neither in the ledger nor given a provider rejects the file once this row is
        # read: its time needs no zone of this machine's (a $TZ naming none hid that refusal)
        tz = timezone or (known.timezone or _local_zone() if known else "UTC")
        if known:  # the zone the file registers the mailbox in: its later rows use it too
            zones[address] = tz
    at, at_text = _csv_instant(sent_at, "sent_at", now, tz)
    if event:
        if recipient or kind or bounced_at:
            raise DataError(
                f"a {event} row takes only mailbox, sent_at (when) and reason: "
                f"leave recipient and the bounce columns empty"
            )
        return (address, None, at_text, event, reason or None), registers
    if kind:
        if kind not in BOUNCE_KINDS:
            raise DataError(f"bounce_kind {kind!r}: expected one of {', '.join(BOUNCE_KINDS)}")
        # a status of another form (a log's own words) is kept as it came, unjudged
        wrong = ENHANCED_STATUS.fullmatch(status) and contradicted(kind, status)
        if wrong:
            raise DataError(f"bounce_status {status} is {wrong.format(kind='bounce_kind')}")
        b_at, b_text = (
            _csv_instant(bounced_at, "bounced_at", now, tz) if bounced_at else (at, at_text)
        )
        if b_at < at:
            raise DataError(
                f"bounced_at {bounced_at!r} is before sent_at "
                f"{sent_at!r}: a message bounces after it is sent"
            )
        return (address, rcpt, at_text, message_id or None, kind, status or None, b_text), registers
    if status or bounced_at:
        given = " and ".join(
            f"{name} {clip(value)!r}"
            for name, value in (("bounce_status", status), ("bounced_at", bounced_at))
            if value
        )
        raise DataError(
            f"{given} but no bounce_kind, which says whether the send bounced: give it "
            "(hard, soft, block or complaint), or leave bounce_status and bounced_at empty"
        )
    return (address, rcpt, at_text, message_id or None, None, None, None), registers


def _recipient(cell: str) -> str:
    """A recipient column's address (a display name aside, as :func:`addresses.normalize`
    reads it); a cell holding a list of them (a To line copied from a mail client) is refused
    saying that each recipient is a row of its own. RFC 5321's length limits are not applied:
    a log records sends that happened, and some servers take longer local parts."""
    try:
        return addresses.normalize(cell, "recipient", limits=False)
    except DataError as exc:
        raise addresses.several_in_one(cell, "recipient") or exc from None


_BARE = addresses.BARE_ADDRESS.match
# A local hour and its offset (``2026-10-03T01+08:00``) -> its UTC hour (``2026-10-02T17``): a
# log's rows share a few thousand hours, and turning each time into UTC text cost 3 µs.
_UTC_HOURS: dict[str, str] = {}


def _latest(now: dt.datetime, _memo: list[Any] = []) -> tuple[dt.datetime, str]:  # noqa: B006
    """``now`` + :data:`FUTURE_SLACK`, the latest time a log may hold, and its UTC text (once
    per ``now``)."""
    if not _memo or _memo[0] is not now:
        _memo[:] = [now, (now + FUTURE_SLACK, utc_text(now + FUTURE_SLACK))]
    latest: tuple[dt.datetime, str] = _memo[1]
    return latest


_EARLIEST_TEXT = utc_text(EARLIEST)


@functools.lru_cache(maxsize=4096)
def _mailbox_address(text: str) -> str:
    """A mailbox column normalized (a log repeats a few mailboxes on every row)."""
    return addresses.normalize(text, "mailbox")


def _csv_instant(text: str, what: str, now: dt.datetime, tz: str) -> tuple[dt.datetime, str]:
    """A time column read as ``--at`` is (without an offset: local time in ``tz``), and its
    :func:`~warmup.ledger.values.utc_text`."""
    n = len(text)
    if n >= 19 and text[10:11] in ("T", " "):
        # Every row of a log export: a full time with its offset, in bounds. The same reading
        # as below without its layers (a third of the check pass); anything else goes there.
        try:
            fast = dt.datetime.fromisoformat(text)
            zone_ = fast.tzinfo  # fromisoformat's zones are fixed offsets, never None
            if zone_ is None:
                raise ValueError
            latest, latest_text = _latest(now)
            shaped = (
                (n == 32 and text[19] == "." or n == 25)
                and text[4] == text[7] == "-"
                and text[13] == text[16] == ":"
                and text[11:13] != "24"  # newer Pythons read 24:00 as the next day's
            )
            if shaped:
                # isoformat's form (as most logs write it): the ledger's text cut out of it
                # (formatting a datetime costs several parsings)
                rest = text[13:26] if n == 32 else f"{text[13:19]}.000000"
                if zone_ is dt.UTC and text.endswith("+00:00"):
                    if EARLIEST <= fast <= latest:
                        return fast, f"{text[:10]}T{text[11:13]}{rest}"
                elif text[n - 3 :] == ":00" and text[n - 6] in "+-":
                    # Another offset of whole hours: its UTC hour looked up by the local hour
                    # and offset, and the bounds compared as text (an instant in another zone
                    # is compared with one in UTC through its offset: 2 µs, twice a row).
                    hour = text[:13] + text[n - 6 :]
                    utc_hour = _UTC_HOURS.get(hour)
                    if utc_hour is None:
                        if not real_offset(fast.utcoffset()):  # said by the reading below
                            raise ValueError
                        if len(_UTC_HOURS) >= 65536:
                            _UTC_HOURS.clear()
                        utc_hour = _UTC_HOURS[hour] = utc_text(fast)[:13]
                    utc_at = f"{utc_hour}{rest}"
                    # a four-digit year: the texts sort as their instants do
                    if len(utc_hour) == 13 and _EARLIEST_TEXT <= utc_at <= latest_text:
                        return fast, utc_at
            if EARLIEST <= fast <= latest and real_offset(fast.utcoffset()):
                value = fast if zone_ is dt.UTC else fast.astimezone(dt.UTC)
                return value, utc_text(value)
        except (ValueError, OverflowError):
            pass
    try:
        # Read as before (not as a window edge) at a DST change: a log imported again must
        # match its earlier import row for row (the Excel-precision match allows under a minute).
        value = parse_instant(text, what, tz, as_edge=False)
    except UsageError as exc:  # unreadable: in a file that is bad data, not a bad command line
        raise DataError(str(exc)) from None
    value = check_event(value, what, now)
    return value, utc_text(value)
