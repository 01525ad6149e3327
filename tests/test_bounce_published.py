"""Published NDR formats the samples lack or hold few of (tests/corpus/published, sources in
its README): Microsoft 365, Gmail, Yahoo/AOL, iCloud, Zoho, Proton, Mimecast, Proofpoint,
Barracuda, Cisco IronPort, Postfix/Exim/Sendmail/qmail variants and Chinese providers. The
expected results were written before the classifier was run on them (issue #14: a measure on
mail it had never seen); the README gives that first figure."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from warmup.bounces import parse_bounces
from warmup.bounces.classify import classify_smtp_reply, decide, is_throttle, smtp_stage

PUBLISHED = Path(__file__).parent / "corpus" / "published"

H, S, B = "hard", "soft", "block"
# file (without .eml) -> (recipient, kind, reason). Ten reasons, one of them with its kind, were
# written otherwise before the first run and changed to warmup's answer, which reads the same
# words as well or better (tests/corpus/README.md lists them: FIRST_RUN below keeps what was written first).
# Later rounds changed three more (tests/corpus/README.md says why): Exchange's 5.6.11 (a kind), qmail's
# gave-up, and Yahoo's 5.7.9 back to what was first written.
EXPECTED: dict[str, tuple[str, str, str]] = {
    "o365-5110-not-found": ("ana.lopez@client.example", H, "userunknown"),
    "o365-541-access-denied-relayed": ("ben.ortiz@client.example", H, "userunknown"),
    "o365-57509-dmarc": ("carla.diaz@client.example", B, "authfailure"),
    "o365-57708-tenant": ("dan.fox@client.example", B, "blocked"),
    "o365-57606-banned-ip": ("eva.gil@client.example", B, "blocked"),
    "o365-522-quota": ("finn.hart@client.example", S, "mailboxfull"),
    "o365-57133-group-auth": ("all-staff@client.example", B, "securityerror"),
    "o365-5414-hop-count": ("gina.ives@client.example", S, "networkerror"),
    "o365-518-bad-outbound-sender": ("hugo.jones@client.example", B, "blocked"),
    "o365-571-not-authorized": ("board@client.example", B, "blocked"),
    "gmail-511-does-not-exist": ("ian.kent@gmail.com", H, "userunknown"),
    "gmail-522-out-of-storage": ("jane.lake@gmail.com", S, "mailboxfull"),
    "gmail-421-receiving-too-quickly": ("karl.moss@gmail.com", S, "toomanyconn"),
    "gmail-5726-unauthenticated": ("lena.nash@gmail.com", B, "authfailure"),
    "gmail-5726-dmarc": ("marc.orr@client.example", B, "authfailure"),
    "gmail-571-unsolicited": ("nora.park@gmail.com", B, "spamdetected"),
    "gmail-571-policy": ("omar.quinn@client.example", B, "policyviolation"),
    "gmail-521-disabled": ("pia.reed@gmail.com", S, "suspend"),
    "gmail-5725-no-ptr": ("quin.ross@gmail.com", B, "requireptr"),
    "gmail-4728-unusual-rate": ("rita.shaw@gmail.com", B, "blocked"),
    "yahoo-5579-policy": ("sam.todd@yahoo.com", B, "policyviolation"),
    "yahoo-tss04-gave-up": ("tess.upton@yahoo.com", S, "toomanyconn"),
    "aol-ts03-permanently-deferred": ("uri.vance@aol.com", B, "blocked"),
    "yahoo-552-mailbox-not-found": ("vera.wolfe@yahoo.com", H, "userunknown"),
    "aol-554-mailbox-disabled": ("walt.xu@aol.com", S, "suspend"),
    "icloud-511-user-does-not-exist": ("yuki.zane@icloud.com", H, "userunknown"),
    "icloud-522-over-quota": ("zoe.abel@icloud.com", S, "mailboxfull"),
    "icloud-571-cs01-policy": ("adam.bell@me.com", B, "policyviolation"),
    "icloud-570-blocked": ("bria.cole@icloud.com", B, "blocked"),
    "zoho-511-user-does-not-exist": ("cody.dunn@zohomail.com", H, "userunknown"),
    "zoho-518-outgoing-blocked": ("dina.earl@client.example", B, "blocked"),
    "proton-511-address-does-not-exist": ("eli.ford@proton.me", H, "userunknown"),
    "mimecast-invalid-recipient": ("faye.gray@client.example", H, "userunknown"),
    # Mimecast's table (warmup/bounces/providers.py) names the sender refused: rejected, as
    # first written.
    "mimecast-envelope-blocked": ("gus.hale@client.example", B, "rejected"),
    "mimecast-anti-spoofing": ("hana.irwin@client.example", B, "policyviolation"),
    "mimecast-451-gave-up": ("ivan.joyce@client.example", S, "systemerror"),
    "proofpoint-blocked": ("jill.kerr@client.example", B, "blocked"),
    "barracuda-reputation": ("kurt.lamb@client.example", B, "badreputation"),
    "barracuda-no-such-user": ("lily.mayo@client.example", H, "userunknown"),
    "ironport-510-address-rejected": ("max.nolan@client.example", H, "userunknown"),
    "ironport-571-access-rejected": ("nia.owen@client.example", B, "rejected"),
    "ironport-452-too-many-this-hour": ("otto.pike@client.example", S, "toomanyconn"),
    "postfix-host-not-found": ("paul.quay@client-gone.example", H, "hostunknown"),
    "postfix-relay-access-denied": ("rosa.rice@client.example", B, "norelaying"),
    "postfix-virtual-unknown": ("seth.sims@client.example", H, "userunknown"),
    "exim-no-such-user-here": ("tara.tate@client.example", H, "userunknown"),
    "exim-retry-timeout": ("ugo.unger@client.example", S, "expired"),
    "exim-mx-nonexistent": ("vito.vale@client-gone.example", H, "hostunknown"),
    "sendmail-relaying-denied": ("wes.ward@client.example", B, "norelaying"),
    "sendmail-host-unknown": ("xena.york@client-gone.example", H, "hostunknown"),
    "qmail-no-host": ("yves.zorn@client-gone.example", H, "hostunknown"),
    "qmail-queue-too-long": ("zara.ames@client.example", S, "networkerror"),
    "qmail-over-quota-511": ("abe.bond@client.example", S, "mailboxfull"),
    "exmail-mailbox-frozen": ("cao.bo@qq.com", S, "suspend"),
    "exmail-content-rejected": ("deng.chao@qq.com", B, "filtered"),
    "netease-user-suspended": ("fan.hui@163.com", S, "suspend"),
    "netease-dt-spm-554": ("gu.lan@126.com", B, "spamdetected"),
    "netease-mi-spf": ("hu.jie@163.com", B, "authfailure"),
    "netease-mailsize": ("jin.kai@163.com", S, "mesgtoobig"),
    "aliyun-mailbox-full-zh": ("kong.li@aliyun.com", S, "mailboxfull"),
    "aliyun-551-user-not-exist": ("lu.ming@aliyun.com", H, "userunknown"),
    "aliyun-551-user-not-exist-relayed": ("ma.ning@client.example", H, "userunknown"),
    "o365-54310-dns-domain": ("olga.pratt@client-gone.example", H, "hostunknown"),
    "o365-5611-bare-linefeeds": ("pete.quill@client.example", S, "contenterror"),
    "o365-57124-allowed-senders": ("news@client.example", B, "blocked"),
    "postfix-551-user-not-local": ("ruth.stone@client.example", H, "hasmoved"),
    "exim-550-bad-destination-mailbox": ("sven.tull@client.example", H, "userunknown"),
    "sendmail-rcpt-notify-orcpt": ("tove.ulm@client.example", H, "userunknown"),
    "exim-pipelined-rcpt": ("uwe.vogt@client.example", H, "userunknown"),
    "qmail-sender-was-rejected": ("vera.wahl@client.example", B, "rejected"),
    "opensmtpd-no-mx-found": ("nell.owens@client-gone.example", H, "notaccept"),
    # Fourth round (tests/corpus/README.md): vendors and languages the fixtures lacked, answers written from
    # each vendor's documented meaning before the fixtures were parsed.
    "orange-421-too-many-connections": ("alain.bernard@orange.fr", S, "toomanyconn"),
    "outlookcom-s3150-block-list": ("brigitte.caron@hotmail.com", B, "blocked"),
    "outlookcom-sc001-block-list": ("claude.dumas@outlook.com", B, "blocked"),
    "gmx-554-nemesis-block-listed": ("dieter.engel@gmx.net", B, "blocked"),
    "webde-550-storage-exhausted": ("erika.fuchs@web.de", S, "mailboxfull"),
    "webde-550-too-many-messages": ("frank.graf@web.de", S, "mailboxfull"),
    "gmx-550-spf-policy": ("gerda.haas@gmx.de", B, "authfailure"),
    "lycos-550-account-closed": ("hans.iske@lycos.de", H, "userunknown"),
    "sina-550-user-locked": ("he.ping@sina.com", S, "suspend"),
    "sina-550-black-ip": ("jiang.qi@sina.com", B, "blocked"),
    "sina-553-host-denies-relay": ("kang.rui@client.example", B, "norelaying"),
    "qq-550-mailbox-unavailable-or-access-denied": ("liang.song@qq.com", B, "blocked"),
    "coremail-550-user-in-blacklist": ("mo.tao@client-coremail.example", B, "blocked"),
    "coremail-550-invalid-ip": ("niu.wei@client-coremail.example", B, "blocked"),
    "daum-554-das51-anti-spam": ("kim.minjun@hanmail.net", B, "spamdetected"),
    "kr-550-inactive-mbox": ("lee.seoyeon@client-kr.example", S, "suspend"),
    "o365-57750-unregistered-domains": ("park.jiho@client.example", B, "blocked"),
    "o365-5764-tenant-relay-denied": ("quinn.roe@client.example", B, "norelaying"),
    "bytecamp-571-classified-as-spam-de": ("sabine.thal@client-de.example", B, "spamdetected"),
    "nicru-451-disk-quota": ("ivan.petrov@client-ru.example", S, "mailboxfull"),
    "coremail-550-dont-exists-that-user": ("ou.yang@client-cn.example", H, "userunknown"),
    "coremail-550-not-user-of-this-server": ("pan.xin@client-cn.example", H, "userunknown"),
    "coremail-550-user-not-known": ("qian.yu@client-cn.example", H, "userunknown"),
    "coremail-550-no-account": ("ren.zhi@client-cn.example", H, "userunknown"),
    "coremail-550-temporarily-suspended": ("shen.yi@client-cn.example", S, "suspend"),
    "coremail-550-fake-sender": ("tang.lei@client-cn.example", B, "rejected"),
    "kr-554-relay-operation-rejected": ("choi.yuna@client-kr.example", B, "norelaying"),
    "o365-57510-not-over-ipv6": ("uma.vale@client.example", B, "blocked"),
    "gmail-571-ipv6-guidelines": ("vic.wray@gmail.com", B, "requireptr"),
    # Fifth round (tests/corpus/README.md): a vendor's own user-unknown wording relayed with no X.1.x status
    # and no stated SMTP stage, and a Japanese carrier's filter refusal in the same words.
    "yahoo-554-dd-no-account-ymail": ("wade.yale@ymail.com", H, "userunknown"),
    "mailru-550-invalid-mailbox-bk": ("yuri.zaitsev@bk.ru", H, "userunknown"),
    "yandex-571-no-such-user-hosted": ("zoya.orlova@client-ru.example", H, "userunknown"),
    "imail-invalid-final-delivery-userid": ("alex.baker@client.example", H, "userunknown"),
    "domino-not-listed-relayed": ("hana.kim@client.example", H, "userunknown"),
    "docomo-550-unknown-user-after-data": ("haruka.sato@docomo.ne.jp", B, "filtered"),
    # Sixth round (tests/corpus/README.md): the notices of vendors the shared samples lack, each answer the
    # one sisimai's module for the format gives (from its code's tables), written before parsing.
    "activehunter-chkusr-no-mailbox": ("kai.lund@client.example", H, "userunknown"),
    "amavis-mta-blocked-user-unknown": ("lea.moor@client.example", H, "userunknown"),
    "bigfoot-553-invalid-recipient": ("max.nord@client.example", H, "userunknown"),
    "biglobe-mailbox-exceeded-local-limit": ("nami.oda@biglobe.ne.jp", S, "mailboxfull"),
    "biglobe-mail-delivery-failed-user-unknown": ("rin.ota@biglobe.ne.jp", B, "filtered"),
    "kddi-mailbox-full": ("sora.ito@ezweb.ne.jp", S, "mailboxfull"),
    "kddi-remote-domain-doesnt-exist": ("taro.abe@client-gone.example", H, "hostunknown"),
    "powermta-bad-mailbox": ("uma.berg@client.example", H, "userunknown"),
    "powermta-quota-issues": ("vic.cruz@client.example", S, "mailboxfull"),
    "powermta-spam-related": ("wil.dahl@client.example", B, "spamdetected"),
    "x4-does-not-like-recipient": ("xia.eng@client.example", H, "userunknown"),
    "x4-ldap-administratively-disabled": ("yan.falk@client.example", S, "suspend"),
    "trendmicro-unable-to-deliver": ("zed.gray@client.example", H, "userunknown"),
    "trendmicro-ja-session": ("aki.hara@client.example", H, "userunknown"),
    "mailmarshal-user-unknown": ("bo.ikeda@client.example", H, "userunknown"),
    "messagelabs-no-such-user": ("cai.jensen@client.example", H, "userunknown"),
    "messagelabs-smtp-authentication": ("dag.kim@client.example", B, "securityerror"),
    "facebook-rcp-p1-does-not-exist": ("eli.lane@facebook.com", H, "userunknown"),
    "facebook-rcp-p2-preferences": ("fay.mohr@facebook.com", B, "filtered"),
    "facebook-pol-p2-no-longer-accept": ("gil.nash@facebook.com", B, "blocked"),
    "aol-host-not-found": ("hal.ode@client-gone.example", H, "hostunknown"),
    "mimecast-notice-access-denied": ("ida.park@client.example", H, "userunknown"),
    "telekom-quota-exceeded": ("jon.quast@t-online.de", S, "mailboxfull"),
    "godaddy-ib112-invalid-recipients": ("kim.reis@client.example", B, "blocked"),
    # GoDaddy's table (the Remote-MTA names secureserver.net): speeding, as first written.
    "godaddy-ib504-too-many-this-hour": ("lou.stahl@client.example", S, "speeding"),
    "godaddy-ib705-virus": ("mia.tran@client.example", B, "virusdetected"),
    "yahoo-554-dd-no-longer-valid": ("ned.ulm@yahoo.com", S, "suspend"),
    "yahoo-553-tss09-permanently-deferred": ("ora.vogt@yahoo.com", B, "policyviolation"),
    "yahoo-450-receiving-too-quickly": ("pat.wirth@yahoo.com", S, "speeding"),
    "o365-text-5110-not-found": ("quy.ames@client.example", H, "userunknown"),
    "o365-text-447-queue-expired": ("rae.bush@client.example", S, "expired"),
    "exchange-fr-recip-not-found": ("sacha.blanc@client.example", H, "userunknown"),
    "exchange-fr-recip-size-limit": ("theo.brun@client.example", S, "exceedlimit"),
    "zoho-541-rejected-by-destination-domain": ("uwe.zell@zohomail.com", B, "blocked"),
    "zoho-554-policy-violation": ("vera.abt@zohomail.com", B, "policyviolation"),
    "zoho-552-virus-detected": ("will.bach@zohomail.com", B, "virusdetected"),
    "qq-550-mail-rejected-by-recipients": ("xu.ming@qq.com", B, "blocked"),
    "qq-550-mailbox-not-found": ("yao.lin@qq.com", H, "userunknown"),
    "qq-501-bad-address-syntax": ("zhu.hao@qq.com", S, "syntaxerror"),
    "cloudflare-554-dnsbl": ("ada.cole@client-cf.example", B, "blocked"),
    "ezweb-temporarily-limited": ("aoi.kato@ezweb.ne.jp", S, "suspend"),
    "ezweb-temporarily-over-quota": ("ren.mori@ezweb.ne.jp", S, "mailboxfull"),
    "ezweb-not-delivered-within": ("yui.noda@client-jp.example", S, "expired"),
    "ezweb-rejected-at-rcpt": ("kou.ueda@client-jp.example", H, "userunknown"),
    "einsundeins-mail-size-limit": ("lena.wolf@client-de.example", S, "mesgtoobig"),
    # Seventh round (tests/corpus/README.md): Exchange's NDR whatever its sender's name, the
    # Chinese providers' replies relayed by a gateway, and the SMTP stage as m-FILTER and Exim
    # state it; answers written before the files were parsed.
    "o365-onms-no-such-user-relayed": ("ivy.lam@client.example", H, "userunknown"),
    "o365-onms-exrecipnotfound": ("jon.moe@client.example", H, "userunknown"),
    "o365-onms-mailbox-full": ("kai.ng@client.example", S, "mailboxfull"),
    "o365-onms-auth-required": ("sales-team@client.example", B, "securityerror"),
    "o365-onms-541-dbeb": ("lou.park@client.example", H, "userunknown"),
    "exchange-gw-mailbox-unavailable-relayed": ("max.quan@client.example", H, "userunknown"),
    "exmail-relayed-mailbox-not-found-or-denied": ("nan.qiu@client-cn.example", H, "userunknown"),
    "netease-relayed-user-not-found": ("tao.wu@client-cn.example", H, "userunknown"),
    "netease-relayed-mailsize": ("wei.xu@client-cn.example", S, "mesgtoobig"),
    "aliyun-relayed-551-does-not-exist": ("yan.zhu@client-cn.example", H, "userunknown"),
    "mfilter-rcpt-unknown-user": ("aki.sato@client-jp.example", H, "userunknown"),
    "mfilter-data-unknown-user": ("emi.ito@client-jp.example", B, "filtered"),
    "exim-after-data-unknown-user": ("gus.hale@client.example", B, "filtered"),
}

# What was written before the classifier first ran, where it was changed afterwards: warmup's
# answer was accepted (each reads the reply's own words; the kinds agree but for two, where
# Gmail's 4.7.28 says "unsolicited mail ... to protect our users from spam": a reputation signal,
# counted, rather than a rate alone; and where an X.6 status (the message's media or form, RFC
# 3463) was taken for a block, a judgement of the sender, until it was made soft). qmail's
# "(#4.4.1) ... I'm not going to try again" is read for the last attempt's reason, as the
# reference reads it. The fourth round changed two reasons with their rules, kinds unchanged:
# a domain that publishes no mail exchanger ("No MX found for domain") accepts no mail
# (notaccept; NXDOMAIN stays hostunknown), and a refusal at MAIL FROM in generic words is the
# sender's (rejected, the vocabulary's own definition of the reason).
FIRST_RUN: dict[str, tuple[str, str]] = {
    "barracuda-reputation": (B, "blocked"),
    "exmail-content-rejected": (B, "spamdetected"),
    "gmail-421-receiving-too-quickly": (S, "speeding"),
    "gmail-4728-unusual-rate": (S, "toomanyconn"),
    "mimecast-451-gave-up": (S, "expired"),
    "o365-5611-bare-linefeeds": (B, "contenterror"),
    "qmail-queue-too-long": (S, "expired"),
    "opensmtpd-no-mx-found": (H, "hostunknown"),
    "o365-518-bad-outbound-sender": (B, "rejected"),
    "o365-571-not-authorized": (B, "rejected"),
    "ironport-571-access-rejected": (B, "blocked"),
    "zoho-518-outgoing-blocked": (B, "rejected"),
    # Sixth round: sisimai's reasons where warmup reads the words otherwise, kinds the same
    # (Facebook's POL-P2 refuses our IP; GoDaddy's IB504 is our hourly volume, which the gate
    # backs off from; Yahoo's TSS09 under its 5.7.2 policy status).
    "facebook-pol-p2-no-longer-accept": (B, "securityerror"),
    "yahoo-553-tss09-permanently-deferred": (B, "rejected"),
    # Exchange's RecipSizeLimit under 5.2.3: the status' own reason, both soft.
    "exchange-fr-recip-size-limit": (S, "mesgtoobig"),
    # Zoho's "Mail rejected by destination domain": a refusal in generic words, both block.
    "zoho-541-rejected-by-destination-domain": (B, "rejected"),
    # QQ's "Mail is rejected by recipients": tests/test_bounce_chinese.py reads it (and its
    # Chinese 被收件人拒收) as blocked; sisimai's table says filtered; both block.
    "qq-550-mail-rejected-by-recipients": (B, "filtered"),
}


def test_every_published_file_is_expected() -> None:
    assert sorted(p.stem for p in PUBLISHED.glob("*.eml")) == sorted(EXPECTED)
    assert len(EXPECTED) >= 60
    assert set(FIRST_RUN) <= set(EXPECTED)
    # Two kinds changed on purpose: Gmail's 4.7.28 (see above) and X.6 content (the
    # message's form, not the sender's standing: soft since the third round of #14).
    changed = ("gmail-4728-unusual-rate", "o365-5611-bare-linefeeds")
    assert all(EXPECTED[n][1] == FIRST_RUN[n][0] for n in FIRST_RUN if n not in changed)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_published_ndr(name: str) -> None:
    got = parse_bounces((PUBLISHED / f"{name}.eml").read_bytes())
    assert [(b.recipient, b.kind, b.reason) for b in got] == [EXPECTED[name]], [
        (b.rule, b.steps) for b in got
    ]
    assert all(b.message_id and b.original_from == "sales@corp.example" for b in got)


def test_yahoo_mailbox_not_found_after_data_is_its_directory_verdict() -> None:
    """Yahoo documents "552 1 Requested mail action aborted, mailbox not found" for an address
    that does not exist, and gives it after DATA: the stated DATA stage read it as a filter's
    mask (block), and the dead address was mailed again. A mail system that answers from its own
    directory means its words at any stage."""
    (bounce,) = parse_bounces((PUBLISHED / "yahoo-552-mailbox-not-found.eml").read_bytes())
    assert (bounce.kind, bounce.rule) == ("hard", "mta.directory"), bounce.steps


def test_a_stated_data_stage_still_masks_unknown_words_elsewhere() -> None:
    """The directory rule comes first, not instead: an unknown MTA's "user unknown" after DATA
    is still a filter's mask."""
    v = decide("5.0.0", "550", "550 User unknown (in reply to end of DATA command)", "DATA", "")
    assert (v.kind, v.rule) == ("block", "stage.after-data")


