"""What in a command line (the notify command) may be a secret, found and masked.

A notify command is stored in the ledger (every reader of a shared ledger sees it), shown by
``notify show`` and ``config show``, and run as a process whose argv every user of the machine
can read: a token in it (``--token X``, ``--password=X``, ``API_KEY=X``, ``curl -u user:X``,
``curl -E cert.pem:X``, a URL's ``?key=X`` or token-like path, an ``Authorization:`` header,
mysql's ``-pX``, openssl's ``-pass pass:X``; curl's values glued to its short options read as
curl reads them) is a secret in all three
places (DESIGN.md, invariant 6). :func:`secret_in` says what looks like one, never quoting it, so that ``notify
set`` refuses it; :func:`masked_command` shows a command with each such value as ``***``.

Heuristic by design: an option, variable or query parameter *named* like a secret, a URL with a
password or a token-like part (as :func:`warmup.notify.unquoted` judges a webhook's), a header
that carries credentials. A name ending in ``-file``, ``-path``, ``-env``, ``-cmd`` and the like
names where the secret is, which is the way to give one, and is never refused; so do openssl's
``-pass env:VAR``, ``file:PATH``, ``fd:N`` and ``stdin``.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Mapping
from urllib.parse import parse_qsl, urlsplit

from warmup.config import mask

# fmt: off
# Parts of an option's or a variable's name (split at - _ .) that say its value is a secret
_SECRET_PARTS = frozenset({
    "token", "secret", "password", "passwd", "pwd", "pass", "passphrase", "apikey", "credential",
    "credentials", "bearer", "auth", "authorization", "signature", "sig", "cookie", "session",
})
# ...and "key" when it is one: --api-key, ACCESS_KEY, --key (a file for curl: _a_key_file)
_KEY_PARTS = frozenset({"api", "access", "app", "secret", "private", "client", "key"})
# A last part that names where the secret is, or something about it, never the secret
_REFERENCE_PARTS = frozenset({
    "file", "path", "dir", "env", "var", "cmd", "command", "fd", "helper", "type", "method",
    "mode", "id", "name", "user", "length", "url",
    # ...or a setting beside it: curl's --cookie-jar FILE, --session-timeout 30, --auth-scheme
    "jar", "timeout", "ttl", "expiry", "lifetime", "scheme", "realm", "scope", "host", "port",
    "server", "endpoint", "format", "header", "prefix", "cache", "store", "retries",
})
# fmt: on
_OPTION = re.compile(r"(-{1,2})([A-Za-z][\w.-]*)(?:=(.*))?", re.DOTALL)
_ASSIGNMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)", re.DOTALL)
# A scheme of at most 64 characters: unbounded, each start in a long word scanned the rest of
# it, and a 20 KB command took 10 s of CPU to check
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,63}://[^\s'\"<>]+")
# A header that carries credentials, as curl -H or wget --header is given one
_HEADER = re.compile(
    r"\s*((?:proxy-)?authorization|cookie|x-[\w-]*(?:token|key|secret|auth)[\w-]*)\s*:\s*(\S.*)",
    re.IGNORECASE | re.DOTALL,
)
_BEARER = re.compile(r"\b(bearer|basic|token)\s+([A-Za-z0-9\-._~+/]{8,}=*)", re.IGNORECASE)
# A piece of a URL that may be its token: 8 characters with a digit, or 16 (notify's rule)
_TOKEN_LIKE = re.compile(r"(?=[^\d]*\d).{8,}|.{16,}", re.DOTALL)
# Another variable's value, as a shell passes it on: TOKEN="$PAGE_TOKEN" page puts it in the
# program's environment, the way to give one, never in the ledger or an argv
_VARIABLE = re.compile(r"\$(?:[A-Za-z_]\w*|\{[A-Za-z_]\w*\})")
# Options that take USER:PASSWORD (curl's -u/--user, -U/--proxy-user; wget has --password)
_LOGIN_OPTIONS = frozenset({"u", "user", "U", "proxy-user"})
# Programs whose -u/-U/--user is no login: USER[:GROUP] to run as (docker, podman and kin,
# runit's chpst, start-stop-daemon), a user to list (ps, pgrep, top, crontab), or a flag whose
# next word is a file (sort -u, uniq -u, cp -u, diff -u). Their first such option only: the
# rest of the line may be a program's own (docker exec -u app:app c curl -u ops:SECRET ...).
_USER_NOT_LOGIN = frozenset(
    {
        "docker",
        "podman",
        "nerdctl",
        "buildah",
        "chpst",
        "start-stop-daemon",
        "runuser",
        "crontab",
        "ps",
        "pgrep",
        "pkill",
        "top",
        "htop",
        "sort",
        "uniq",
        "cp",
        "mv",
        "ls",
        "diff",
        "patch",
        "rsync",
        "date",
    }
)
# A shell's -c (sh -c, bash -lc, sh -ec): the word after it is a script
_SHELL_C = re.compile(r"-[A-Za-z]*c")
# A number, a date or a time in a URL (?chat_id=-1001234567890, /2026-12-01, ?at=09:30:00):
# no token, which has letters in it
_NUMBER = re.compile(r"[-+]?\d+(?:[-.:]\d+)*")
# openssl's pass phrase options: their value names a source, pass:X the only one that is the
# pass phrase itself (env:VAR, file:PATH, fd:N, stdin say where it is: the way to give one)
_PASS_OPTIONS = frozenset({"pass", "passin", "passout"})
_PASS_SOURCE = re.compile(r"(?:env|file|fd):.+|stdin", re.DOTALL)
# MySQL's and MariaDB's clients take the password glued to -p (mysql -pSECRET; -p alone asks);
# sshpass takes it glued or as the next word (sshpass -p SECRET ssh ...)
_MYSQL = re.compile(r"(?:mysql|mariadb)[\w-]*|sshpass")
# curl's short options bundled before its -u or -U (curl -fsSu ops:SECRET): the next word is
# USER:PASSWORD
_CURL_BUNDLE = re.compile(r"-[A-Za-z]+[uU]")
# ...and any value glued to the short option that takes one, after flags that take none, as
# curl reads a word (curl -uops:SECRET, -fsSuops:SECRET, -fsSHX-Api-Key:SECRET, -dtoken=SECRET,
# -Ecert.pem:SECRET; -HUser-Agent:x is a header, not -U): the flag and the value
_CURL_GLUED = re.compile(
    r"(-[0-9afgGiIjJklLMnNOpqRsSvVZ#]*[AbcCdDeEFHKmoPQrtTuUwxXyYz])(.+)", re.DOTALL
)
# curl's options whose value is CERTIFICATE[:PASSWORD] (a PKCS#11 URI has colons of its own)
_CURL_CERTS = frozenset({"E", "cert", "proxy-cert"})
# Words that end one command of a shell line, and words that run the next word as the command
_SEPARATORS = frozenset({"|", "||", "&&", ";", "&", "("})
_RUNNERS = frozenset({"env", "sudo", "exec", "command", "nohup", "nice", "time"})
_DEPTH = 3  # sh -c '... sh -c "..."': words inside words, this deep
# shown unquoted: --token=*** rather than '--token=***', a shell's | and > as they were
_PLAIN = re.compile(r"[\w@%+=:,./*~-]+|[|&;<>]+")


def _joined(words: list[str]) -> str:
    """``words`` as a shell line, for the eye (``***`` unquoted): not to be run."""
    return " ".join(w if _PLAIN.fullmatch(w) else shlex.quote(w) for w in words)


def _secret_name(name: str) -> bool:
    """Whether an option or variable called ``name`` holds a secret (not where one is)."""
    parts = [p for p in re.split(r"[-_.]+", name.lower()) if p]
    if not parts or parts[-1] in _REFERENCE_PARTS or parts[0] == "no":  # --no-auth: a switch
        return False
    if any(p in _SECRET_PARTS for p in parts) or parts[-1].endswith(("password", "passwd")):
        return True  # the latter: a name run together, PGPASSWORD, DBPASSWORD
    return "key" in parts and (len(parts) == 1 or any(p in _KEY_PARTS for p in parts[:-1]))


def _a_key_file(value: str) -> bool:
    """``--key client.pem``, ``--key ~/.ssh/id``: a file named, as curl's and openssl's --key
    take, not a key: a path, a file name with an extension, or too short to be a key."""
    return (
        "/" in value
        or value.startswith(("~", "@"))
        or bool(re.search(r"\.[A-Za-z]\w{0,4}$", value))
        or not _TOKEN_LIKE.fullmatch(value)
    )


def _url_secret(url: str) -> bool:
    """Whether ``url`` carries what may be a token: a password, a query parameter named like a
    secret, or a path or query piece that looks like a key."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return True  # unreadable: it may hold anything
    if password:
        return True
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if any(_secret_name(k) or k.lower() in ("k", "key") for k, _ in pairs):
        return True
    pieces = [p for p in parts.path.split("/") if p] + [v for _, v in pairs] + [parts.fragment]
    return any(_TOKEN_LIKE.fullmatch(p) and not _NUMBER.fullmatch(p) for p in pieces if p)


