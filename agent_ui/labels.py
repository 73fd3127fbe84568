"""Words for the codes the domains use (presence states, ticket categories, statuses, tiers,
SLA and authorisation states, queues), marked for translation; templates read them as
`_(labels.status[ticket.status])`. An unknown code is shown as it is."""

from __future__ import annotations

from collections import defaultdict

from agent_ui.i18n import N_


class _Words(defaultdict[str, str]):
    def __missing__(self, key: str) -> str:
        return key


def _words(**pairs: str) -> _Words:
    words = _Words()
    words.update(pairs)
    return words


presence = _words(
    offline=N_("Offline"), available=N_("Available"), offered=N_("Call offered"), on_call=N_("On a call"),
    wrap_up=N_("Wrap-up"), **{"break": N_("Break")}, away=N_("Away"),
)
category = _words(
    inquiry=N_("Inquiry"), complaint=N_("Complaint"), suggestion=N_("Suggestion"),
    callback_request=N_("Callback request"), other=N_("Other"),
)
priority = _words(low=N_("Low"), normal=N_("Normal"), high=N_("High"), urgent=N_("Urgent"))
status = _words(
    new=N_("New"), open=N_("Open"), waiting_on_customer=N_("Waiting on customer"), escalated=N_("Escalated"),
    resolved=N_("Resolved"), closed=N_("Closed"),
)
tier = _words(normal=N_("Normal"), silver=N_("Silver"), gold=N_("Gold"), platinum=N_("Platinum"),
              diamond=N_("Diamond"))
sla = _words(ok=N_("On time"), at_risk=N_("At risk"), breached=N_("Breached"))
grant = _words(live=N_("Authorised"), scheduled=N_("Not started yet"), expired=N_("Expired"),
               revoked=N_("Revoked"), waiting=N_("Waiting for authorisation"))
queue = _words(
    inquiry=N_("Inquiries"), complaint=N_("Complaints"), membership=N_("Membership"), operator=N_("Operator"),
    mandarin=N_("Mandarin"), english=N_("English"), callback=N_("Callbacks"),
)
level = _words(**{"0": N_("Agent"), "1": N_("Team leader"), "2": N_("Supervisor"), "3": N_("Center head")})
access = _words(ownership=N_("your own customer"), call=N_("the call offered to you"), site=N_("your site"),
                grant=N_("a callback authorisation"))

# Why a roster job failed (scheduling.roster's codes in the job's message).
roster_failure = _words(**{
    "roster.no_templates": N_("There are no shift templates for this site: create the shifts people can work, "
                              "then generate again."),
    "roster.no_agents": N_("Nobody can be rostered: the site has no active agents among the chosen people."),
    "roster.no_solution": N_("No roster can meet the rules (rest, weekly hours, skills, days off) with these "
                             "people; add people or shift templates, or lower the demand."),
    "roster.time_limit": N_("The solver found no roster within its time limit; give it more time or a shorter "
                            "period."),
    "roster.solver_error": N_("The solver stopped with an error; try again, and tell your administrator if it "
                              "happens again."),
})
consent = _words(service=N_("Service calls"), care_sms=N_("Care messages (SMS)"), marketing=N_("Marketing"))
# How a callback attempt ended (the ticket's timeline).
callback = _words(
    queued=N_("queued"), dialling=N_("dialling"), ringing=N_("ringing"), answered=N_("answered"),
    no_answer=N_("no answer"), busy=N_("busy"), voicemail=N_("voicemail answered"), failed=N_("the call failed"),
    agent_missed=N_("the agent did not answer"), refused=N_("refused"), cancelled=N_("cancelled"),
)
job_type = _words(hotline_agent=N_("Hotline agent"))
# Long work in the background (core.jobs): what it is, its state, and why a run failed.
job_kind = _words(purchase_import=N_("Purchase import"), backup=N_("Backup"))
job_status = _words(queued=N_("Queued"), running=N_("In progress"), done=N_("Done"), failed=N_("Failed"))
job_failure = _words(**{
    "job.lost": N_("The work stopped before it finished (its worker was restarted or is not running). Start it "
                   "again, and tell your administrator if it happens again."),
    "job.unexpected": N_("The work stopped with an error. Try again, and tell your administrator if it happens "
                         "again."),
    "import.columns": N_("The file needs the columns customer_id, source_id and amount_cents (and optionally at)."),
    "import.encoding": N_("Save the file as UTF-8 CSV and try again."),
    "import.file_gone": N_("The uploaded file could not be read back from the storage; upload it again."),
    "backup.keys_in_storage": N_("The keys folder is inside the storage folder: move it out (HOTLINE_KEYS_DIR) so "
                                 "that backups never carry the keys."),
    "backup.database": N_("The database could not be copied (pg_dump is missing or failed); the server's log "
                          "says why."),
    "backup.storage": N_("The backup could not be written to the storage: check that the storage can be reached "
                         "and has room."),
    "backup.verify": N_("The backup was made but failed its check: it cannot be relied on. The server's log says "
                        "what was wrong."),
})

ALL = {"presence": presence, "category": category, "priority": priority, "status": status, "tier": tier,
       "sla": sla, "grant": grant, "queue": queue, "level": level, "access": access, "roster_failure": roster_failure,
       "consent": consent, "callback": callback, "job_type": job_type, "job_kind": job_kind,
       "job_status": job_status, "job_failure": job_failure}