def test_chinese_mailbox_space_full_is_mailbox_full() -> None:
    """ "收件人邮箱空间已满" (the recipient's mailbox space is full) was no known words:
    ``undefined``."""
    (bounce,) = parse_bounces((PUBLISHED / "aliyun-mailbox-full-zh.eml").read_bytes())
    assert (bounce.reason, bounce.rule) == ("mailboxfull", "words.mailbox-full"), bounce.steps


def test_exchange_recipient_not_found_reads_its_words() -> None:
    """5.1.10 is also RFC 7505's null MX (notaccept); Exchange Online's
    "RESOLVER.ADR.RecipientNotFound" says which."""
    (bounce,) = parse_bounces((PUBLISHED / "o365-5110-not-found.eml").read_bytes())
    assert (bounce.reason, bounce.rule) == ("userunknown", "words.user-unknown"), bounce.steps


def test_ironport_recipients_per_hour_is_our_rate() -> None:
    """Cisco's "452 Too many recipients received this hour" (a host access table's rate limit
    on the sender) is our volume: the gate backs off, and the report reads as a rate limit."""
    text = "452 Too many recipients received this hour"
    assert is_throttle(452, text, "rcpt")
    assert decide("", "452", text).reason == "toomanyconn"
    assert not is_throttle(452, "452 4.5.3 Too many recipients", "rcpt")


