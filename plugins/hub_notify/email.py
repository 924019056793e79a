"""``sink = "email"``: tell the owner by e-mail that a lead is theirs (SMTP).

The message goes to the owner's first address in the rules file, with the owner the lead
leaves (a reassignment) in copy. A lead that went to a queue goes to ``queue_to`` when set
(e.g. the team's shared mailbox), else to the manager of the team the queue is named
after; with neither, the delivery ends as ``no_recipient``.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any, Literal

from pydantic import Field

from hub.routing.delivery import NoRecipientError, Sink, SinkSettings
from hub.secrets import SecretRef


class EmailSink(Sink):
    name = "email"
    payloads = frozenset({"full"})  # it writes to the owner about the lead
    needs_owner_emails = True

    class Settings(SinkSettings):
        host: str
        port: int = Field(default=587, ge=1, le=65535)
        security: Literal["starttls", "ssl", "none"] = "starttls"
        username: str | None = None
        password: SecretRef | None = None
        sender: str = Field(pattern=r"@")
        queue_to: str | None = None
        timeout: float = Field(default=30.0, gt=0)
        subject: str = "[crmhub] {verb}: {name}"

    settings: Settings

    def message(self, event: dict[str, Any]) -> EmailMessage | None:
        payload = event.get("payload") or {}
        owner = payload.get("owner") or {}
        contact = payload.get("contact") or {}
        # A point the person opted out of is never written to (an owner who is a contact
        # of the hub as well, a shared mailbox someone unsubscribed).
        refused = {str(a).lower() for a in contact.get("opt_out") or []}
        recipients = [a for a in owner.get("emails") or [] if a.lower() not in refused][:1]
        if not recipients and payload.get("queue"):
            # A lead left in a queue: the address set for queues, else the manager of the
            # team the queue is named after.
            manager = payload.get("queue_manager") or {}
            recipients = [self.settings.queue_to] if self.settings.queue_to else \
                list(manager.get("emails") or [])[:1]
        if not recipients:
            return None
        # The owner a lead leaves hears of it too (copied, one message per event).
        copied = [a for a in list((payload.get("previous") or {}).get("emails") or [])[:1]
                  if a not in recipients and a.lower() not in refused]
        name = contact.get("name") or contact.get("email") or f"contact {payload['contact_id']}"
        verb = "New lead" if event["type"] == "contact.assigned" else "Lead reassigned to you"
        if not owner:
            verb = f"New lead in queue {payload.get('queue')}"
        message = EmailMessage()
        message["From"] = self.settings.sender
        message["To"] = ", ".join(recipients)
        if copied:
            message["Cc"] = ", ".join(copied)
        message["Subject"] = self.settings.subject.format(verb=verb, name=name)
        message["Message-ID"] = make_msgid(idstring=f"crmhub-{event['id']}")
        lines = [f"{verb}: {name}", ""]
        for label, key in (("E-mail", "email"), ("Company", "company"), ("Phone", "phone")):
            if contact.get(key):
                note = " (opted out: do not use)" if str(contact[key]).lower() in refused \
                    else ""
                lines.append(f"{label}: {contact[key]}{note}")
        if payload.get("strategy") == "manual":
            note = f": {payload['note']}" if payload.get("note") else ""
            lines += ["", f"Assigned by {payload.get('by') or 'someone'} by hand{note}"]
        elif payload.get("strategy") == "merge":
            lines += ["", "Merged into a contact that already had an owner"]
        else:
            lines += ["", f"Rule: {payload.get('rule') or 'fallback'} "
                          f"({payload.get('strategy')})"]
        lines.append(f"Why: crmhub assign explain {payload['contact_id']}")
        if payload.get("previous_owner"):
            why = "" if payload.get("strategy") == "manual" else f" ({payload.get('reason')})"
            lines.append(f"Previously: {payload['previous_owner']}{why}")
        message.set_content("\n".join(lines) + "\n")
        return message

    def send(self, event: dict[str, Any]) -> None:
        message = self.message(event)
        if message is None:
            payload = event.get("payload") or {}
            owner = (payload.get("owner") or {}).get("id")
            raise NoRecipientError(f"owner {owner} has no e-mail address" if owner else
                                   f"queue {payload.get('queue')} has no queue_to address")
        settings = self.settings
        if settings.security == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(settings.host, settings.port,
                                                  timeout=settings.timeout,
                                                  context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        with smtp:
            if settings.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if settings.username and settings.password is not None:
                smtp.login(settings.username, self.context.resolve_secret(settings.password))
            smtp.send_message(message)