def _scan(words: list[str], found: Callable[[int, str, str], str], depth: int = 0) -> list[str]:
    """``words`` with each secret value handed to ``found(index, what, value)``, which returns
    what replaces it (the value, or ``***``)."""
    out = list(words)
    i = 0
    while i < len(out):
        word = out[i]
        if i and _SHELL_C.fullmatch(out[i - 1]) and any(c.isspace() for c in word):
            # sh -c 'TOKEN=x page --team mail': a script, its words scanned, not one
            # assignment whose value would be the whole rest (shown as "sh -c TOKEN=***")
            out[i] = _scan_word(word, i, found, depth)
            i += 1
            continue
        option = _OPTION.fullmatch(word)
        assignment = _ASSIGNMENT.fullmatch(word) if not option else None
        if word.startswith("-p") and len(word) > 2 and _MYSQL.fullmatch(_program(out, i)):
            out[i] = f"-p{found(i, 'the password glued to -p', word[2:])}"
        elif word == "-p" and i + 1 < len(out) and _program(out, i) == "sshpass":
            out[i + 1] = found(i + 1, "the password after -p", out[i + 1])
            i += 1
        elif (
            not word.startswith("--")
            and (curl_glued := _CURL_GLUED.fullmatch(word))
            and _program(out, i) == "curl"
        ):
            flag, value = curl_glued.groups()
            out[i] = flag + _curl_value_away(flag, value, i, found, depth)
        elif option and option[1] == "-" and option[2].lower() in _PASS_OPTIONS:
            glued = option[3] is not None
            at = i if glued else i + 1
            value = option[3] if glued else (out[at] if at < len(out) else "")
            if value and not _PASS_SOURCE.fullmatch(value):
                flag = "-" + option[2]
                kind, colon, phrase = value.partition(":")
                said = (
                    f"pass:{found(at, f'the pass phrase in {flag} pass:', phrase)}"
                    if colon and kind == "pass"
                    else found(at, f"the value of {flag}", value)
                )
                out[at] = f"{flag}={said}" if glued else said
            i = at
        elif option and _secret_name(option[2]):
            flag = option[1] + option[2]
            if option[3] is not None:
                if option[3] and not (option[2].lower() == "key" and _a_key_file(option[3])):
                    out[i] = f"{flag}={found(i, f'the value of {flag}', option[3])}"
            elif i + 1 < len(out) and not out[i + 1].startswith("-"):
                value = out[i + 1]
                if not (option[2].lower() == "key" and _a_key_file(value)):
                    out[i + 1] = found(i + 1, f"the value of {flag}", value)
                i += 1
        elif option and (
            (option[2] in _LOGIN_OPTIONS and not _user_not_login(out, i))
            or (_CURL_BUNDLE.fullmatch(word) and _program(out, i) == "curl")
        ):
            # curl -u ops:PASSWORD (--user, --proxy-user, -U): the password after the colon
            flag = option[1] + option[2]
            glued = option[3] is not None
            at = i if glued else i + 1
            value = option[3] if glued else (out[at] if at < len(out) else "")
            user, colon, password = (value or "").partition(":")
            if (
                colon
                and password
                and not (user.isdigit() and password.isdigit())  # docker's -u uid:gid
                and not _URL.match(value or "")  # sort -u https://...: a URL, scanned as one
            ):
                said = f"{user}:{found(at, f'the password in {flag}', password)}"
                out[at] = f"{flag}={said}" if glued else said
                i = at  # else the next word is scanned as any other (sort -u URL)
        elif (
            option
            and option[2] in _CURL_CERTS
            and _program(out, i) == "curl"
            and (at := i if option[3] is not None else i + 1) < len(out)
        ):
            # curl -E client.pem:PASSWORD, --cert=client.pem:PASSWORD: the key's pass phrase
            flag = option[1] + option[2]
            out[at] = _cert_password_away(option[3] or out[at], at, flag, found)
            if option[3] is not None:
                out[at] = f"{flag}={out[at]}"
            i = at
        elif (
            assignment
            and _secret_name(assignment[1])
            and assignment[2]
            and not _VARIABLE.fullmatch(assignment[2])
        ):
            name = assignment[1]
            out[i] = f"{name}={found(i, f'the value of {name}=', assignment[2])}"
        else:
            out[i] = _scan_word(word, i, found, depth)
        i += 1
    return out