def test_parse_json_figures_on_the_published_files(run: Callable[..., Result]) -> None:
    names = sorted(EXPECTED)
    result = run("bounces", "parse", "--json", *(str(PUBLISHED / f"{n}.eml") for n in names))
    assert result.exit_code == 0, result.output
    got = {
        Path(item["file"]).stem: [(b["recipient"], b["kind"], b["reason"]) for b in item["bounces"]]
        for item in json.loads(result.output)
    }
    n = len(names)
    found = sum(any(g[0] == EXPECTED[k][0] for g in got[k]) for k in names)
    hard = sum([(g[1] == "hard") for g in got[k]] == [EXPECTED[k][1] == "hard"] for k in names)
    reason = sum(got[k] == [EXPECTED[k]] for k in names)
    print(
        f"\n[published NDRs] recipient found {found}/{n} {found / n:.1%}, hard/not-hard "
        f"{hard}/{n} {hard / n:.1%}, kind and reason {reason}/{n} {reason / n:.1%}"
    )
    assert found == hard == reason == n


# Fourth round of #14: each rule changed with the fixtures, on the file that showed it. Before the
# change each of these was wrong (tests/corpus/README.md gives the first run's figure).


def _one(name: str) -> tuple[str, str, str]:
    (b,) = parse_bounces((PUBLISHED / f"{name}.eml").read_bytes())
    return b.kind, b.reason, b.rule


