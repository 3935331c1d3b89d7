"""Sending e-mails over SMTP (aiosmtplib), with the SMTP_* settings: the inbox's replies
and the transcripts visitors ask for."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid

import aiosmtplib

from chatserver.settings import Settings


class MailError(Exception):
    """The e-mail was not accepted by the SMTP server (or it could not be reached)."""


def reply_message(
    settings: Settings, *, to: str, to_name: str, text: str, original: str
) -> EmailMessage:
    """The reply: the agent's text, then the visitor's message quoted.  ValueError if the
    address cannot be written in a header."""
    if any(c in to for c in '\r\n<>,"') or "@" not in to:
        raise ValueError(f"not an e-mail address: {to[:64]!r}")
    message = EmailMessage()
    message["From"] = settings.smtp_from
    name = " ".join(to_name.split())  # no line breaks in a header
    message["To"] = formataddr((name, to)) if name else to
    message["Subject"] = settings.inbox_reply_subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=settings.smtp_from.rsplit("@", 1)[-1])
    quoted = "\n".join(f"> {line}" for line in original.splitlines())
    message.set_content(f"{text}\n\n{quoted}\n" if quoted else f"{text}\n")
    return message


def transcript_message(
    settings: Settings, *, to: str, subject: str, text: str, lang: str
) -> EmailMessage:
    """A chat's transcript, plain text (``core/transcript.py`` writes it), marked with its
    language.  ValueError if the address cannot be written in a header."""
    if any(c in to for c in '\r\n<>,"') or "@" not in to:
        raise ValueError(f"not an e-mail address: {to[:64]!r}")
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=settings.smtp_from.rsplit("@", 1)[-1])
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    message["Content-Language"] = lang  # (after set_content, which drops Content-*)
    return message


async def send(settings: Settings, message: EmailMessage) -> None:
    try:
        await aiosmtplib.send(
            message,
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_user or None,
            password=settings.smtp_password or None,
            use_tls=settings.smtp_tls,
            start_tls=False if settings.smtp_tls else settings.smtp_starttls,
            timeout=settings.smtp_timeout_s,
        )
    except (aiosmtplib.SMTPException, OSError, ValueError) as exc:
        raise MailError(f"{type(exc).__name__}: {exc}"[:300]) from None