def _cert_password_away(
    value: str, i: int, flag: str, found: Callable[[int, str, str], str]
) -> str:
    """curl's CERTIFICATE[:PASSWORD] with the password handed to ``found`` (a colon escaped
    with a backslash is the file name's own; a PKCS#11 URI is left as it is)."""
    if value.startswith("pkcs11:"):
        return value
    parts = re.split(r"(?<!\\):", value, maxsplit=1)
    if len(parts) < 2 or not parts[1]:
        return value
    return f"{parts[0]}:{found(i, f'the password in {flag}', parts[1])}"


def _curl_value_away(
    flag: str, value: str, i: int, found: Callable[[int, str, str], str], depth: int
) -> str:
    """The ``value`` glued to curl's short option ``flag`` (``-fsSu``, ``-H``, ``-d``) with its
    secret handed to ``found``: read as the word it would be after the option alone."""
    letter = flag[-1]
    if letter in "uU":
        user, colon, password = value.partition(":")
        if colon and password:
            return f"{user}:{found(i, f'the password glued to {flag}', password)}"
        return value
    if letter == "E":
        return _cert_password_away(value, i, flag, found)
    return _scan([value], lambda _i, what, v: found(i, what, v), depth + 1)[0]


def _user_not_login(words: list[str], i: int) -> bool:
    """Whether the -u/-U/--user option ``words[i]`` is the first of its command's and its
    program one of :data:`_USER_NOT_LOGIN` (``docker exec -u app:staff``, ``sort -u a:b``):
    refused as "a password in -u", such a command could not be set at all."""
    if _program(words, i) not in _USER_NOT_LOGIN:
        return False
    start = i
    while start and words[start - 1] not in _SEPARATORS:
        start -= 1
    for word in words[start:i]:
        option = _OPTION.fullmatch(word)
        if option and option[2] in _LOGIN_OPTIONS:
            return False
    return True