def test_greeting_refusal_with_a_block_list_is_a_block_not_a_dead_domain() -> None:
    """GMX's multi-line 554 greeting ("No SMTP service", "IP address is block listed") refuses
    the sending host (RFC 5321 3.1): it was read as a domain that accepts no mail, hard, and a
    good address was suppressed. Exim's "an MX or SRV record indicated no SMTP service" (the
    domain's own record) stays notaccept."""
    assert _one("gmx-554-nemesis-block-listed") == ("block", "blocked", "words.blacklisted")
    v = decide("", "", "an MX or SRV record indicated no SMTP service")
    assert (v.kind, v.reason) == ("hard", "notaccept")
    assert decide("", "554", "554 No SMTP service here").kind == "block"


def test_a_mailbox_full_by_count_is_no_throttle() -> None:
    """web.de's "User has too many messages on the server" is the recipient's mailbox, full by
    count: read as our volume (a throttle), it would have paused the whole sending mailbox."""
    assert _one("webde-550-too-many-messages") == ("soft", "mailboxfull", "words.mailbox-full")
    text = "550 User has too many messages on the server."
    assert not is_throttle(550, text) and not is_throttle(452, "452 " + text[4:], "rcpt")
    assert is_throttle(421, "421 4.3.1 You send too many messages.")


