"""Build tests/corpus/bounceparser/expected.jsonl from Mail::DeliveryStatus::BounceParser 1.543.

    python scripts/bounceparser_expectations.py SOURCE_DIR [--out PATH]

SOURCE_DIR is the unpacked Debian source (libmail-deliverystatus-bounceparser-perl
1.543+repacked, directory Mail-DeliveryStatus-BounceParser-1.543). The Perl module itself must
be installed (``apt-get install libmail-deliverystatus-bounceparser-perl``): it is run over every
message for its own opinion.

Two sources of expectations, kept apart in every row:

- ``t``: what the package's test scripts (``t/*.t``) assert for the file, transcribed in
  ``T_EXPECT`` below with the script it comes from (human-checked answers; the script checks
  that each file really is named, or globbed, by that ``.t``). ``todo`` marks an assertion the
  authors guard with TODO (they know the module fails it; the expectation is still theirs).
- ``module``: what the installed module reports (``is_bounce``, addresses, ``std_reason`` per
  report): an outsider's opinion, possibly wrong, used only where no ``.t`` says anything.

``expected`` is what tests/test_bounce_bounceparser.py compares, each part with where it came
from (``*_from``: ``t``, ``module`` or ``none``).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "corpus" / "bounceparser" / "expected.jsonl"

# std_reason -> hard? (None: not comparable). user_unknown / domain_error: the address or its
# domain is bad. Everything else refuses a good address (full, spam, too big, disabled) or is
# BounceParser's "unknown" (no reason known, so no hard/not-hard to compare).
HARD = {
    "user_unknown": True,
    "domain_error": True,
    "over_quota": False,
    "spam": False,
    "user_disabled": False,
    "message_too_large": False,
    "unknown": None,
}

R = "recipient@example.net"
# file pattern -> (source .t, assertions). Patterns are the .t's own globs where it globs.
T_EXPECT: list[tuple[str, str, dict]] = [
    *[
        (
            f,
            "various-unknown.t",
            {"is_bounce": True, "std_reason": "user_unknown", "addresses": [R]},
        )
        for f in (
            "att-via-sendmail.unknown.msg",
            "comcast-via-sendmail.unknown.msg",
            "cox-via-sendmail.unknown.msg",
            "generic-postfix-via-sendmail.unknown.msg",
            "gmail-via-sendmail.unknown.msg",
            "msn-via-sendmail.unknown.msg",
            "yahoo-via-sendmail.unknown.msg",
            "hotmail-via-sendmail.unknown.msg",
            "domino.unknown.msg",
            "aol.unknown.msg",
            "qmail.unknown.msg",
            "exchange.unknown.msg",
            "novell-with-rhs.msg",
            "yahoo-user-unknown.msg",
            "me-user-unknown.msg",
            "cam-unknown.msg",
            "rcpt-dne.msg",
            "mailbox-unknown.msg",
            "deactivated-mailbox.msg",
            "user-unknown-dne.msg",
            "badrcptto.msg",
            "nomailbox.msg",
            "doesnotexist.msg",
            "doesnotexist2.msg",
            "user-unknown-not-active.msg",
            "user-unknown-not.msg",
            "user-unknown-polish.msg",
            "user-unknown-bad.msg",
        )
    ],
    (
        "long-smtp.msg",
        "various-unknown.t",
        {"is_bounce": True, "std_reason": "unknown", "addresses": [R]},
    ),
    ("quota*.msg", "quota.t", {"is_bounce": True, "std_reason": "over_quota"}),
    *[
        (f, "non-bounce.t", {"is_bounce": False})
        for f in (
            "aol-vacation.msg",
            "polish-autoreply.msg",
            "bluebottle.msg",
            "boxbe-cr.msg",
            "boxbe-cr2.msg",
            "whitelist.msg",
        )
    ],
    ("autoreply.msg", "autoreply.t", {"is_bounce": False, "todo": "is_bounce"}),
    (
        "aol.attachment.msg",
        "aol-attachment.t",
        {"is_bounce": True, "addresses": ["exampleuser@aol.com"]},
    ),
    (
        "aol-senderblock.msg",
        "aol-senderblock.t",
        {"is_bounce": True, "addresses": ["mykewlaolacct@aol.com"]},
    ),
    (
        "iis-multiple-bounce.msg",
        "iis-multiple-bounce.t",
        {"is_bounce": True, "addresses": [f"bounced{i}@example.net" for i in (1, 2, 3, 4)]},
    ),
    ("junkemailfilter.msg", "junkemailfilter.t", {"is_bounce": True, "std_reason": "spam"}),
    ("malformed-dns.msg", "malformed-dns.t", {"is_bounce": True, "std_reason": "domain_error"}),
    # message-too-large.t asserts "std_reaons" (sic): only is_bounce is really checked.
    ("message-too-large*.msg", "message-too-large.t", {"is_bounce": True}),
    # Spam sent to the bounce address, not a bounce: the .t expects is_bounce (documenting the
    # module) but no report; "reports 0" is the human answer compared here.
    (
        "spam-bogus-email-in-report.msg",
        "spam-bogus-email-in-report.t",
        {"is_bounce": True, "reports": 0},
    ),
    ("spam-with-image.msg", "spam-with-image.t", {"is_bounce": True, "reports": 0}),
    (
        "misidentified-recipient.msg",
        "misidentified-recipient.t",
        {"is_bounce": True, "addresses": ["john.b@b.c"]},
    ),
    ("no-message-collected.msg", "no-message-collected.t", {"is_bounce": True}),
    ("not-a-relay.msg", "not-a-relay.t", {"is_bounce": True, "std_reason": "domain_error"}),
    ("postfix.msg", "postfix.t", {"is_bounce": True, "addresses": ["bounce@dest.example.com"]}),
    # Original-Recipient original@..., Final-Recipient final@...: either names the failure.
    (
        "postfix-orig.msg",
        "postfix.t",
        {"is_bounce": True, "addresses": ["original@dest.example.com"]},
    ),
    (
        "postfix-malformed.msg",
        "postfix-malformed.t",
        {"is_bounce": True, "std_reason": "domain_error", "addresses": ["exampleuser@yyahoo.com"]},
    ),
    ("rcpthosts.msg", "rcpthosts.t", {"is_bounce": True, "std_reason": "domain_error"}),
    ("relaying-denied.msg", "relaying-denied.t", {"is_bounce": True, "std_reason": "domain_error"}),
    ("spam-rejection*.msg", "spam-rejection.t", {"is_bounce": True, "std_reason": "spam"}),
    (
        "spam-rejection-uribl.msg",
        "spam-rejection-uribl.t",
        {"is_bounce": True, "std_reason": "spam"},
    ),
    ("spamassassin.msg", "spamassassin.t", {"is_bounce": True, "std_reason": "spam"}),
    ("spambouncer.msg", "spambouncer.t", {"is_bounce": True, "std_reason": "spam"}),
    ("postfix-smtp-550.msg", "status-209.t", {"is_bounce": True}),
    ("surfcontrol-extra-newline.msg", "surfcontrol-extra-newline.t", {"is_bounce": True}),
    (
        "user-unknown-disabled.msg",
        "user-disabled.t",
        {"is_bounce": True, "std_reason": "user_disabled"},
    ),
    ("polish-unknown.msg", "user-disabled.t", {"is_bounce": True, "std_reason": "user_disabled"}),
    (
        "sendmail-host-unknown.msg",
        "various-domain.t",
        # "recipient@#example.net" is what the message names (its Final-Recipient too).
        {"is_bounce": True, "std_reason": "domain_error", "addresses": ["recipient@#example.net"]},
    ),
    (
        "postfix-host-unknown.msg",
        "various-domain.t",
        {"is_bounce": True, "std_reason": "domain_error", "addresses": ["bounce@dest.example.com"]},
    ),
    (
        "no-such-domain.msg",
        "various-domain.t",
        {"is_bounce": True, "std_reason": "domain_error", "addresses": [R]},
    ),
    ("warning-1.msg", "warnings.t", {"is_bounce": True, "std_reason": "user_unknown"}),
    ("warning-2.msg", "warnings.t", {"is_bounce": True, "std_reason": "user_unknown"}),
    ("warning-3.msg", "warnings.t", {"is_bounce": True, "std_reason": "user_unknown"}),
    ("warning-4.msg", "warnings.t", {"is_bounce": True, "std_reason": "over_quota"}),
    ("warning-5.msg", "warnings.t", {"is_bounce": True}),
    ("warning-6.msg", "warnings.t", {"is_bounce": False}),
    ("warning-7.msg", "warnings.t", {"is_bounce": True, "std_reason": "over_quota"}),
    # "it's not a bounce - transient nonfatal error": a delay warning.
    ("warning-8.msg", "warnings.t", {"is_bounce": False}),
    ("warning-9.msg", "warnings.t", {"is_bounce": True}),
]

PERL = r"""
use strict; use warnings; use JSON::PP; use Mail::DeliveryStatus::BounceParser;
my @out;
for my $fn (@ARGV) {
    open my $fh, '<', $fn or die "$fn: $!"; local $/; my $text = <$fh>; close $fh;
    my $b = eval { Mail::DeliveryStatus::BounceParser->new($text) };
    if (!$b) { push @out, {file => $fn, error => "$@"}; next }
    my @r = map { {email => lc($_->get('email') // ''), std_reason => $_->get('std_reason') // '',
                   smtp_code => '' . ($_->get('smtp_code') // ''), status => $_->get('Status') // ''} }
            $b->reports;
    push @out, {file => $fn, is_bounce => $b->is_bounce ? JSON::PP::true : JSON::PP::false,
                addresses => [map { lc } $b->addresses], reports => \@r};
}
print JSON::PP->new->canonical->encode(\@out);
"""


def module_opinions(files: list[Path]) -> dict[str, dict]:
    version = subprocess.run(
        [
            "perl",
            "-MMail::DeliveryStatus::BounceParser",
            "-e",
            "print $Mail::DeliveryStatus::BounceParser::VERSION",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    if version != "1.543":
        raise SystemExit(f"Mail::DeliveryStatus::BounceParser {version} installed; 1.543 wanted")
    proc = subprocess.run(
        ["perl", "-e", PERL, *map(str, files)], check=True, capture_output=True, text=True
    )
    return {Path(d["file"]).name: d for d in json.loads(proc.stdout)}


def clean(address: str) -> str | None:
    """The module's address, without its parsing artefacts ("rfc822;" kept from the field,
    a trailing ">"); None for what is no address at all (e.g. "1")."""
    address = address.strip().lower().removeprefix("rfc822;").strip("<> ")
    return address if re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", address) else None


def t_expectations(source: Path, names: list[str]) -> dict[str, dict]:
    """Each file's .t assertions (later, more specific entries add to earlier ones)."""
    found: dict[str, dict] = {}
    for pattern, script, asserts in T_EXPECT:
        text = (source / "t" / script).read_text(encoding="utf-8")
        literal = pattern.replace("*", "")
        assert literal.split(".msg")[0] in text, f"{pattern} not named in {script}"
        matched = fnmatch.filter(names, pattern)
        assert matched, f"{pattern} ({script}) matches no corpus file"
        for name in matched:
            row = found.setdefault(name, {"scripts": []})
            row["scripts"].append(script)
            row.update(asserts)
    return found


def build(source: Path) -> list[dict]:
    files = sorted((source / "t" / "corpus").glob("*.msg"))
    names = [f.name for f in files]
    module = module_opinions(files)
    tdata = t_expectations(source, names)
    rows = []
    for name in names:
        t = tdata.get(name)
        m = module[name]
        m_reasons = sorted({r["std_reason"] for r in m.get("reports", []) if r["std_reason"]})
        exp: dict = {}
        if t is not None:
            bounce = t["is_bounce"] and t.get("reports", 1) != 0
            exp["is_bounce_from"] = "t"
        else:
            bounce = bool(m.get("is_bounce"))
            exp["is_bounce_from"] = "module"
        if not bounce:
            kind = "not a bounce"
        else:
            kind = "bounce"
        exp["kind"] = kind
        if kind == "bounce":
            if t is not None and "addresses" in t:
                exp["recipients"], exp["recipients_from"] = t["addresses"], "t"
            elif cleaned := [a for a in map(clean, m.get("addresses") or []) if a]:
                exp["recipients"], exp["recipients_from"] = cleaned, "module"
            else:
                exp["recipients"], exp["recipients_from"] = [], "none"
            if t is not None and "std_reason" in t:
                exp["reason"], exp["reason_from"] = t["std_reason"], "t"
            elif len(m_reasons) == 1:
                exp["reason"], exp["reason_from"] = m_reasons[0], "module"
            else:
                exp["reason"], exp["reason_from"] = None, "none"
            exp["hard"] = HARD.get(exp["reason"]) if exp["reason"] else None
        module_view = {
            "is_bounce": m.get("is_bounce"),
            "addresses": m.get("addresses"),
            "std_reasons": m_reasons,
            "smtp_codes": sorted({r["smtp_code"] for r in m.get("reports", []) if r["smtp_code"]}),
        }
        if "error" in m:
            module_view = {"error": m["error"]}
        t_view = None
        if t is not None:
            t_view = {k: v for k, v in t.items()}
        rows.append({"file": f"data/{name}", "expected": exp, "t": t_view, "module": module_view})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source", type=Path)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    rows = build(args.source)
    text = "".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in rows)
    args.out.write_text(text, encoding="utf-8")
    by = {}
    for r in rows:
        key = (r["expected"]["kind"], r["expected"].get("reason"), r["expected"].get("reason_from"))
        by[key] = by.get(key, 0) + 1
    print(f"{len(rows)} rows -> {args.out}")
    for key, n in sorted(by.items(), key=lambda kv: str(kv[0])):
        print(f"  {n:3}  {key}")


if __name__ == "__main__":
    main()