def _program(words: list[str], i: int) -> str:
    """The name of the program whose argument ``words[i]`` is (``mysql`` for ``sudo
    /usr/bin/mysql -u root -pX``): the first word of its command that is no assignment and no
    command runner, without its folder."""
    start = i
    while start and words[start - 1] not in _SEPARATORS:
        start -= 1
    for word in words[start:i]:
        name = word.rsplit("/", 1)[-1]
        if not (_ASSIGNMENT.fullmatch(word) or word.startswith("-") or name in _RUNNERS):
            return name
    return ""


# Any header as curl -H is given one: judged by its name as an option's is (PRIVATE-TOKEN,
# Api-Key; never Content-Type or X-Request-Id)
_ANY_HEADER = re.compile(r"\s*([A-Za-z][\w-]*)\s*:\s*(\S.*)", re.DOTALL)


def _named_header(word: str) -> re.Match[str] | None:
    """``word`` as a header whose name says its value is a secret, else None."""
    header = _ANY_HEADER.fullmatch(word)
    return header if header and _secret_name(header[1]) else None


# A request's body as curl -d/-F is given one: form pairs (a=1&token=X), JSON ("token": "X")
_FORM = re.compile(r"[\w.-]+=[^&\s]*(?:&[\w.-]+=[^&\s]*)+")
_FORM_PAIR = re.compile(r"(?<![^&])([\w.-]+)=([^&]*)")
_JSON_PAIR = re.compile(r'"([\w.-]+)"\s*:\s*"((?:[^"\\]|\\.)+)"')


def _body_secrets_away(word: str, i: int, found: Callable[[int, str, str], str]) -> str:
    """``word`` with each value of a form pair or JSON member named like a secret handed to
    ``found`` (``chat_id=1&token=X``, ``{"token": "X"}``)."""

    def pair(m: re.Match[str]) -> str:
        if not _secret_name(m[1]) or _VARIABLE.fullmatch(m[2]):
            return m[0]
        return f"{m[1]}={found(i, f'the value of {m[1]}=', m[2])}" if m[2] else m[0]

    def member(m: re.Match[str]) -> str:
        if not _secret_name(m[1]):
            return m[0]
        head = m[0][: m.start(2) - m.start(0)]
        return f'{head}{found(i, f"the value of {m[1]!r} in JSON", m[2])}"'

    if _FORM.fullmatch(word):
        word = _FORM_PAIR.sub(pair, word)
    return _JSON_PAIR.sub(member, word) if '"' in word else word