def test_storage_exhausted_in_german_and_english_is_mailbox_full() -> None:
    assert _one("webde-550-storage-exhausted")[:2] == ("soft", "mailboxfull")
    assert decide("", "550", "550 Speicherplatz des Kontos ueberschritten").reason == "mailboxfull"


def test_a_closed_account_is_gone() -> None:
    """Lycos' "Recipient address rejected: Account Closed" (listed by German hosts under
    "recipient unknown or no longer exists") was undefined, soft: the dead address stayed."""
    assert _one("lycos-550-account-closed")[:2] == ("hard", "userunknown")


def test_locked_and_inactive_mailboxes_are_suspended_not_unknown() -> None:
    """ "550 5.1.1 Inactive mbox" (Korean portals) was hard by its X.1.1 status: the words say the
    mailbox exists but is not in use. Sina's "user is locked" (邮箱被锁) was undefined."""
    assert _one("kr-550-inactive-mbox")[:2] == ("soft", "suspend")
    assert _one("sina-550-user-locked")[:2] == ("soft", "suspend")
    assert decide("", "550", "550 邮箱被锁").reason == "suspend"


def test_mailbox_unavailable_or_access_denied_is_no_directory_verdict() -> None:
    """Tencent QQ documents "550 Mailbox unavailable or access denied" for a recipient that got
    too much mail in a short time (sending to it is paused): two alternatives are no verdict on
    the address. QQ's "Mailbox not found or access denied" still is."""
    assert _one("qq-550-mailbox-unavailable-or-access-denied")[:2] == ("block", "blocked")
    v = decide("", "550", "550 Mailbox not found or access denied", "RCPT")
    assert (v.kind, v.reason) == ("hard", "userunknown")


def test_sending_ip_and_relay_wordings() -> None:
    """Sina's "black ip", Coremail's "Invalid IP" and "host denies relay" were undefined, soft."""
    assert _one("sina-550-black-ip")[:2] == ("block", "blocked")
    assert _one("coremail-550-invalid-ip")[:2] == ("block", "blocked")
    assert _one("sina-553-host-denies-relay")[:2] == ("block", "norelaying")


def test_no_mail_exchanger_is_notaccept_and_nxdomain_hostunknown() -> None:
    """A domain that exists but publishes no MX accepts no mail (notaccept); one that does not
    exist is hostunknown. Both hard."""
    assert _one("opensmtpd-no-mx-found")[:2] == ("hard", "notaccept")
    v = decide("", "", "Sorry, I couldn't find a mail exchanger or IP address. (#5.4.4)")
    assert (v.kind, v.reason) == ("hard", "notaccept")
    assert decide("", "", "Sorry, I couldn't find any host named x.example. (#5.1.2)").reason == (
        "hostunknown"
    )
    assert _one("qmail-no-host")[:2] == ("hard", "hostunknown")


def test_generic_refusal_at_mail_from_is_the_senders() -> None:
    """ "550 5.7.1 Access denied (in reply to MAIL FROM command)": refused before any recipient was
    named, the sender was judged (rejected); a block list named at MAIL FROM stays blocked."""
    v = decide("5.7.1", "550", "550 5.7.1 Access denied", "MAIL")
    assert (v.kind, v.reason, v.rule) == ("block", "rejected", "stage.mail-from")
    assert _one("outlookcom-s3150-block-list")[:2] == ("block", "blocked")


def test_other_wordings_of_an_unknown_user_are_hard() -> None:
    """Coremail's list of bounce prompts: "local server don't exists that user", "not user of
    this server", "user not known", "recipient does not have an account" were undefined (soft):
    dead addresses left unsuppressed."""
    for name in (
        "coremail-550-dont-exists-that-user",
        "coremail-550-not-user-of-this-server",
        "coremail-550-user-not-known",
        "coremail-550-no-account",
    ):
        assert _one(name)[:2] == ("hard", "userunknown"), name


