"""A Hypothesis stateful test of the call and leg state machines (telephony.call_states and
telephony.legs): random sequences of status callbacks (duplicated, reordered, for callers and
for agents' legs), delivered through the service as the webhook does, with the invariants
checked after each step."""

from __future__ import annotations

import uuid

from hypothesis import HealthCheck, settings as hypothesis_settings, strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlalchemy import func, select

from core.db import session_scope, write_locked
from telephony import bridge, call_states
from telephony.models import Call
from tests.telephony.hub import Hub

STATUSES = st.sampled_from(sorted(call_states.RANK))


def _machine(agent_ids: list[int]) -> type[RuleBasedStateMachine]:
    class CallsAndLegs(RuleBasedStateMachine):
        calls = Bundle("calls")

        def __init__(self) -> None:
            super().__init__()
            self.delivered: dict[str, list[str]] = {}
            self.first_terminal: dict[str, str] = {}

        def _new(self, **values: object) -> str:
            sid = "CA" + uuid.uuid4().hex
            with session_scope() as session:
                session.add(Call(call_sid=sid, status="queued", **values))
            self.delivered[sid] = []
            return sid

        @rule(target=calls)
        def a_caller(self) -> str:
            return self._new(leg="caller")

        @rule(target=calls, agent=st.sampled_from(agent_ids))
        def an_agent_leg(self, agent: int) -> str:
            return self._new(leg="agent", agent_id=agent, direction="outbound-api")

        @rule(sid=calls, status=STATUSES, duration=st.integers(min_value=0, max_value=600))
        def callback(self, sid: str, status: str, duration: int) -> None:
            with session_scope() as session:
                write_locked(session)
                bridge.on_status(session, params={"CallSid": sid, "CallStatus": status,
                                                  "CallDuration": str(duration)})
            self.delivered[sid].append(status)
            if status in call_states.TERMINAL and sid not in self.first_terminal:
                current = self._row(sid).status
                if current in call_states.TERMINAL:
                    self.first_terminal[sid] = current

        def _row(self, sid: str) -> Call:
            with session_scope() as session:
                call = session.scalar(select(Call).where(Call.call_sid == sid))
                assert call is not None
                session.expunge(call)
                return call

        @invariant()
        def states_follow_twilios_order(self) -> None:
            for sid, statuses in self.delivered.items():
                call = self._row(sid)
                if sid in self.first_terminal:
                    # A terminal status is never left, whatever arrives after it.
                    assert call.status == self.first_terminal[sid]
                if call.status in call_states.TERMINAL:
                    assert call.ended_at is not None
                else:
                    assert call.ended_at is None and call.duration_seconds is None
                    # The highest status delivered, unless the agent guard refused an answer.
                    highest = max((call_states.RANK[s] for s in statuses), default=0)
                    assert call_states.RANK[call.status] <= highest
                    if call.leg == "caller":
                        assert call_states.RANK[call.status] == highest
                if call.status == "in-progress":
                    assert call.answered_at is not None

        @invariant()
        def an_agent_is_on_one_live_call_at_most(self) -> None:
            with session_scope() as session:
                per_agent = session.execute(
                    select(Call.agent_id, func.count()).where(Call.leg == "agent", Call.status == "in-progress")
                    .group_by(Call.agent_id)).all()
            assert all(count <= 1 for _, count in per_agent), per_agent

    return CallsAndLegs


def test_random_callback_sequences_keep_the_invariants(session, hub: Hub) -> None:
    machine = _machine([hub.agent.id, hub.other_agent.id])
    run_state_machine_as_test(machine, settings=hypothesis_settings(
        max_examples=10, stateful_step_count=20, deadline=None, database=None,
        suppress_health_check=list(HealthCheck)))
