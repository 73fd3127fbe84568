"""Tables for people and where they work: sites, teams, skills, users and their roles, and the
credentials they sign in with (server-side sessions and personal API tokens)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core import clock
from core.db import Base, TimestampMixin


class Role(enum.StrEnum):
    """What a person may do. Stored as a plain string so adding a role needs no enum migration."""

    agent = "agent"
    team_leader = "team_leader"
    qa_inspector = "qa_inspector"
    supervisor = "supervisor"
    center_head = "center_head"
    admin = "admin"


LOCALES = ("en", "zh_Hans")


def _default_timezone() -> str:
    from core.config import get_settings

    return get_settings().timezone


class Site(TimestampMixin, Base):
    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    code: Mapped[str] = mapped_column(String(40), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default=_default_timezone)
    address: Mapped[str | None] = mapped_column(String(500))


class Team(TimestampMixin, Base):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)

    site: Mapped[Site] = relationship()


class Skill(TimestampMixin, Base):
    __tablename__ = "skills"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))


class User(TimestampMixin, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(32), default=Role.agent.value)
    job_type: Mapped[str] = mapped_column(String(40), default="hotline_agent")
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    # None means "follow the browser's Accept-Language".
    locale: Mapped[str | None] = mapped_column(String(16))
    is_active: Mapped[bool] = mapped_column(default=True)
    failed_sign_ins: Mapped[int] = mapped_column(Integer, default=0)
    first_failed_at: Mapped[datetime | None]
    locked_until: Mapped[datetime | None]
    last_sign_in_at: Mapped[datetime | None]

    site: Mapped[Site | None] = relationship(lazy="joined")
    team: Mapped[Team | None] = relationship(lazy="joined")
    skills: Mapped[list[UserSkill]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def role_enum(self) -> Role:
        return Role(self.role)

    def is_locked(self, at: datetime | None = None) -> bool:
        moment = at or clock.now()
        return self.locked_until is not None and moment < self.locked_until

    def __repr__(self) -> str:  # no personal data beyond the username in logs and tracebacks
        return f"<User {self.id} {self.username} {self.role}>"


class UserSkill(Base):
    __tablename__ = "user_skills"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    skill_id: Mapped[int] = mapped_column(ForeignKey("skills.id", ondelete="CASCADE"), index=True)
    level: Mapped[int] = mapped_column(Integer, default=1)

    user: Mapped[User] = relationship(back_populates="skills")
    skill: Mapped[Skill] = relationship(lazy="joined")

    __table_args__ = (
        UniqueConstraint("user_id", "skill_id"),
        CheckConstraint("level BETWEEN 1 AND 5", name="level_range"),
    )


class SignInSession(Base):
    """A browser's sign-in. The primary key is the sha256 of the cookie's token, so a leaked
    table cannot be replayed as cookies."""

    __tablename__ = "signin_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=lambda: clock.now())
    expires_at: Mapped[datetime] = mapped_column(index=True)
    last_seen_at: Mapped[datetime] = mapped_column(default=lambda: clock.now())
    csrf_token: Mapped[str] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(200))

    user: Mapped[User] = relationship(lazy="joined")


class ApiToken(Base):
    """A personal token for scripts (`Authorization: Bearer hl_...`); only its hash is kept."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=lambda: clock.now())
    last_used_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(lazy="joined")

    def is_live(self, at: datetime | None = None) -> bool:
        moment = at or clock.now()
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or moment < self.expires_at


class StaffAssignment(Base):
    """A named assignment of a person to a site that an administrator makes: the site's managers
    (who see the site's customers in full), and the sites or teams a QA inspector covers (whose
    recordings they hear). Not a role: two supervisors of one site may differ."""

    __tablename__ = "staff_assignments"
    __table_args__ = (
        CheckConstraint("kind IN ('site_manager', 'qa_coverage')", name="kind_known"),
        Index("ix_staff_assignments_user_kind", "user_id", "kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    # QA coverage of one team of the site; None: the whole site.
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    assigned_at: Mapped[datetime] = mapped_column(default=lambda: clock.now())
    assigned_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class SignInThrottle(Base):
    """Failed sign-ins counted per client address and per username at an address, each with its
    own growing delay. A username-and-address row that once signed in marks a known address:
    an account lock (from guesses elsewhere) does not stop its owner there."""

    __tablename__ = "signin_throttles"
    __table_args__ = (
        CheckConstraint("scope IN ('address', 'user_address')", name="scope_known"),
        Index("ix_signin_throttles_blocked_until", "blocked_until"),
    )

    # sha256 of the scope, the address and (for user_address) the username.
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    scope: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(64))
    username: Mapped[str | None] = mapped_column(String(80))
    failures: Mapped[int] = mapped_column(Integer, default=0)
    first_failed_at: Mapped[datetime | None]
    last_failed_at: Mapped[datetime | None]
    blocked_until: Mapped[datetime | None]
    succeeded_at: Mapped[datetime | None]