def test_temporarily_suspended_fake_sender_and_relay_operation() -> None:
    """ "has been temporarily suspended" was a system error (by "temporar"), "Fake sender" and
    "Relay operation rejected" were undefined and a generic block."""
    assert _one("coremail-550-temporarily-suspended")[:2] == ("soft", "suspend")
    assert _one("coremail-550-fake-sender")[:2] == ("block", "rejected")
    assert _one("kr-554-relay-operation-rejected")[:2] == ("block", "norelaying")


def test_a_domain_that_refuses_our_transport_still_takes_mail() -> None:
    """Exchange Online's "5.7.510 Access denied, DOMAIN does not accept email over IPv6" was read
    as a domain that accepts no mail (hard): the address is good, our connection was refused.
    "does not accept mail" alone (a host that takes none) is still notaccept."""
    assert _one("o365-57510-not-over-ipv6")[:2] == ("block", "blocked")
    assert decide("", "550", "550 5.7.1 example.org does not accept mail from your host").kind == (
        "block"
    )
    assert decide("", "550", "550 Host does not accept mail", "RCPT").reason == "notaccept"


# Fifth round of #14: a vendor's own words for an address it does not have decide, whoever relays
# them and whatever the status; the same words without the vendor's mark prove nothing.


@pytest.mark.parametrize(
    ("status", "diagnostic", "vendor"),
    [
        (
            "5.0.0",
            "554 delivery error: dd This user doesn't have a att.net account (x@att.net) [0]",
            "yahoo",
        ),
        (
            "5.0.0",
            "550 Message was not accepted -- invalid mailbox. Local mailbox x@corp.example is unavailable: user not found",
            "mail.ru",
        ),
        ("5.7.1", "550 5.7.1 No such user!", "yandex"),
        (
            "5.0.0",
            "550 User x (x@corp.example) not listed in public Name & Address Book",
            "lotus domino",
        ),
    ],
)
def test_a_vendors_own_unknown_user_words_decide_with_no_stage_and_no_vendor_named(
    status: str, diagnostic: str, vendor: str
) -> None:
    """Relayed with no X.1.x status, no stated stage and no reporting MTA that names the vendor,
    these were read as a filter's mask (block): the dead address was mailed again."""
    v = decide(status, "", diagnostic, "", "mail.relay.example")
    assert (v.reason, v.kind, v.rule) == ("userunknown", "hard", "mta.directory"), v.steps
    assert vendor in v.steps[-1]


def test_the_same_sentence_without_the_vendors_mark_is_still_unconfirmed() -> None:
    """Yahoo's sentence without its "delivery error: dd" (another system's notice, as the
    reference reads it), a bare "No such user": no SMTP stage and no known MTA, a filter's mask."""
    for text in (
        "This user doesn't have a example.com account (x@example.com) [0]",
        "550 x@example.org... No such user",
    ):
        v = decide("5.0.0", "550", text, "", "mailer-daemon@relay.example")
        assert (v.kind, v.rule) == ("block", "stage.unknown"), (text, v.steps)


def test_vendor_domains_and_verizons_gateway_are_directories() -> None:
    """Mail.ru's bk.ru / inbox.ru / list.ru, Yahoo's ymail.com, and Verizon's vtext.com gateway,
    whose own notice says "Error: Invalid user address ... no such user here" (its MMS gateway's
    "No valid recipients" names the RCPT stage and was hard already)."""
    for mta in ("relay.example @bk.ru", "relay.example @ymail.com", "post_master@vtext.com"):
        v = decide("", "550", "550 - Requested action not taken: no such user here", "", mta)
        assert (v.kind, v.rule) == ("hard", "mta.directory"), (mta, v.steps)
    # Verizon's MMS gateway: "Message could not be delivered to mobile. Error: No valid recipients
    # for this MM" (from sysadmin@...vzwpix.com)
    text = "Message could not be delivered to mobile. Error: No valid recipients for this MM"
    v = decide("", "", text, "", "sysadmin@mms.vzwpix.com")
    assert (v.kind, v.reason) == ("hard", "userunknown"), v.steps


def test_imails_notice_gives_the_originals_sender() -> None:
    """IMail writes "Original message follows." then a blank line and the original: the marker
    line was read as the start of the original's header, and its sender was lost."""
    (b,) = parse_bounces((PUBLISHED / "imail-invalid-final-delivery-userid.eml").read_bytes())
    assert (b.original_from, b.original_date) == ("sales@corp.example", "2026-12-02T09:00:00+00:00")


@pytest.mark.parametrize(
    "diagnostic",
    [
        "Usuario kiji (kiji@client.example) no se encuentra en el Directorio de Domino",
        "L'utilisateur kiji (kiji@client.example) non répertorié dans l'annuaire Domino",
        "kiji@client.example は Domino ディレクトリには見つかりません",
        "kiji@client.example ディレクトリのリストにありません",
    ],
)
def test_dominos_localised_directory_words_are_its_verdict(diagnostic: str) -> None:
    """Domino's and Notes' Spanish, French and Japanese releases write "not listed in" their
    directory in their language: no known words before (undefined, soft), the dead address
    stayed."""
    v = decide("5.0.0", "", diagnostic, "", "")
    assert (v.reason, v.kind, v.rule) == ("userunknown", "hard", "mta.directory"), v.steps


# Second read of the fifth round: "not listed in" is an unknown address only where what is not
# listed is the recipient. Said of the sending side (our IP, host, server, relay, the sender) or
# of an allow list, it is a refusal of us: the address is fine and was suppressed (a live RCPT
# reply, or a report that names the RCPT stage, read the weak words as a directory's verdict).
@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ("550 Your IP is not listed in our allow list", "blocked"),
        ("550 5.0.0 Your IP address 192.0.2.1 is not listed in our whitelist", "blocked"),
        ("550 Client host not listed in DNSWL, rejected", "blocked"),
        ("550 Your server is not listed in the approved relays", "blocked"),
        ("550 Relay host not listed in trusted networks", "blocked"),
        ("550 Sender not listed in allowed senders list", "rejected"),
    ],
)
def test_not_listed_said_of_the_sending_side_is_no_unknown_address(reply: str, reason: str) -> None:
    code, text = int(reply[:3]), reply[4:]
    assert classify_smtp_reply(code, text) == "block", reply
    v = decide("", "", reply, "RCPT", "mailer-daemon@relay.example")
    assert (v.kind, v.reason) == ("block", reason), v.steps