def _scan_word(word: str, i: int, found: Callable[[int, str, str], str], depth: int) -> str:
    """One word that is no option or assignment: a header, URLs in it, words inside it."""
    header = _HEADER.fullmatch(word) or _named_header(word)
    if header:
        an = header[1][0] in "aeiouAEIOU" or header[1][:2] in ("X-", "x-")  # an X-Api-Key
        article = "an" if an else "a"  # a Cookie, an Authorization
        return f"{header[1]}: {found(i, f'{article} {header[1]} header', header[2])}"
    word = _body_secrets_away(word, i, found)
    bearer = _BEARER.search(word)
    if bearer:
        return _BEARER.sub(lambda m: f"{m[1]} {found(i, f'a {m[1]} credential', m[2])}", word)
    if _URL.search(word):

        def url(m: re.Match[str]) -> str:
            if not _url_secret(m[0]):
                return m[0]
            kept = found(i, f"a token in the URL {mask(m[0])}", m[0]) == m[0]
            return m[0] if kept else mask(m[0])

        word = _URL.sub(url, word)
    if depth < _DEPTH and any(c.isspace() for c in word):
        try:
            inner = shlex.split(word)
        except ValueError:  # not shell words (a script's code): as it is
            return word
        scanned = _scan(inner, found, depth + 1)
        if scanned != inner:
            return _joined(scanned)
    return word


def secret_in(command: str) -> str | None:
    """What in ``command`` looks like a secret (``the value of --token``, ``a token in the URL
    https://hooks.example.com/...``), never quoting it; None if nothing does."""
    try:
        words = shlex.split(command)
    except ValueError:
        return None  # refused for that by itself
    seen: list[str] = []

    def found(_: int, what: str, value: str) -> str:
        seen.append(what)
        return value

    _scan(words, found)
    return seen[0] if seen else None


def literal_secret_in(script: str) -> str | None:
    """:func:`secret_in` for a shell script (a password command, which runs through ``sh
    -c``): what looks like a secret written into it, never one it takes from a variable
    (``-H "X-Vault-Token: $VAULT_TOKEN"``: the shell's argv holds the name, not the value)."""
    try:
        words = shlex.split(script)
    except ValueError:
        return None
    seen: list[str] = []

    def found(_: int, what: str, value: str) -> str:
        if "$" not in value and "`" not in value:
            seen.append(what)
        return value

    _scan(words, found)
    return seen[0] if seen else None


def secret_values(command: str) -> list[str]:
    """The values :func:`secret_in` finds in ``command`` (of a URL: the URL, its password and
    each piece :func:`warmup.config.mask` would hide), longest first: what to take out of what
    the command itself says, a program that quotes its argv in an error ("unknown option
    --token=X", "usage: page -u ops:X ...")."""
    try:
        words = shlex.split(command)
    except ValueError:
        return []
    values: set[str] = set()

    def found(_: int, _what: str, value: str) -> str:
        values.add(value)
        if _URL.fullmatch(value):
            try:
                parts = urlsplit(value)
                values.add(parts.password or "")
            except ValueError:
                return "***"
            pieces = [p for p in parts.path.split("/") if p] + [parts.fragment]
            pieces += [v for _, v in parse_qsl(parts.query, keep_blank_values=True)]
            values.update(p for p in pieces if _TOKEN_LIKE.fullmatch(p))
        return "***"

    _scan(words, found)
    values.discard("")
    return sorted(values, key=len, reverse=True)


def masked_command(command: str) -> str:
    """``command`` as it may be printed: each value :func:`secret_in` finds as ``***`` (the
    command as it is when there is none; re-quoted as a shell would when there is)."""
    try:
        words = shlex.split(command)
    except ValueError:
        return "(a command that cannot be split into words)"
    masked = _scan(words, lambda _i, _what, _value: "***")
    if masked == words:
        return command
    return _joined(masked)


