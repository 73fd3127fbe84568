"""Words for the codes the domains use (presence states, ticket categories, statuses, tiers,
SLA and authorisation states, queues), marked for translation; templates read them as
`_(labels.status[ticket.status])`. An unknown code is shown as it is."""

from __future__ import annotations

from collections import defaultdict

from agent_ui import i18n
from agent_ui.i18n import N_
from tickets.tagging import tag_key


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
grant_request = _words(pending=N_("Waiting for an answer"), expired=N_("Lapsed"), granted=N_("Granted"),
                      declined=N_("Declined"), withdrawn=N_("Withdrawn"))
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

# What an audit trail entry records (core.audit's action codes). A code the hub writes later and
# nobody worded yet is named by what it concerns, never shown as it is.
class _Actions(_Words):
    def __missing__(self, key: str) -> str:
        return audit_area.get(key.split(".", 1)[0], N_("Other action"))


audit_area = {
    "auth": N_("Sign-in (other)"), "user": N_("Account change (other)"), "api_token": N_("API token (other)"),
    "customer": N_("Customer (other)"), "customers": N_("Customers (other)"), "call": N_("Call control (other)"),
    "callback": N_("Callback (other)"), "grant": N_("Callback authorisation (other)"),
    "grant_request": N_("Authorisation request (other)"),
    "care": N_("Customer care (other)"), "qa": N_("Quality (other)"), "leave": N_("Leave (other)"),
    "shift": N_("Shift (other)"), "roster": N_("Roster (other)"), "site": N_("Site (other)"),
    "recording": N_("Recording (other)"), "report": N_("Report (other)"), "audit": N_("Audit trail (other)"),
}
audit_action = _Actions()
audit_action.update({
    "audit.viewed": N_("Audit trail read"),
    "auth.signin": N_("Signed in"), "auth.signin_failed": N_("Sign-in failed"), "auth.signout": N_("Signed out"),
    "auth.locked": N_("Account locked"), "auth.throttle_released": N_("Sign-in hold released"),
    "api_token.created": N_("API token created"), "api_token.revoked": N_("API token revoked"),
    "user.created": N_("Account created"), "user.activated": N_("Account reactivated"),
    "user.deactivated": N_("Account deactivated"), "user.moved": N_("Site or team changed"),
    "user.password_changed": N_("Password changed"), "user.role_changed": N_("Role changed"),
    "user.skill_set": N_("Skill given"), "user.skill_removed": N_("Skill removed"),
    "user.unlocked": N_("Account unlocked"),
    "customer.viewed": N_("Customer details viewed"), "customer.view_refused": N_("Customer details refused"),
    "customer.history_viewed": N_("Customer change history viewed"), "customer.created": N_("Customer created"),
    "customer.changed": N_("Customer changed"), "customer.erased": N_("Customer erased"),
    "customer.erasure_requested": N_("Erasure requested"), "customer.erasure_held": N_("Erasure held back"),
    "customer.erasure_cancelled": N_("Erasure cancelled"), "customer.points_adjusted": N_("Points adjusted"),
    "customer.purchase_recorded": N_("Purchase recorded"), "customer.purchases_imported": N_("Purchases imported"),
    "customer.tier_changed": N_("Tier changed"), "customers.imported": N_("Customers imported"),
    "grant": N_("Callback authorisation granted"), "grant.created": N_("Callback authorisation granted"),
    "extend": N_("Callback authorisation extended"), "grant.extended": N_("Callback authorisation extended"),
    "revoke": N_("Callback authorisation revoked"), "grant.revoked": N_("Callback authorisation revoked"),
    "grant.used": N_("Callback authorisation used"), "grant.expired": N_("Callback authorisation expired"),
    "grant.refused": N_("Callback authorisation refused"),
    "grant_request.created": N_("Callback authorisation asked for"),
    "grant_request.granted": N_("Authorisation request granted"),
    "grant_request.declined": N_("Authorisation request declined"),
    "grant_request.withdrawn": N_("Authorisation request withdrawn"),
    "grant_request.refused": N_("Authorisation request refused"),
    "callback.requested": N_("Callback requested"), "callback.dialled": N_("Callback dialled"),
    "callback.refused": N_("Callback refused"), "callback.changed": N_("Callback changed"),
    "recording.listened": N_("Recording listened to"), "recording.listen_refused": N_("Recording refused"),
    "call.hold": N_("Call put on hold"), "call.resume": N_("Call taken off hold"),
    "call.hold_ended": N_("Hold ended"), "call.recording_paused": N_("Recording paused"),
    "call.recording_resumed": N_("Recording resumed"), "call.recording_pause_ended": N_("Recording pause ended"),
    "call.transfer_started": N_("Transfer started"), "call.transfer_answered": N_("Transfer answered"),
    "call.transfer_not_joined": N_("Transfer not joined"), "call.transfer_unanswered": N_("Transfer unanswered"),
    "call.transfer_failed": N_("Transfer failed"), "call.transfer_cancelled": N_("Transfer cancelled"),
    "call.transferred": N_("Call transferred"), "call.transfer_ended": N_("Transfer ended"),
    "call.escalated": N_("Call escalated"), "call.escalate_ended": N_("Escalation ended"),
    "call.listen": N_("Call listened in on"), "call.whisper": N_("Whisper to the agent"),
    "call.barge": N_("Joined the call"), "call.listen_ended": N_("Listening ended"),
    "call.whisper_ended": N_("Whisper ended"), "call.barge_ended": N_("Joining ended"),
    "care.followup_done": N_("Follow-up done"), "care.greeting_day_added": N_("Greeting day added"),
    "care.greeting_day_removed": N_("Greeting day removed"),
    "day_off.requested": N_("Day off requested"), "day_off.withdrawn": N_("Day off withdrawn"),
    "leave.requested": N_("Leave requested"), "leave.approved": N_("Leave approved"),
    "leave.refused": N_("Leave refused"), "leave.absence": N_("Absence recorded"),
    "leave.certificate_received": N_("Leave certificate received"),
    "handover.accepted": N_("Handover accepted"), "notice.withdrawn": N_("Notice withdrawn"),
    "holiday.added": N_("Holiday added"), "holiday.removed": N_("Holiday removed"),
    "ivr.settings_changed": N_("IVR settings changed"),
    "qa.calibration.created": N_("Calibration session created"), "qa.dispute.assigned": N_("Dispute assigned"),
    "qa.dispute.opened": N_("Dispute opened"), "qa.dispute.upheld": N_("Dispute decided: score upheld"),
    "qa.dispute.revised": N_("Dispute decided: score revised"),
    "qa.evaluation.submitted": N_("Evaluation submitted"), "qa.minimum.set": N_("QA minimum set"),
    "qa.report.exported": N_("QA report exported"), "qa.sampling.built": N_("QA sample drawn"),
    "qa.scorecard.versioned": N_("Scorecard changed"),
    "report.calls.exported": N_("Call report exported"), "report.customers.exported": N_("Customer report exported"),
    "roster.generated": N_("Roster generated"), "shift.assigned": N_("Shift assigned"),
    "shift.unassigned": N_("Shift unassigned"), "shift_template.activated": N_("Shift template activated"),
    "shift_template.updated": N_("Shift template changed"), "swap.registered": N_("Shift swap registered"),
    "swap.requested": N_("Shift swap requested"),
    "site.created": N_("Site created"), "site.opening_hours_changed": N_("Opening hours changed"),
    "site.assignment_added": N_("Site assignment added"), "site.assignment_removed": N_("Site assignment removed"),
    "skill.created": N_("Skill created"), "sla.policy_set": N_("SLA policy set"), "team.created": N_("Team created"),
    "tier.period_assessed": N_("Tiers assessed"), "tier.threshold_set": N_("Tier threshold set"),
    "tunable.changed": N_("Hub setting changed"), "tunable.reset": N_("Hub setting reset"),
})
class _Things(_Words):
    def __missing__(self, key: str) -> str:
        return N_("Other record")