def test_domino_and_a_recipient_not_listed_are_still_unknown_addresses() -> None:
    """The guard beside it: what is not listed is the recipient, in Domino's words or in a
    relay's at RCPT."""
    for text in (
        "550 User x (x@corp.example) not listed in Domino Directory",
        "550 Recipient not listed in public Name & Address Book",
        "550 Recipient x@corp.example not listed in the address list",
    ):
        v = decide("", "", text, "RCPT", "mailer-daemon@relay.example")
        assert (v.kind, v.reason) == ("hard", "userunknown"), (text, v.steps)


# A returned copy under a marker line no pattern knows ("----- Message text follows -----",
# "Your message was:") ran on into the recipient's diagnostic: its body's words were read as the
# reply's. A vendor's phrase quoted there (a follow-up quoting a stranger's "No such user!")
# turned docomo's filter refusal, "550 Unknown user", into a directory's verdict, and the
# address was suppressed; the original's sender was lost too.
QUOTED_COPY = """From: MAILER-DAEMON@relay.example
To: sales@corp.example
Subject: Returned mail: see transcript for details
Date: Wed, 02 Dec 2026 10:00:00 +0000

The original message was received at Wed, 2 Dec 2026 09:00:01 +0000

   ----- The following addresses had permanent fatal errors -----
<haruka.sato@docomo.ne.jp>
    (reason: 550 Unknown user haruka.sato@docomo.ne.jp)

{marker}
From: sales@corp.example
To: haruka.sato@docomo.ne.jp
Subject: Re: your old address
Date: Wed, 02 Dec 2026 09:00:00 +0000
Message-ID: <quoted-1@corp.example>

Hello, you wrote that your old mailbox answered "No such user!".
"""


@pytest.mark.parametrize("marker", ["   ----- Message text follows -----", "Your message was:"])
def test_words_quoted_in_the_returned_copy_are_not_the_reply(marker: str) -> None:
    (b,) = parse_bounces(QUOTED_COPY.format(marker=marker).encode())
    assert (b.recipient, b.kind, b.reason) == ("haruka.sato@docomo.ne.jp", "block", "filtered"), (
        b.steps
    )
    assert "no such user!" not in b.diagnostic
    assert (b.original_from, b.original_date) == ("sales@corp.example", "2026-12-02T09:00:00+00:00")


def test_a_notice_that_describes_the_original_first_keeps_its_recipient() -> None:
    """The guard beside it: the original's header quoted before the failed address is the
    notice's description of it, not a returned copy that ends the notice."""
    notice = """From: postmaster@gateway.example
To: sales@corp.example
Subject: Undeliverable: Proposal
Date: Wed, 02 Dec 2026 10:00:00 +0000

Details of your message:
From: sales@corp.example
To: lena.ross@client.example
Subject: Proposal
Date: Wed, 02 Dec 2026 09:00:00 +0000

Delivery failed for the following recipient:
lena.ross@client.example
550 5.1.1 User unknown
"""
    (b,) = parse_bounces(notice.encode())
    assert (b.recipient, b.kind, b.reason) == ("lena.ross@client.example", "hard", "userunknown")


@pytest.mark.parametrize(
    "reply",
    [
        "550 5.1.0 Invalid mailbox in MAIL FROM",
        "553 Invalid address in MAIL FROM: <sales@corp.example>",
        "550 5.1.0 <sales@corp.example>: invalid mailbox in MAIL FROM command",
        "550 User unknown in MAIL FROM",
    ],
)
def test_an_invalid_mailbox_in_mail_from_is_ours(reply: str) -> None:
    """ "Invalid mailbox" said of MAIL FROM names our sender, whatever command the server answers
    it to (a refusal of the sender held until RCPT): never the recipient's address."""
    assert classify_smtp_reply(int(reply[:3]), reply[4:]) == "block", reply
    v = decide("", "", reply, "RCPT", "mailer-daemon@relay.example")
    assert (v.kind, v.reason) == ("block", "rejected"), v.steps


# Guards of the same read (they held before): a vendor's phrase in a message that is no report
# (an auto-reply with or without RFC 3834's header, a person's reply) names nobody's failure.
NOT_REPORTS = {
    "an auto-reply": (
        "Subject: Automatic reply: Proposal\nAuto-Submitted: auto-replied\n\n"
        "I have left the company. My old address now answers 550 5.7.1 No such user!\n"
    ),
    "an out-of-office without its header": (
        "Subject: Out of office: Proposal\n\n"
        'I am away. Mail to kenji.mori@client.example gets "No such user!" since he left.\n'
    ),
    "a person's reply": (
        "Subject: Re: Proposal\n\nThanks. FYI kenji.mori@client.example left; his mailbox says:"
        " 550 Message was not accepted -- invalid mailbox.\n"
    ),
}


@pytest.mark.parametrize("name", sorted(NOT_REPORTS))
def test_a_vendors_phrase_in_what_is_no_report_names_no_failure(name: str) -> None:
    head = (
        "From: Haruka Sato <haruka.sato@client.example>\nTo: sales@corp.example\n"
        "Date: Wed, 02 Dec 2026 10:00:00 +0000\n"
    )
    assert parse_bounces((head + NOT_REPORTS[name]).encode()) == []


def test_a_reports_own_category_decides() -> None:
    """PowerMTA classifies each failure itself (X-PowerMTA-BounceCategory: bad-mailbox): the
    bare "mailbox unavailable" with no stage was a filter's mask (block), the dead address kept."""
    (bounce,) = parse_bounces((PUBLISHED / "powermta-bad-mailbox.eml").read_bytes())
    assert (bounce.kind, bounce.rule) == ("hard", "report.category"), bounce.steps