# What a program says of credentials in its error line (a notify command's, logged): a header
# that carries them, to the end of the line ("> Authorization: Bearer X", "Cookie: a=X");
# a scheme's credential ("Bearer X", "Basic X"); a value named like a secret ("token=X",
# '"api_key": "X"', "password: X"; after a colon only one that looks like a token: "password:
# wrong" is a reason, not a secret)
# (a whole word, possessive: a long run of "x-x-x-" is scanned once, not once per "x-")
_SAID_HEADER = re.compile(r"(?<![\w-])([A-Za-z][\w-]*+)\s*:\s*(?=\S)")
_CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
_X_HEADER = re.compile(r"x-[\w-]*(?:token|key|secret|auth)[\w-]*", re.IGNORECASE)
_SAID_SCHEME = re.compile(r"\b(bearer|basic)(\s+)([A-Za-z0-9\-._~+/]{8,}=*)", re.IGNORECASE)
# A whole word (never from inside one; possessive: a 64 KiB word without a separator is
# scanned once, not once per letter), its dashes kept: --password=X
_SAID_NAME = re.compile(r"""(?<![\w.-])(["']?)(-{0,2}[A-Za-z][\w.-]*+)\1(\s*[=:]\s*)""")
_SAID_VALUE = re.compile(r"""\"(?:[^"\\]|\\.)*\"|'[^']*'|[^\s"'&,;)\]}]+""")
_SAID_LEAST = 6  # an environment variable's value shorter than this is masked by no one


def said_masked(text: str, command: str = "", env: Mapping[str, str] | None = None) -> str:
    """``text`` (what a command warmup started said about itself: the last line of a failing
    notify command's standard error, which is logged) with what looks like a credential as
    ``***``: each value :func:`secret_values` finds in ``command`` (a program quoting its own
    argv) and each value of ``env`` (the command's environment) whose name says it is a secret
    (``PAGE_TOKEN``, ``PGPASSWORD``; :data:`_SAID_LEAST` characters or more) or which is a URL
    with a password, as it is and percent-encoded; then a URL's password or token-like parts
    (the URL as :func:`warmup.config.mask` shows it), an ``Authorization:``, ``Cookie:`` or
    ``X-...-Token:`` header's value, a ``Bearer``/``Basic`` credential, and a value named like
    a secret (``token=X``, ``"api_key": "X"``, ``password: X`` when X looks like a token).

    Heuristic, as :func:`secret_in`: a program may print a secret under no name at all.
    """
    from urllib.parse import quote

    values = set(secret_values(command)) if command else set()
    for name, value in (env or {}).items():
        if _secret_name(name) and len(value) >= _SAID_LEAST:
            values.add(value)
        if "://" in value:
            for url in _URL.findall(value):
                try:
                    values.add(urlsplit(url).password or "")
                except ValueError:
                    continue
    values.discard("")
    for value in sorted(values, key=len, reverse=True):
        text = text.replace(value, "***").replace(quote(value, safe=""), "***")
    for m in _SAID_HEADER.finditer(text):  # the header's value: the rest of the line
        if m[1].lower() in _CREDENTIAL_HEADERS or _X_HEADER.fullmatch(m[1]):
            text = text[: m.end()] + "***"
            break
    text = _SAID_SCHEME.sub(lambda m: f"{m[1]}{m[2]}***" if _credential(m[3]) else m[0], text)
    text = _URL.sub(lambda m: mask(m[0]) if _url_secret(m[0]) else m[0], text)
    return _pairs_away(text)


def _credential(word: str) -> bool:
    """Whether ``word``, after ``Bearer`` or ``Basic``, is a credential (a digit, a sign or
    both cases in it), not a word ("Basic authentication required")."""
    return any(c.isdigit() or c in "-._~+/=" for c in word) or (
        any(c.isupper() for c in word[1:]) and any(c.islower() for c in word)
    )


def _pairs_away(text: str) -> str:
    """``text`` with each value named like a secret (:data:`_SAID_NAME`) as ``***``."""
    out: list[str] = []
    at = 0
    for m in _SAID_NAME.finditer(text):
        if m.start() < at:
            continue  # inside a value already masked
        quote_, name, sep = m.groups()
        if not _secret_name(name):
            continue
        value = _SAID_VALUE.match(text, m.end())
        if value is None:
            continue
        said = value[0]
        bare = said[1:-1] if said[:1] in "\"'" else said
        if (
            not bare
            or bare == "***"
            or _VARIABLE.fullmatch(bare)
            or (name.lower() == "key" and _a_key_file(bare))
            # "password: wrong": a reason; '"password": "x"' (JSON) is no sentence
            or ("=" not in sep and not quote_ and not _TOKEN_LIKE.fullmatch(bare))
        ):
            continue
        masked = f"{said[0]}***{said[0]}" if bare != said else "***"
        out += [text[at : m.start()], f"{quote_}{name}{quote_}{sep}{masked}"]
        at = value.end()
    return "".join(out) + text[at:]