# What an audit entry concerns (its object type); a type nobody worded yet is "Other record".
audit_object = _Things()
audit_object.update(
    customer=N_("Customer"), callback_grant=N_("Callback authorisation"),
    callback_grant_request=N_("Authorisation request"), ticket=N_("Ticket"), user=N_("Account"),
    call=N_("Call"), recording=N_("Recording"), callback_attempt=N_("Callback"), api_token=N_("API token"),
    site=N_("Site"), team=N_("Team"), skill=N_("Skill"), leave=N_("Leave"), shift=N_("Shift"),
    roster=N_("Roster"), qa_evaluation=N_("Evaluation"), qa_report=N_("QA report"),
)

# Tags the hub itself puts on tickets (tickets.escalation); staff's own tags are shown as typed.
system_tag = {"abusive_caller": N_("Abusive caller")}


def system_tag_code(typed: str) -> str | None:
    """The hub's tag that `typed` names, by its code or its words in any of the pages' languages
    (in any case): a filter for "Abusive caller" or "恶意来电者" finds `abusive_caller`, and typing
    the words as a new tag adds that tag, not a look-alike of it."""
    key = tag_key(typed)
    for code, words in system_tag.items():
        if key == tag_key(code) or any(key == tag_key(i18n.translations(locale).gettext(words))
                                       for locale in i18n.LANGUAGE_NAMES):
            return code
    return None


ALL = {"presence": presence, "category": category, "priority": priority, "status": status, "tier": tier,
       "sla": sla, "grant": grant, "grant_request": grant_request, "queue": queue, "level": level,
       "access": access, "roster_failure": roster_failure,
       "consent": consent, "callback": callback, "job_type": job_type, "job_kind": job_kind,
       "job_status": job_status, "job_failure": job_failure, "audit_action": audit_action,
       "audit_object": audit_object, "system_tag": system_tag}