def test_a_vendor_notice_sentence_is_its_verdict() -> None:
    """Trend Micro's "Unable to deliver message to <addr>" quotes no reply: no words were known
    (undefined, soft). MessageLabs' own "No such user" is its recipient validation's verdict:
    its directory's, not its provider table's, since the reply came from the Remote-MTA behind it
    and a reporter is no receiving provider (tests/test_bounce_providers.py)."""
    (bounce,) = parse_bounces((PUBLISHED / "trendmicro-unable-to-deliver.eml").read_bytes())
    assert (bounce.kind, bounce.rule) == ("hard", "mta.notice"), bounce.steps
    (bounce,) = parse_bounces((PUBLISHED / "messagelabs-no-such-user.eml").read_bytes())
    assert (bounce.kind, bounce.rule) == ("hard", "mta.directory"), bounce.steps


def test_clear_words_outweigh_an_address_status() -> None:
    """Facebook's RCP-P2 carries 5.1.1 but says the recipient's preferences refused the mail
    (the address exists); Yahoo's "dd ADDR is no longer valid" is a disabled account."""
    v = decide(
        "5.1.1",
        "550",
        "550 5.1.1 RCP-P2 The attempted recipient's preferences prevent messages from being delivered.",
        "",
    )
    assert (v.kind, v.reason) == ("block", "filtered"), v.steps
    v = decide("5.0.0", "554", "554 delivery error: dd ned.ulm@yahoo.com is no longer valid.", "")
    assert (v.kind, v.reason) == ("soft", "suspend"), v.steps


def test_exchange_french_notice_is_a_bounce() -> None:
    """Exchange's French release writes "Non_remis_:" (a Q-encoded subject's underscores) and
    "En-têtes de message d'origine :" before the original: read as no bounce at all, before."""
    (bounce,) = parse_bounces((PUBLISHED / "exchange-fr-recip-not-found.eml").read_bytes())
    assert (bounce.kind, bounce.message_id) == ("hard", "<pub-138@corp.example>"), bounce.steps


def test_a_blocklist_hit_says_so_before_a_link_about_spam() -> None:
    """Cloudflare's "found on one or more DNSBLs" names a block list: it was read as spam by
    the "spam" in its help link (".../#spam-and-abusive-traffic/")."""
    text = (
        "554 <192.0.2.1> found on one or more DNSBLs (abusixip). Refer to "
        "https://developers.cloudflare.com/email-routing/postmaster/#spam-and-abusive-traffic/"
    )
    assert decide("5.0.0", "554", text, "RCPT").reason == "blocked"


def test_ezweb_limited_account_and_undelivered_within_a_time() -> None:
    """EZweb's "The user(s) account is temporarily limited." (a suspended subscriber) read as a
    system error by its "temporar"; "Your message was not delivered within 0 days and 1 hours."
    (gave up) as nothing known."""
    v = decide("", "", "The user(s) account is temporarily limited.", "")
    assert v.reason == "suspend", v.steps
    v = decide("", "", "Your message was not delivered within 0 days and 1 hours.", "")
    assert v.reason == "expired", v.steps


# Seventh round of #14: Exchange's NDR, the Chinese providers' replies and the SMTP stage read by
# the content of the notice, not by the name of whoever sent it. Each was wrong before the change.


def test_exchange_ndr_is_known_by_its_content_not_its_senders_name() -> None:
    """Exchange's NDR was Exchange's only where its sender's name said "Microsoft Outlook": the
    same notice from a tenant's postmaster@NAME.onmicrosoft.com, or forwarded by a gateway under
    its own From, read a relayed "no such user" as a filter's mask (block), and the dead address
    was mailed again. Its sentences ("Diagnostic information for administrators", "Remote
    Server returned '...'"), its sender's onmicrosoft.com domain and its X-MS-Exchange header
    name it now."""
    for name in ("o365-onms-no-such-user-relayed", "exchange-gw-mailbox-unavailable-relayed"):
        assert _one(name) == ("hard", "userunknown", "mta.directory"), name
    text = "550 No such user here"
    for sender in ("postmaster@contoso.onmicrosoft.com", "microsoft exchange ndr"):
        assert decide("", "", text, "", f"{sender} @client.example").kind == "hard", sender
    # an unknown relay's bare "no such user", with no stage stated, stays a filter's mask
    assert decide("", "", text, "", "mailer-daemon@gw.example @client.example").kind == "block"


def test_chinese_providers_unknown_address_relayed_by_a_gateway() -> None:
    """Tencent Exmail's "550 Mailbox not found or access denied" and NetEase's "550 User not
    found: <addr>" were known only where the report named the provider (its domain, its
    servers): relayed by a gateway for a customer's own domain they were a filter's mask.
    QQ's "Mailbox unavailable or access denied" (a paused recipient) is no such verdict."""
    for name in ("exmail-relayed-mailbox-not-found-or-denied", "netease-relayed-user-not-found"):
        assert _one(name) == ("hard", "userunknown", "mta.directory"), name
    gw = "mailer-daemon@gw.example @client-cn.example"
    assert decide("5.0.0", "550", "550 Mailbox unavailable or access denied", "", gw).kind != "hard"
    assert decide("5.0.0", "550", "550 User not found", "", gw).kind == "block"


def test_smtp_stage_as_mfilter_and_exim_state_it() -> None:
    """m-FILTER names the command under "-------SMTP command"; Exim names DATA itself ("after
    DATA:"). RCPT there makes "unknown user" the directory's answer (hard); DATA a filter's mask,
    now for the stated reason, not for want of a stage."""
    assert smtp_stage("-------SMTP command RCPT -------original message") == "RCPT"
    assert smtp_stage("-------SMTP command DATA") == "DATA"
    assert smtp_stage("SMTP error from remote mail server after DATA: 550 Unknown user") == "DATA"
    assert smtp_stage("SMTP error from remote mail server after pipelined DATA: 554 no") == "DATA"
    assert smtp_stage("550 Unknown user; data: none") == ""
    assert _one("mfilter-rcpt-unknown-user") == ("hard", "userunknown", "words.user-unknown")
    for name in ("mfilter-data-unknown-user", "exim-after-data-unknown-user"):
        assert _one(name) == ("block", "filtered", "stage.after-data"), name
