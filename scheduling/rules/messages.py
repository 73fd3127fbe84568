"""The English text of every rule, keyed by its stable code. Pages translate by the same key
(msgid = the code) with the same named values; keep the names when editing a text."""

MESSAGES: dict[str, str] = {
    # Shifts and rosters
    "shift.overlap": "The shift overlaps another shift of the same person ({other_start} to {other_end}).",
    "shift.back_to_back": "The shift runs back to back with another of the same person: only {gap_minutes} "
                          "minutes between them.",
    "shift.min_rest": "Only {gap_minutes} minutes of rest between two shifts; at least {min_minutes} are required.",
    "shift.max_weekly_hours": "This makes {hours} hours in the week of {week}; at most {max_hours} are allowed.",
    "shift.skill": "The person lacks the skill this shift needs ({skill}).",
    "shift.job_type": "The shift is for job type {shift_job_type}; the person's job type is {person_job_type}.",
    "shift.on_leave": "The person has approved leave during this shift.",
    "shift.in_past": "The shift has already started; past shifts cannot be changed.",
    # Leave
    "leave.in_past": "Leave cannot start in the past.",
    "leave.bad_range": "Leave must end after it starts.",
    "leave.unknown_kind": "Unknown kind of leave {kind!r}; use personal, sick, special, business or "
                          "study.",
    "leave.only_self": "Only the person themself can request personal, special, business or study leave.",
    "leave.not_own_shift": "The shift named in the request belongs to someone else.",
    "leave.overlap": "Leave from {other_start} to {other_end} is already requested for this time.",
    "leave.night_deadline": "Leave for a night shift must be requested before {deadline} (local time) on the "
                            "day of the shift.",
    "leave.holiday_not_special": "Leave on a public holiday ({day}) is only for special cases; mark the request "
                                 "as a special case and give the reason.",
    "leave.holiday_notice": "Leave on a public holiday ({day}) must be requested at least {days} days ahead.",
    "leave.swapped_shift": "The shift on {day} was swapped or is a payback; it cannot be taken as leave.",
    "leave.late_notice": "Requested later than the notice period ({notice}); it needs a manager's approval, or "
                         "the time counts as absence.",
    "leave.certificate_due": "Sick leave of a full day: hand in a medical certificate on your first day back "
                             "({day}).",
    # Who decides a step of a leave request, and why a request was refused
    "leave.approver_self": "Nobody approves their own leave.",
    "leave.approver_admin": "An administrator runs the hub but does not approve leave; a supervisor or the center "
                            "head does.",
    "leave.needs_supervisor": "This step is for a supervisor or the center head.",
    "leave.needs_center_head": "This step is for the center head.",
    "leave.approver_repeated": "You decided an earlier step of this request; level by level, the next step is "
                               "someone else's.",
    "leave.approver_needed_later": "A later step of this request is yours; level by level, this step is the "
                                   "supervisor's.",
    "leave.refused.staffing": "Not enough people would be left on duty.",
    "leave.refused.notice": "Asked too late to arrange cover.",
    "leave.refused.documents": "The reason or papers given are not enough for this kind of leave.",
    "leave.refused.other": "Another reason, given in the note.",
    # Why leave counts as absence
    "leave.refused_late": "Asked later than the notice period and refused: the time counts as absence.",
    "leave.certificate_overdue": "The medical certificate was due on {day} and has not been handed in: the sick "
                                 "leave counts as absence until it is.",
    # Swaps
    "swap.self": "A swap needs another person; you cannot swap with yourself.",
    "swap.not_own_shift": "The shift to be swapped belongs to someone else.",
    "swap.in_past": "The shift has already started; it cannot be swapped.",
    "swap.max_per_month": "{person} already has {count} swaps in {month}; at most {limit} per month.",
    "swap.unpaid": "{person} has a swap (on {day}) not yet paid back; pay it back before swapping again.",
    "swap.back_to_back": "{person} would work two shifts back to back (only {gap_minutes} minutes between them).",
    "swap.min_rest": "{person} would have only {gap_minutes} minutes of rest between shifts; at least "
                     "{min_minutes} are required.",
    "swap.overlap": "{person} already works a shift at that time.",
    "swap.job_type": "The two people have different job types ({requester_job_type} and {partner_job_type}).",
    "swap.skill_level": "Skill levels are not comparable on {skill}: {requester_level} and {partner_level} "
                        "(at most {tolerance} apart).",
    "swap.on_leave": "{person} has leave during the shift on {day}; a shift taken as leave cannot be swapped.",
    "swap.public_holiday": "{day} is a public holiday: nobody on duty that day may swap.",
    "swap.payback_mismatch": "A payback must be between the same two people as the swap it settles, the other "
                             "way round.",
    "swap.already_paid": "That swap is already paid back.",
    "swap.no_team_leader": "{person} has no team leader to approve their side of the swap; ask an administrator "
                           "to place them in a team that has one.",
    "swap.max_weekly_hours": "{person} would work {hours} hours in the week of {week}; at most {max_hours}.",
}

MESSAGES.update({
    # Handover: every part written, or "nothing to report" chosen
    "handover.missing.equipment_status": "Equipment status is empty: write it, or tick “nothing to report”.",
    "handover.missing.difficult_issues": "Difficult issues is empty: write it, or tick “nothing to report”.",
    "handover.missing.unresolved_issues": "Unresolved issues is empty: write it, or tick “nothing to report”.",
    "handover.missing.staffing_changes": "Staffing changes is empty and the hub found none: write it, or tick "
                                         "“nothing to report”.",
    "handover.missing.notices": "Notices is empty: write it, or tick “nothing to report”.",
    "handover.missing.superiors_instructions": "Superiors' instructions is empty: write it, or tick “nothing to "
                                               "report”.",
    "handover.missing.customer_feedback": "Customers' suggestions and complaints is empty: write it, or tick "
                                          "“nothing to report”.",
    # Roll call
    "rollcall.late": "Arrived {minutes} minutes after the shift began, without leave ({limit} minutes or more is "
                     "a violation).",
    "rollcall.absent": "Did not arrive for the shift, and has no leave for it.",
    "rollcall.swap_left_empty": "Nobody worked this swapped shift: both people of the swap count as absent until "
                                "the team leader excuses whoever was not responsible.",
    "rollcall.left_post": "Away from the post for {minutes} minutes from {start} ({limit} minutes or more is a "
                          "violation).",
})
