"""Evaluations: draft, save, notes, submit, the player's facts and the audio; the agent's
acknowledgement and dispute; arbitration; the timeline."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from core.auth import AgentUser, ClientIP, CurrentUser, DbSession, QAUser, SupervisorUser
from core.storage.serving import stored_response
from qa import disputes, evaluations, sources
from qa.schemas import ArbitrateIn, DisputeIn, DraftIn, NoteIn, SaveIn

router = APIRouter()


@router.post("/evaluations", status_code=201)
def create_draft(body: DraftIn, session: DbSession, user: QAUser) -> dict[str, Any]:
    evaluation = evaluations.create_draft(session, recording_id=body.recording_id, by=user,
                                          assignment_id=body.assignment_id, scorecard_id=body.scorecard_id)
    return evaluations.describe(evaluation)


@router.get("/evaluations")
def list_evaluations(session: DbSession, user: CurrentUser, agent_id: int | None = None) -> dict[str, Any]:
    found = evaluations.list_for_agent(session, agent_id=agent_id or user.id, user=user)
    return {"data": [evaluations.describe(e) for e in found], "count": len(found)}


@router.get("/evaluations/{evaluation_id}")
def get_evaluation(evaluation_id: int, session: DbSession, user: CurrentUser) -> dict[str, Any]:
    return evaluations.describe(evaluations.get(session, evaluation_id=evaluation_id, user=user))


@router.get("/evaluations/{evaluation_id}/player")
def player(evaluation_id: int, session: DbSession, user: CurrentUser) -> dict[str, Any]:
    return evaluations.player(session, evaluation_id=evaluation_id, user=user)


@router.put("/evaluations/{evaluation_id}")
def save(evaluation_id: int, body: SaveIn, session: DbSession, user: QAUser) -> dict[str, Any]:
    evaluation = evaluations.save(session, evaluation_id=evaluation_id, by=user, answers=body.answers,
                                  version=body.version)
    return evaluations.describe(evaluation)


@router.post("/evaluations/{evaluation_id}/notes", status_code=201)
def add_note(evaluation_id: int, body: NoteIn, session: DbSession, user: QAUser) -> dict[str, Any]:
    note = evaluations.add_note(session, evaluation_id=evaluation_id, by=user, at_seconds=body.at_seconds,
                                body=body.body, question_id=body.question_id)
    return evaluations.describe_note(note)


@router.get("/evaluations/{evaluation_id}/notes")
def list_notes(evaluation_id: int, session: DbSession, user: CurrentUser) -> dict[str, Any]:
    found = evaluations.notes(session, evaluation_id=evaluation_id, user=user)
    return {"data": [evaluations.describe_note(n) for n in found], "count": len(found)}


@router.post("/evaluations/{evaluation_id}/submit")
def submit(evaluation_id: int, session: DbSession, user: QAUser) -> dict[str, Any]:
    return evaluations.describe(evaluations.submit(session, evaluation_id=evaluation_id, by=user))


@router.post("/evaluations/{evaluation_id}/acknowledge")
def acknowledge(evaluation_id: int, session: DbSession, user: AgentUser) -> dict[str, Any]:
    return evaluations.describe(disputes.acknowledge(session, evaluation_id=evaluation_id, by=user))


@router.post("/evaluations/{evaluation_id}/dispute", status_code=201)
def dispute(evaluation_id: int, body: DisputeIn, session: DbSession, user: AgentUser) -> dict[str, Any]:
    item = disputes.dispute(session, evaluation_id=evaluation_id, by=user, question_ids=body.question_ids,
                            reason=body.reason)
    return disputes.describe(item)


@router.get("/evaluations/{evaluation_id}/timeline")
def timeline(evaluation_id: int, session: DbSession, user: CurrentUser) -> dict[str, Any]:
    found = evaluations.timeline(session, evaluation_id=evaluation_id, user=user)
    return {"data": [evaluations.describe_event(e) for e in found], "count": len(found)}


@router.get("/disputes")
def open_disputes(session: DbSession, user: QAUser) -> dict[str, Any]:
    found = disputes.open_disputes(session, user=user)
    return {"data": [disputes.describe(d) for d in found], "count": len(found)}


@router.post("/disputes/{dispute_id}/arbitrator")
def assign_arbitrator(dispute_id: int, arbitrator_id: int, session: DbSession, user: SupervisorUser) -> dict[str, Any]:
    return disputes.describe(disputes.assign_arbitrator(session, dispute_id=dispute_id, arbitrator_id=arbitrator_id,
                                                        by=user))


@router.post("/disputes/{dispute_id}/arbitrate")
def arbitrate(dispute_id: int, body: ArbitrateIn, session: DbSession, user: QAUser) -> dict[str, Any]:
    evaluation = disputes.arbitrate(session, dispute_id=dispute_id, by=user, decision=body.decision,
                                    reason=body.reason, answers=body.answers)
    return evaluations.describe(evaluation)


@router.get("/recordings/{recording_id}/audio")
def audio(recording_id: int, request: Request, session: DbSession, user: CurrentUser, ip: ClientIP) -> Response:
    """The player's audio, served by telephony after the one check on who may hear it, audited."""
    byte_range = request.headers.get("range", "")
    # A player fetches many ranges per listen; the first request of a listen is the one audited.
    starts_listen = not byte_range or byte_range.replace(" ", "").startswith("bytes=0-")
    recording = sources.listen(session, recording_id=recording_id, user=user, source_ip=ip,
                               audit_listen=starts_listen)
    return stored_response(recording.media_key or "", range_header=byte_range or None, media_type="audio/wav",
                           filename=f"recording-{recording.id}.wav", etag=recording.sha256,
                           if_range=request.headers.get("if-range"), headers={"Cache-Control": "private, no-store"})
